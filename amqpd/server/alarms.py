"""Resource alarms (memory over its limit, a store that cannot write): publishers are blocked, as in RabbitMQ."""

from __future__ import annotations

import os

import structlog
import trio

from amqpd.broker import Node

log = structlog.get_logger("amqpd.alarms")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


class ResourceAlarms:
    """The memory alarm (the node's MemoryLedger against settings.memory_limit; a limit of 0
    blocks all publishing, as in RabbitMQ) and the disk alarm (the store failing to write).

    The ledger's baseline is the resident memory at start-up; the rest is what the broker holds
    for its clients, so the alarm clears once that is gone (resident memory would not fall: the
    allocator keeps what was freed). Readers call ``check`` after each read, so a burst trips
    the alarm at once; a poll each second notices memory given back outside reads (output
    sent, messages expired).

    Setting an alarm notifies nobody: as in RabbitMQ's rabbit_reader (publish_received ->
    maybe_block), a connection is blocked, and sent Connection.Blocked, only when it publishes
    while an alarm is on; connections that only consume carry on. When the last alarm clears,
    Connection.Unblocked goes to exactly the connections that were blocked and their readers wake.
    """

    def __init__(self, node: Node, interval: float = 1.0) -> None:
        self.node = node
        self.interval = interval
        self.raised: set[str] = set()  # "memory", "disk"
        self._cleared = trio.Event()
        node.memory.baseline = resident_bytes()

    @property
    def active(self) -> bool:
        return bool(self.raised)

    @property
    def reason(self) -> str:
        """The Connection.Blocked reason RabbitMQ gives."""
        return "low on memory" if "memory" in self.raised else "low on disk"

    async def cleared(self) -> None:
        await self._cleared.wait()

    def set(self, resource: str, on: bool) -> None:
        """Raise or clear one resource's alarm."""
        if on == (resource in self.raised):
            return
        if on:
            if not self.raised:
                self._cleared = trio.Event()
            self.raised.add(resource)
            log.warning(f"{resource} resource limit alarm set")
            return
        self.raised.discard(resource)
        log.info(f"{resource} resource limit alarm cleared")
        if not self.raised:
            self._cleared.set()
            for conn in list(self.node.connections):
                conn.set_blocked(False)

    def update(self, used: int) -> None:
        """Re-evaluate the memory alarm for `used` bytes of memory (set is called on a change only)."""
        over = used > self.node.settings.memory_limit
        if over != ("memory" in self.raised):
            self.set("memory", over)

    def check(self) -> None:
        """Re-evaluate the memory alarm for what the node accounts for (runs after every read)."""
        self.update(self.node.memory.total)

    def set_limit(self, limit: int) -> None:
        """Change the memory limit and re-evaluate at once (like rabbitmqctl set_vm_memory_high_watermark)."""
        self.node.settings.memory_limit = limit
        self.check()

    async def run(self) -> None:
        while True:
            self.check()
            await trio.sleep(self.interval)
