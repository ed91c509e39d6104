"""The embedded default engine: one SQLite database in WAL mode, written in batches.

SQLite gives what the broker must promise without a server to start: a committed batch
survives kill -9 and power loss (synchronous=FULL fsyncs the WAL on commit), a torn write at
the tail of the WAL is detected by its frame checksums and dropped on open, and every intact
committed record is kept. Everything here is synchronous: the group-commit loop in
store/writer.py runs `write` on a worker thread; `recover` and `load` run on the event loop
thread through their own connection (WAL lets readers proceed while a batch is written).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

FORMAT_VERSION = 1
DB_NAME = "amqpd.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exchanges (
    vhost TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, name));
CREATE TABLE IF NOT EXISTS queues (
    id INTEGER PRIMARY KEY, vhost TEXT NOT NULL, name TEXT NOT NULL,
    auto_delete INTEGER NOT NULL, arguments BLOB NOT NULL, UNIQUE (vhost, name));
CREATE TABLE IF NOT EXISTS bindings (
    vhost TEXT NOT NULL, source TEXT NOT NULL, to_queue INTEGER NOT NULL, destination TEXT NOT NULL,
    routing_key TEXT NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, source, to_queue, destination, routing_key, arguments));
CREATE TABLE IF NOT EXISTS messages (
    queue_id INTEGER NOT NULL, id INTEGER NOT NULL, exchange TEXT NOT NULL, routing_key TEXT NOT NULL,
    properties BLOB NOT NULL, body BLOB NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, id));
"""

# One statement per operation kind; an operation is (kind, *parameters).
STATEMENTS = {
    "exchange": "INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?, ?, ?)",
    "exchange-delete": "DELETE FROM exchanges WHERE vhost = ? AND name = ?",
    "queue": "INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?, ?)",
    "queue-delete": "DELETE FROM queues WHERE id = ?",
    "queue-messages-delete": "DELETE FROM messages WHERE queue_id = ?",
    "queue-bindings-delete": "DELETE FROM bindings WHERE vhost = ? AND to_queue = 1 AND destination = ?",
    "exchange-bindings-delete": ("DELETE FROM bindings WHERE vhost = ? AND (source = ? OR"
                                 " (to_queue = 0 AND destination = ?))"),
    "binding": "INSERT OR IGNORE INTO bindings VALUES (?, ?, ?, ?, ?, ?)",
    "binding-delete": ("DELETE FROM bindings WHERE vhost = ? AND source = ? AND to_queue = ? AND destination = ?"
                       " AND routing_key = ? AND arguments = ?"),
    "put": "INSERT OR REPLACE INTO messages (queue_id, id, exchange, routing_key, properties, body) VALUES (?, ?, ?, ?, ?, ?)",
    "delivered": "UPDATE messages SET delivered = 1 WHERE queue_id = ? AND id = ?",
    "remove": "DELETE FROM messages WHERE queue_id = ? AND id = ?",
    "probe": "INSERT OR REPLACE INTO meta VALUES ('probe', ?)",
}
Op = tuple[Any, ...]


class StoreError(Exception):
    """The store cannot be opened or used (the CLI reports it in one line)."""


@dataclass
class StoredQueue:
    id: int
    vhost: str
    name: str
    auto_delete: bool
    arguments: bytes
    messages: list[tuple[int, bool]] = field(default_factory=list)  # (message id, delivered)


@dataclass
class Recovered:
    """Everything durable, as found at start-up."""

    exchanges: list[tuple[str, str, str, bool, bool, bytes]]
    queues: list[StoredQueue]
    bindings: list[tuple[str, str, bool, str, str, bytes]]
    next_message_id: int
    next_queue_id: int
    problems: list[str]


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


class SqliteEngine:
    """Synchronous access to the database file in a data directory."""

    def __init__(self, data_dir: str | Path) -> None:
        directory = Path(data_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {directory}: {exc.strerror}") from None
        self.path = directory / DB_NAME
        self._lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise StoreError(f"data directory {directory} is in use by another amqpd") from None
        try:
            self.writer = _connect(self.path)
            self.writer.executescript(SCHEMA)
            self._check_format()
            self.reader = _connect(self.path)
        except sqlite3.DatabaseError as exc:
            os.close(self._lock)
            raise StoreError(f"cannot open {self.path}: {exc}") from None

    def _check_format(self) -> None:
        row = self.writer.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None:
            self.writer.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
        elif row[0] != str(FORMAT_VERSION):
            raise StoreError(f"{self.path} has format {row[0]}; this amqpd reads format {FORMAT_VERSION}")

    def write(self, ops: Iterable[Op]) -> None:
        """Apply operations in order as one transaction; returns once it is on disk."""
        db = self.writer
        db.execute("BEGIN")
        try:
            run: list[tuple[Any, ...]] = []
            kind = None
            for op in ops:
                if op[0] != kind:
                    if run:
                        db.executemany(STATEMENTS[kind], run)  # type: ignore[index]
                    kind, run = op[0], []
                run.append(op[1:])
            if run:
                db.executemany(STATEMENTS[kind], run)  # type: ignore[index]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def recover(self) -> Recovered:
        """Read the durable state; an unreadable part is reported in problems and skipped."""
        problems: list[str] = []
        db = self.reader
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            problems.append(f"integrity check of {self.path} reported: {check}")
        exchanges = [(v, n, t, bool(a), bool(i), args) for v, n, t, a, i, args in
                     self._rows(db, "SELECT vhost, name, type, auto_delete, internal, arguments FROM exchanges", problems)]
        queues = {qid: StoredQueue(qid, v, n, bool(a), args) for qid, v, n, a, args in
                  self._rows(db, "SELECT id, vhost, name, auto_delete, arguments FROM queues", problems)}
        bindings = [(v, s, bool(q), d, k, args) for v, s, q, d, k, args in
                    self._rows(db, "SELECT vhost, source, to_queue, destination, routing_key, arguments FROM bindings",
                               problems)]
        max_id = 0
        for qid, mid, delivered in self._rows(
                db, "SELECT queue_id, id, delivered FROM messages ORDER BY queue_id, id", problems):
            max_id = max(max_id, mid)
            queue = queues.get(qid)
            if queue is not None:
                queue.messages.append((mid, bool(delivered)))
        next_queue_id = max(queues, default=0) + 1
        return Recovered(exchanges, list(queues.values()), bindings, max_id + 1, next_queue_id, problems)

    @staticmethod
    def _rows(db: sqlite3.Connection, sql: str, problems: list[str]) -> list[tuple[Any, ...]]:
        """All rows a query yields before an error; the error is reported, not raised."""
        rows: list[tuple[Any, ...]] = []
        try:
            for row in db.execute(sql):
                rows.append(row)
        except sqlite3.DatabaseError as exc:
            problems.append(f"stopped reading after {len(rows)} rows of '{sql.split(' FROM ')[1].split()[0]}': {exc}")
        return rows

    def load(self, queue_id: int, ids: list[int]) -> dict[int, tuple[str, str, bytes, bytes]]:
        """Exchange, routing key, raw properties and body of stored messages, by id."""
        marks = ",".join("?" * len(ids))
        rows = self.reader.execute(
            f"SELECT id, exchange, routing_key, properties, body FROM messages WHERE queue_id = ? AND id IN ({marks})",
            (queue_id, *ids))
        return {mid: (exchange, key, props, body) for mid, exchange, key, props, body in rows}

    def close(self) -> None:
        self.reader.close()
        self.writer.close()
        os.close(self._lock)  # releases the data directory
