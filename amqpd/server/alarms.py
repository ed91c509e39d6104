"""The memory alarm: above the limit, publishers are blocked (Connection.Blocked), as in RabbitMQ."""

from __future__ import annotations

import os

import structlog
import trio

from amqpd.broker.node import Node

log = structlog.get_logger("amqpd.alarms")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


class MemoryAlarm:
    """Polls resident memory against settings.memory_limit (0 blocks all publishing, as in RabbitMQ).

    Setting the alarm notifies nobody: as in RabbitMQ's rabbit_reader (publish_received ->
    maybe_block), a connection is blocked, and sent Connection.Blocked, only when it publishes
    while the alarm is on; connections that only consume carry on. Clearing it sends
    Connection.Unblocked to exactly the connections that were blocked and wakes their readers.
    """

    def __init__(self, node: Node, interval: float = 1.0) -> None:
        self.node = node
        self.interval = interval
        self.active = False
        self._cleared = trio.Event()

    async def cleared(self) -> None:
        await self._cleared.wait()

    def update(self, used: int) -> None:
        """Re-evaluate the alarm for `used` bytes of memory."""
        limit = self.node.settings.memory_limit
        over = used > limit
        if over == self.active:
            return
        self.active = over
        if over:
            self._cleared = trio.Event()
            log.warning("memory resource limit alarm set", used=used, limit=limit)
            return
        log.info("memory resource limit alarm cleared", used=used, limit=limit)
        self._cleared.set()
        for conn in list(self.node.connections):
            conn.set_blocked(False)

    def set_limit(self, limit: int) -> None:
        """Change the limit and re-evaluate at once (like rabbitmqctl set_vm_memory_high_watermark)."""
        self.node.settings.memory_limit = limit
        self.update(resident_bytes())

    async def run(self) -> None:
        while True:
            self.update(resident_bytes())
            await trio.sleep(self.interval)
