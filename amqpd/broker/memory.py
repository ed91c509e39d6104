"""The memory the broker accounts for, which the memory alarm compares with --memory-limit.

Resident memory is a poor measure: after a burst the allocator keeps the freed memory, so an
alarm based on it would stay on over an empty broker. The ledger counts what the broker holds on
its clients' behalf, as RabbitMQ's memory breakdown does (binaries held by queues, connection
readers and writers): it falls when those bytes are gone, and the alarm clears with it.
"""

from __future__ import annotations


class MemoryLedger:
    """Byte counts kept by plain integer increments where the bytes come and go.

    ``queued``: message bodies held in queues, ready or delivered and awaiting their ack (not
    those paged out to disk). A message routed to several queues counts once per queue.
    ``buffered``: connections' unsent output, read buffers and partially assembled content bodies.
    ``baseline``: the broker's own memory at start-up, so that the limit reads like RabbitMQ's.
    """

    __slots__ = ("baseline", "queued", "buffered")

    def __init__(self, baseline: int = 0) -> None:
        self.baseline = baseline
        self.queued = 0
        self.buffered = 0

    @property
    def total(self) -> int:
        return self.baseline + self.queued + self.buffered
