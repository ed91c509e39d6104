"""Group commit: operations gather while the previous batch is written, one fsync covers them all.

The broker appends operations synchronously and never waits; a trio task hands each gathered
batch to a worker thread. Work that must not be reported before it is on disk (publisher
confirms, Tx.Commit-Ok) asks for a callback on the batch's ticket.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Callable

import structlog
import trio

from amqpd.store.sqlite import Op, SqliteEngine

log = structlog.get_logger("amqpd.store")

Durable = Callable[[bool], None]


class Store:
    """The store interface the broker uses; SqliteEngine does the disk work."""

    def __init__(self, engine: SqliteEngine) -> None:
        self.engine = engine
        self.ticket = 1  # the batch now gathering operations
        self.durable = 0  # the last batch known to be on disk
        self.failing = False
        self.on_failing: Callable[[bool], None] = lambda failing: None
        self.next_queue_id = 1
        self._ops: list[Op] = []
        self._callbacks: dict[int, list[Durable]] = defaultdict(list)
        self._wake = trio.Event()

    def append(self, op: Op) -> int:
        """Queue an operation for the next batch; returns that batch's ticket."""
        self._ops.append(op)
        self._wake.set()
        return self.ticket

    def when_durable(self, ticket: int, callback: Durable) -> None:
        """Call back with True once the batch is on disk, False if writing it failed."""
        self._callbacks[ticket].append(callback)

    def allocate_queue_id(self) -> int:
        queue_id = self.next_queue_id
        self.next_queue_id += 1
        return queue_id

    @property
    def pending(self) -> bool:
        return bool(self._ops)

    async def run(self) -> None:
        """Write gathered batches until cancelled."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._ops:
                await self._commit(trio.to_thread.run_sync)

    async def _commit(self, runner: Callable) -> None:  # type: ignore[type-arg]
        ops, ticket = self._ops, self.ticket
        self._ops = []
        self.ticket += 1
        try:
            await runner(self.engine.write, ops)
        except sqlite3.Error as exc:
            self._finish(ticket, False, exc)
        else:
            self._finish(ticket, True, None)

    def _finish(self, ticket: int, ok: bool, exc: Exception | None) -> None:
        if ok:
            self.durable = ticket
            if self.failing:
                log.info("store writes succeed again")
        elif not self.failing:
            log.error("store write failed; publishers are nacked and blocked until writes succeed", error=str(exc))
        if self.failing == ok:
            self.failing = not ok
            self.on_failing(self.failing)
        for callback in self._callbacks.pop(ticket, ()):
            callback(ok)

    def flush(self) -> None:
        """Write what is pending on this thread (graceful shutdown, tests)."""
        while self._ops:
            ops, ticket = self._ops, self.ticket
            self._ops = []
            self.ticket += 1
            try:
                self.engine.write(ops)
            except sqlite3.Error as exc:
                self._finish(ticket, False, exc)
            else:
                self._finish(ticket, True, None)

    def close(self) -> None:
        self.flush()
        self.engine.close()
