"""The store the broker talks to: named operations, gathered and group-committed off the loop.

Operations gather while the previous batch is being written; one fsync covers them all. The
broker never waits: each call returns the ticket of the batch that will hold it, and work that
must not be reported before it is on disk (publisher confirms, Tx.Commit-Ok) asks for a
callback on that ticket. Every call takes plain values (names, flags, argument tables, ids,
bytes), never broker objects: the store sits below the broker. The engine (store/sqlite.py)
only sees plain operation tuples, so a second engine can be put behind the same calls.
Data that keeps files of its own (a stream's log) rides the same batches as a ``Journal``, a
protocol defined here: sealed when its batch is taken, written and fsynced on the worker thread
before the batch's transaction, so its confirms take the same route as a stored message's.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import structlog
import trio

from amqpd.protocol import tables
from amqpd.store.records import Op, Recovered, RecoveredAccess, StoredContent
from amqpd.store.sqlite import SqliteEngine

log = structlog.get_logger("amqpd.store")

OnDurable = Callable[[bool], None]  # called with True once a batch is on disk, False if it failed
RETRY_INTERVAL = 1.0  # seconds between attempts while writes fail


class Journal(Protocol):
    """Data kept in files of its own (a stream's log) that rides the store's batches: sealed on
    the loop when a batch is taken, its write run on the worker thread before the batch's
    commit (one fsync each per batch), told on the loop how the batch ended."""

    def seal(self) -> Callable[[], None]: ...

    def written(self, ok: bool) -> None: ...


def encode_table(table: dict[str, Any]) -> bytes:
    """Arguments as an AMQP field table that decodes back to exactly the values it was given.

    The type classes RabbitMQ compares survive (1 and 1.0 stay different); floats are written
    as doubles, and a long string that is not UTF-8 (decoded to bytes) is written back as the
    long string it was. Keys are sorted, so equal tables, such as the arguments of a binding
    declared and later removed with its keys in another order, store as the same bytes.
    """
    return tables.encode_table(table, store_form=True)


def decode_table(raw: bytes) -> dict[str, Any]:
    return tables.decode_table(raw)[0] if raw else {}


@dataclass(frozen=True)
class _Batch:
    """The operations of one batch, being written, and the keys of the messages it puts."""

    ticket: int
    ops: list[Op]
    puts: list[tuple[int, int]]
    journals: list[tuple[Journal, Callable[[], None]]]

    def write(self, engine: SqliteEngine) -> None:
        """The worker thread's part: the journals' files, then the engine's transaction."""
        for _, write in self.journals:
            write()
        if self.ops:
            engine.write(self.ops)


class Store:
    """Durable topology and persistent messages, written in batches by a worker thread."""

    @classmethod
    def open(cls, data_dir: str) -> "Store":
        """The embedded default store in a data directory (raises StoreError)."""
        return cls(SqliteEngine(data_dir))

    def __init__(self, engine: SqliteEngine) -> None:
        self.engine = engine
        self.ticket = 1  # the batch now gathering operations
        self.failing = False
        self.on_failing: Callable[[bool], None] = lambda failing: None
        self.next_queue_id = 1
        self._ops: list[Op] = []
        self._callbacks: dict[int, list[OnDurable]] = defaultdict(list)
        self._unwritten: dict[tuple[int, int], Op] = {}  # (queue id, message id) -> its "put" until on disk
        self._puts: list[tuple[int, int]] = []  # the keys of the messages put in the gathering batch
        self._journals: dict[Journal, None] = {}  # journals with data for the gathering batch, in order
        self._wake = trio.Event()
        self._writing = False  # a batch is on the worker thread

    @property
    def data_dir(self) -> Path:
        """The data directory (stream logs keep their files under it)."""
        return self.engine.path.parent

    # -- operations ------------------------------------------------------------------------------

    def _append(self, op: Op) -> int:
        self._ops.append(op)
        self._wake.set()
        return self.ticket

    def save_exchange(self, vhost: str, name: str, kind: str, auto_delete: bool, internal: bool,
                      arguments: dict[str, Any]) -> None:
        self._append(("exchange", vhost, name, kind, auto_delete, internal, encode_table(arguments)))

    def delete_exchange(self, vhost: str, name: str) -> None:
        self._append(("exchange-delete", vhost, name))
        self._append(("exchange-bindings-delete", vhost, name, name))

    def save_queue(self, vhost: str, name: str, auto_delete: bool, arguments: dict[str, Any]) -> int:
        """Record a durable queue; returns the id its messages are stored under."""
        queue_id = self.next_queue_id
        self.next_queue_id += 1
        self._append(("queue", queue_id, vhost, name, auto_delete, encode_table(arguments)))
        return queue_id

    def delete_queue(self, queue_id: int, vhost: str, name: str) -> None:
        self._append(("queue-messages-delete", queue_id))
        self._append(("queue-bindings-delete", vhost, name))
        self._append(("queue-delete", queue_id))

    def save_binding(self, vhost: str, source: str, to_queue: bool, destination: str, routing_key: str,
                     arguments: dict[str, Any]) -> None:
        self._append(("binding", vhost, source, to_queue, destination, routing_key, encode_table(arguments)))

    def delete_binding(self, vhost: str, source: str, to_queue: bool, destination: str, routing_key: str,
                       arguments: dict[str, Any]) -> None:
        self._append(("binding-delete", vhost, source, to_queue, destination, routing_key, encode_table(arguments)))

    def put_message(self, queue_id: int, message_id: int, exchange: str, routing_key: str, raw_properties: bytes,
                    body: bytes) -> int:
        """Store a persistent message in a queue; returns the ticket of the batch that holds it.
        (_append inlined: this runs once per persistent message.)"""
        op = ("put", queue_id, message_id, exchange, routing_key, raw_properties, body)
        self._ops.append(op)
        self._wake.set()
        key = (queue_id, message_id)
        self._unwritten[key] = op
        self._puts.append(key)
        return self.ticket

    def journal(self, journal: Journal) -> int:
        """A journal has data for the gathering batch; returns its ticket."""
        self._journals[journal] = None
        self._wake.set()
        return self.ticket

    def mark_delivered(self, queue_id: int, message_id: int) -> None:
        self._append(("delivered", queue_id, message_id))

    def remove_message(self, queue_id: int, message_id: int) -> None:
        self._unwritten.pop((queue_id, message_id), None)
        self._append(("remove", queue_id, message_id))

    # -- users, vhosts, permissions and settings (the management API's; plain values only) ------

    def save_user(self, name: str, password_hash: str, hashing_algorithm: str, tags: list[str]) -> None:
        self._append(("user", name, password_hash, hashing_algorithm, json.dumps(tags)))

    def delete_user(self, name: str) -> None:
        self._append(("user-delete", name))
        self._append(("user-permissions-delete", name))
        self._append(("user-topic-permissions-delete", name))

    def save_vhost(self, name: str, metadata: dict[str, Any]) -> None:
        self._append(("vhost", name, json.dumps(metadata)))

    def delete_vhost(self, name: str) -> None:
        """Forget a vhost and everything durable in it: queues, messages, exchanges, bindings, permissions."""
        for kind in ("vhost-messages-delete", "vhost-queues-delete", "vhost-exchanges-delete",
                     "vhost-bindings-delete", "vhost-permissions-delete", "vhost-topic-permissions-delete",
                     "vhost-delete"):
            self._append((kind, name))

    def save_permission(self, user: str, vhost: str, configure: str, write: str, read: str) -> None:
        self._append(("permission", user, vhost, configure, write, read))

    def delete_permission(self, user: str, vhost: str) -> None:
        self._append(("permission-delete", user, vhost))

    def save_topic_permission(self, user: str, vhost: str, exchange: str, write: str, read: str) -> None:
        self._append(("topic-permission", user, vhost, exchange, write, read))

    def delete_topic_permission(self, user: str, vhost: str, exchange: str | None) -> None:
        """Forget one exchange's entry, or (exchange None) all of the user's in the vhost."""
        if exchange is None:
            self._append(("topic-permissions-delete", user, vhost))
        else:
            self._append(("topic-permission-delete", user, vhost, exchange))

    def save_setting(self, key: str, value: str) -> None:
        self._append(("setting", key, value))

    def save_parameter(self, kind: str, scope: str, name: str, value: Any) -> None:
        """A policy, operator policy, limit or global parameter: kind names the set, scope its vhost
        (or user, for user limits; "" for global ones), value is anything JSON can hold."""
        self._append(("parameter", kind, scope, name, json.dumps(value)))

    def delete_parameter(self, kind: str, scope: str, name: str) -> None:
        self._append(("parameter-delete", kind, scope, name))

    def delete_parameters(self, kind: str, scope: str) -> None:
        """Every parameter of a kind in one scope (a deleted vhost's policies, a deleted user's limits)."""
        self._append(("scope-parameters-delete", kind, scope))

    def recover_access(self) -> RecoveredAccess:
        return self.engine.recover_access()

    # -- reading ---------------------------------------------------------------------------------

    def recover(self) -> Recovered:
        recovered = self.engine.recover()
        self.next_queue_id = recovered.next_queue_id
        return recovered

    def load(self, queue_id: int, ids: list[int]) -> dict[int, StoredContent]:
        """Stored messages by id, including those whose batch is not written yet."""
        found: dict[int, StoredContent] = {}
        missing = []
        for mid in ids:
            put = self._unwritten.get((queue_id, mid))
            if put is None:
                missing.append(mid)
            else:
                found[mid] = put[3:]
        if missing:
            found.update(self.engine.load(queue_id, missing))
        return found

    # -- durability --------------------------------------------------------------------------------

    def when_durable(self, ticket: int, callback: OnDurable) -> None:
        """Call back with True once the batch is on disk, False if writing it failed."""
        self._callbacks[ticket].append(callback)

    async def run(self) -> None:
        """Write gathered batches on a worker thread until cancelled.

        A batch that fails is nacked but not dropped: its operations stay pending, ahead of
        newer ones, and are tried again every RETRY_INTERVAL until a write succeeds. Dropping
        them would lose more than the nacked messages: the durable queues and bindings
        declared, the acks and the deletions of that batch would be forgotten at the next
        restart although their clients were answered. The retries are also what finds out
        that writes work again (the disk alarm stops publishers meanwhile).
        """
        while True:
            if self.failing:
                await trio.sleep(RETRY_INTERVAL)
            else:
                await self._wake.wait()
            self._wake = trio.Event()
            if self._ops or self._journals:
                batch = self._take()
                self._writing = True
                try:
                    await trio.to_thread.run_sync(batch.write, self.engine)
                except (sqlite3.Error, OSError) as exc:
                    self._finish(batch, exc)
                else:
                    self._finish(batch, None)

    def _take(self) -> _Batch:
        batch = _Batch(self.ticket, self._ops, self._puts, [(j, j.seal()) for j in self._journals])
        self._ops, self._puts, self._journals = [], [], {}
        self.ticket += 1
        return batch

    def _finish(self, batch: _Batch, error: Exception | None) -> None:
        """A batch ended. The operations of a failed one go back in front of the pending ones;
        its messages stay readable from memory until a later batch writes them."""
        ok = error is None
        self._writing = False
        if ok:
            for key in batch.puts:
                self._unwritten.pop(key, None)
            if self.failing:
                log.info("store writes succeed again")
        else:
            self._ops[:0] = batch.ops
            self._puts[:0] = batch.puts
            if not self.failing:
                log.error("store write failed; publishers are nacked and blocked until writes succeed",
                          error=str(error))
        if self.failing == ok:
            self.failing = not ok
            self.on_failing(self.failing)
        for journal, _ in batch.journals:
            journal.written(ok)
        for callback in self._callbacks.pop(batch.ticket, ()):
            callback(ok)

    async def drained(self) -> None:
        """Return once what was appended so far has been written, or its batch failed (stop_app)."""
        if self._ops or self._journals:
            ticket = self.ticket
        elif self._writing:
            ticket = self.ticket - 1
        else:
            return
        done = trio.Event()
        self.when_durable(ticket, lambda ok: done.set())
        await done.wait()

    def flush(self) -> None:
        """Write what is pending on this thread (graceful shutdown); one attempt, reported if it fails."""
        if not self._ops and not self._journals:
            return
        batch = self._take()
        try:
            batch.write(self.engine)
        except (sqlite3.Error, OSError) as exc:
            log.error("store write failed at shutdown; its operations are lost", error=str(exc),
                      operations=len(batch.ops))
            return
        self._finish(batch, None)

    def close(self) -> None:
        self.flush()
        self.engine.close()
