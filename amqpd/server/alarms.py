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
    """Polls resident memory; while over the limit, publishing connections stop being read."""

    def __init__(self, node: Node, interval: float = 1.0) -> None:
        self.node = node
        self.interval = interval
        self.active = False
        self._cleared = trio.Event()

    async def cleared(self) -> None:
        await self._cleared.wait()

    def update(self, used: int) -> None:
        over = used > self.node.settings.memory_limit
        if over == self.active:
            return
        self.active = over
        if over:
            self._cleared = trio.Event()
            log.warning("memory alarm set", used=used, limit=self.node.settings.memory_limit)
        else:
            self._cleared.set()
            log.info("memory alarm cleared", used=used)
        for conn in list(self.node.connections):
            conn.set_blocked(over)

    async def run(self) -> None:
        while True:
            self.update(resident_bytes())
            await trio.sleep(self.interval)
