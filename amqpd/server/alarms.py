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
        self.watermark_setting: dict[str, float | int] = {"absolute": node.settings.memory_limit}  # as last set
        self.held: set[str] = set()  # raised by hand (amqpctl eval rabbit_alarm:set_alarm): on until cleared by hand
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
        """One resource's state as its monitor sees it; an alarm raised by hand stays on."""
        self._apply(resource, on or resource in self.held)

    def hold(self, resource: str, on: bool) -> None:
        """Raise an alarm by hand, held whatever the monitor sees until cleared by hand (RabbitMQ's
        rabbit_alarm:set_alarm / clear_alarm); once cleared, the monitor's view applies again."""
        if on:
            self.held.add(resource)
            self._apply(resource, True)
            return
        self.held.discard(resource)
        store = self.node.store
        if resource == "memory":
            self._apply(resource, self.node.memory.total > self.node.settings.memory_limit)
        else:
            self._apply(resource, store is not None and store.failing)

    def _apply(self, resource: str, on: bool) -> None:
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
        over = used > self.node.settings.memory_limit or "memory" in self.held
        if over != ("memory" in self.raised):
            self._apply("memory", over)

    def check(self) -> None:
        """Re-evaluate the memory alarm for what the node accounts for (runs after every read)."""
        self.update(self.node.memory.total)

    def set_limit(self, limit: int) -> None:
        """Change the memory limit and re-evaluate at once (like rabbitmqctl set_vm_memory_high_watermark)."""
        self.node.settings.memory_limit = limit
        self.check()

    def set_fraction(self, fraction: float) -> int:
        """The limit as a fraction of the machine's memory (RabbitMQ's vm_memory_high_watermark); the
        limit in bytes."""
        limit = int(fraction * total_memory())
        self.watermark_setting = {"relative": fraction}
        self.set_limit(limit)
        return limit

    def set_absolute(self, limit: int) -> None:
        self.watermark_setting = {"absolute": limit}
        self.set_limit(limit)

    async def run(self) -> None:
        while True:
            self.check()
            await trio.sleep(self.interval)


def total_memory() -> int:
    """The machine's physical memory in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
