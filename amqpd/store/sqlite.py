"""The embedded default engine: one SQLite database in WAL mode, written in batches.

SQLite gives what the broker must promise without a server to start: a committed batch
survives kill -9 and power loss (synchronous=FULL fsyncs the WAL on commit), a torn write at
the tail of the WAL is detected by its frame checksums and dropped on open, and every intact
committed record is kept. A database damaged in place (a bad page in the main file) is
salvaged at open: every readable row is copied into a fresh file and the damaged one is kept
aside. Everything here is synchronous: the group-commit loop in store/writer.py runs `write`
on a worker thread; `recover` and `load` run on the event loop thread through their own
connection (WAL lets readers proceed while a batch is written).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any, Iterable

from amqpd.store.records import (Op, Recovered, RecoveredAccess, StoredBinding, StoredContent, StoredExchange,
                                 StoredQueue)

FORMAT_VERSION = 1
DB_NAME = "amqpd.sqlite3"
SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)
WAL_HEADER, WAL_FRAME_HEADER = 32, 24
SINGLE_ROW_READS = 4  # rows read one by one after a failed scan, to find the damaged one
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # the store holds message bodies: for the broker's user alone

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
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, hashing_algorithm TEXT NOT NULL, tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vhosts (name TEXT PRIMARY KEY, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS permissions (
    user TEXT NOT NULL, vhost TEXT NOT NULL, configure TEXT NOT NULL, write TEXT NOT NULL, read TEXT NOT NULL,
    PRIMARY KEY (user, vhost));
CREATE TABLE IF NOT EXISTS parameters (
    kind TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (kind, scope, name));
CREATE TABLE IF NOT EXISTS topic_permissions (
    user TEXT NOT NULL, vhost TEXT NOT NULL, exchange TEXT NOT NULL, write TEXT NOT NULL, read TEXT NOT NULL,
    PRIMARY KEY (user, vhost, exchange));
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
    "delivered": "UPDATE messages SET delivered = delivered + 1 WHERE queue_id = ? AND id = ?",
    "remove": "DELETE FROM messages WHERE queue_id = ? AND id = ?",
    # users, vhosts and permissions made or changed through the management API
    "user": "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?)",
    "user-delete": "DELETE FROM users WHERE name = ?",
    "user-permissions-delete": "DELETE FROM permissions WHERE user = ?",
    "vhost": "INSERT OR REPLACE INTO vhosts VALUES (?, ?)",
    "vhost-delete": "DELETE FROM vhosts WHERE name = ?",
    "vhost-permissions-delete": "DELETE FROM permissions WHERE vhost = ?",
    "vhost-messages-delete": "DELETE FROM messages WHERE queue_id IN (SELECT id FROM queues WHERE vhost = ?)",
    "vhost-queues-delete": "DELETE FROM queues WHERE vhost = ?",
    "vhost-exchanges-delete": "DELETE FROM exchanges WHERE vhost = ?",
    "vhost-bindings-delete": "DELETE FROM bindings WHERE vhost = ?",
    "permission": "INSERT OR REPLACE INTO permissions VALUES (?, ?, ?, ?, ?)",
    "permission-delete": "DELETE FROM permissions WHERE user = ? AND vhost = ?",
    "topic-permission": "INSERT OR REPLACE INTO topic_permissions VALUES (?, ?, ?, ?, ?)",
    "topic-permission-delete": "DELETE FROM topic_permissions WHERE user = ? AND vhost = ? AND exchange = ?",
    "topic-permissions-delete": "DELETE FROM topic_permissions WHERE user = ? AND vhost = ?",
    "user-topic-permissions-delete": "DELETE FROM topic_permissions WHERE user = ?",
    "vhost-topic-permissions-delete": "DELETE FROM topic_permissions WHERE vhost = ?",
    "setting": "INSERT OR REPLACE INTO meta VALUES (?, ?)",
    # policies, operator policies, limits and global parameters: (kind, scope, name) -> JSON value
    "parameter": "INSERT OR REPLACE INTO parameters VALUES (?, ?, ?, ?)",
    "parameter-delete": "DELETE FROM parameters WHERE kind = ? AND scope = ? AND name = ?",
    "scope-parameters-delete": "DELETE FROM parameters WHERE kind = ? AND scope = ?",
}
# Every table's columns, in the order a salvage copies them.
TABLES = {
    "meta": "key, value",
    "exchanges": "vhost, name, type, auto_delete, internal, arguments",
    "queues": "id, vhost, name, auto_delete, arguments",
    "bindings": "vhost, source, to_queue, destination, routing_key, arguments",
    "messages": "queue_id, id, exchange, routing_key, properties, body, delivered",
    "users": "name, password_hash, hashing_algorithm, tags",
    "vhosts": "name, metadata",
    "permissions": "user, vhost, configure, write, read",
    "parameters": "kind, scope, name, value",
    "topic_permissions": "user, vhost, exchange, write, read",
}
ACCESS_TABLES = ("users", "vhosts", "permissions", "parameters", "topic_permissions")  # the management API's; a salvage names them if it kept rows


class StoreError(Exception):
    """The store cannot be opened or used (the CLI reports it in one line)."""


class DamagedError(sqlite3.DatabaseError):
    """The database file opened but its integrity check failed."""


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether an error says the file is damaged (not locked, read-only, full or missing)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return isinstance(exc, DamagedError) or code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _open_private(path: Path) -> int:
    """Open a file, creating it if missing, readable and writable by its owner alone whatever the
    umask and whatever mode an older amqpd left it with; returns the descriptor."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot make {path} private (mode 600): {exc.strerror}") from None
    return fd


def _make_private(path: Path) -> None:
    """Mode 600 for a file if it exists (the -wal and -shm files an earlier run left)."""
    try:
        os.chmod(path, PRIVATE_FILE)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot make {path} private (mode 600): {exc.strerror}") from None


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the database at path. The file is private before SQLite opens it, and the
    -wal and -shm files SQLite creates take the database file's mode; those an earlier run left
    are made private too."""
    os.close(_open_private(path))
    for suffix in ("-wal", "-shm"):
        _make_private(path.with_name(path.name + suffix))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
    except BaseException:
        db.close()
        raise
    return db


def _readable_rows(db: sqlite3.Connection, table: str, columns: str, lost: list[str]) -> list[tuple[Any, ...]]:
    """Every row of a table that can still be read, in rowid order, stepping over damaged pages.

    A damaged leaf page fails every query that reads it, but the pages around it can still be
    reached by rowid through the tree above it (a seek to rowid >= k only reads the leaf that
    holds k): past a damaged row, the next readable rowid is found by probing ever further
    ahead and then bisecting back to the first one.
    """
    scan = f"SELECT rowid, {columns} FROM {table} WHERE rowid >= ? ORDER BY rowid"

    def first_from(rowid: int) -> int | None:
        """The first rowid from `rowid` on; raises DatabaseError if its page is unreadable."""
        row = db.execute(f"SELECT rowid FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT 1", (rowid,)).fetchone()
        return None if row is None else row[0]

    def readable(rowid: int) -> bool:
        try:
            first_from(rowid)
            return True
        except sqlite3.DatabaseError:
            return False

    def past_damage(start: int, end: int) -> int:
        """Where to go on when the first row from `start` on cannot be read."""
        try:  # only that row's content is unreadable (e.g. an overflow page): lose just that row
            damaged = first_from(start)
            return end if damaged is None else damaged + 1
        except sqlite3.DatabaseError:
            pass
        step = 1
        while start + step < end and not readable(start + step):
            step *= 2
        low, high = start + step // 2, min(start + step, end)  # not readable(low); readable(high) or the end
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if readable(middle) else (middle, high)
        return high

    rows: list[tuple[Any, ...]] = []
    try:
        top = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        lost.append(f"table {table} unreadable: {exc}")
        return rows
    start, end, skipped = -(2 ** 63), (top or 0) + 1, 0
    while top is not None and start < end:
        try:
            for rowid, *values in db.execute(scan, (start,)):
                rows.append(tuple(values))
                start = rowid + 1
            break
        except sqlite3.DatabaseError:
            pass
        try:  # a scan fails a row ahead of the last one it returned: go on one row at a time
            for _ in range(SINGLE_ROW_READS):
                row = db.execute(scan + " LIMIT 1", (start,)).fetchone()
                if row is None:
                    return rows
                rows.append(tuple(row[1:]))
                start = row[0] + 1
        except sqlite3.DatabaseError:
            skipped += 1
            start = past_damage(start, end)
    if skipped:
        lost.append(f"{skipped} damaged stretch(es) of table {table} skipped")
    return rows


class SqliteEngine:
    """Synchronous access to the database file in a data directory.

    Opening never gives up on a damaged file that is still an SQLite database: what is wrong
    is described in `problems` (logged at recovery) and every readable record is kept.
    """

    def __init__(self, data_dir: str | Path) -> None:
        directory = Path(data_dir)
        try:
            directory.mkdir(PRIVATE_DIR, parents=True, exist_ok=True)  # an existing one keeps its mode
        except OSError as exc:
            raise StoreError(f"cannot create data directory {directory}: {exc.strerror}") from None
        self.path = directory / DB_NAME
        self.problems: list[str] = []
        self._lock = _open_private(directory / "lock")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise StoreError(f"data directory {directory} is in use by another amqpd") from None
        try:
            self._check_wal()
            try:
                self._open()
            except sqlite3.DatabaseError as exc:
                if not (_damaged(exc) and self._is_sqlite_file()):
                    raise StoreError(f"cannot open {self.path}: {exc}") from None
                try:
                    self._salvage(str(exc))
                    self._open()
                except sqlite3.Error as again:
                    raise StoreError(f"cannot salvage damaged {self.path}: {again}") from None
        except BaseException:
            os.close(self._lock)
            raise

    def _open(self) -> None:
        """Connect, create the schema if new, and check the file (raises DatabaseError if damaged)."""
        self.writer = _connect(self.path)
        try:
            self.writer.executescript(SCHEMA)
            check = self.writer.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise DamagedError(f"integrity check reported: {check}")
            self._check_format()
            self.reader = _connect(self.path)
        except BaseException:
            self.writer.close()
            raise

    def _is_sqlite_file(self) -> bool:
        """Whether the file starts as an SQLite database (a foreign file is refused, not salvaged)."""
        try:
            with open(self.path, "rb") as handle:
                return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
        except OSError:
            return False

    def _check_wal(self) -> None:
        """Report a write-ahead log that ends inside a frame: the tail of a write cut short.

        SQLite drops it on open (its frame checksums fail), so the batch it belonged to, which
        was never acknowledged, is gone; the committed batches before it are all kept.
        """
        wal = self.path.with_name(DB_NAME + "-wal")
        try:
            with open(wal, "rb") as handle:
                header = handle.read(WAL_HEADER)
                size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read {wal}: {exc.strerror}") from None
        if not size:
            return
        magic, _, page_size = struct.unpack(">III", header[:12]) if len(header) == WAL_HEADER else (0, 0, 0)
        if magic not in WAL_MAGICS:
            self.problems.append(f"{wal.name} has no valid header; SQLite ignores its {size} bytes")
            return
        stray = (size - WAL_HEADER) % (WAL_FRAME_HEADER + page_size)
        if stray:
            self.problems.append(f"{wal.name} ends with {stray} bytes of an unfinished write; SQLite drops them "
                                 "(that write was never acknowledged) and keeps every committed batch")

    def _salvage(self, reason: str) -> None:
        """Copy every readable row of a damaged database into a fresh one; keep the damaged file aside.

        Writing on into a damaged b-tree could lose more, so the broker starts on the copy. The
        damaged file (and its WAL, which holds its latest batches) moves to amqpd.sqlite3.corrupt-<time>.
        """
        aside = self.path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
        try:
            self.path.rename(aside)
            wal = self.path.with_name(DB_NAME + "-wal")
            has_wal = wal.exists() and wal.stat().st_size > 0
            if has_wal:
                wal.rename(aside.with_name(aside.name + "-wal"))
            wal.unlink(missing_ok=True)
            self.path.with_name(DB_NAME + "-shm").unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path} is damaged ({reason}) and cannot be moved aside: {exc.strerror}") from None
        rows: dict[str, list[tuple[Any, ...]]] = {}
        lost: list[str] = []
        try:
            damaged = sqlite3.connect(aside.absolute().as_uri() + "?mode=ro", uri=True)
        except sqlite3.DatabaseError as exc:
            lost.append(f"nothing could be read: {exc}")
        else:
            for table, columns in TABLES.items():
                rows[table] = _readable_rows(damaged, table, columns, lost)
            damaged.close()
            aside.with_name(aside.name + "-shm").unlink(missing_ok=True)  # made by this read, as is
            if not has_wal:  # an empty log
                aside.with_name(aside.name + "-wal").unlink(missing_ok=True)
        fresh = _connect(self.path)
        fresh.executescript(SCHEMA)
        fresh.execute("BEGIN")
        for table, table_rows in rows.items():
            marks = ", ".join("?" * len(TABLES[table].split(",")))
            fresh.executemany(f"INSERT OR IGNORE INTO {table} ({TABLES[table]}) VALUES ({marks})", table_rows)
        fresh.execute("COMMIT")
        fresh.close()
        kept = ", ".join(f"{len(rows.get(table, ()))} {table}" for table in TABLES
                         if table != "meta" and (table not in ACCESS_TABLES or rows.get(table)))
        self.problems.append(f"{self.path.name} is damaged ({reason}); kept every readable record ({kept})"
                             f" in a fresh file{': ' if lost else ''}{'; '.join(lost)};"
                             f" the damaged file is kept as {aside.name}")

    def _check_format(self) -> None:
        row = self.writer.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None:
            self.writer.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
        elif row[0] != str(FORMAT_VERSION):
            raise StoreError(f"{self.path} has format {row[0]}; this amqpd reads format {FORMAT_VERSION}")

    def write(self, ops: Iterable[Op]) -> None:
        """Apply a batch of operations as one transaction; returns once it is on disk.

        The effect is that of applying them in order, but message operations are grouped by
        kind (one executemany each) and a message stored and removed within the batch (published
        and acked before its batch was written) is never written at all. Messages come first;
        the other operations follow in order, so a queue deleted in the batch also loses the
        messages put in it.
        """
        puts: dict[tuple[int, int], tuple[Any, ...]] = {}
        delivered: list[tuple[int, int]] = []
        removes: list[tuple[int, int]] = []
        others: list[Op] = []
        for op in ops:
            kind = op[0]
            if kind == "put":
                puts[(op[1], op[2])] = op[1:]
            elif kind == "delivered":
                delivered.append((op[1], op[2]))
            elif kind == "remove":
                key = (op[1], op[2])
                if puts.pop(key, None) is None:
                    removes.append(key)
            else:
                others.append(op)
        if removes and delivered:
            gone = set(removes)
            delivered = [key for key in delivered if key not in gone]
        db = self.writer
        db.execute("BEGIN")
        try:
            for kind, rows in (("put", puts.values()), ("delivered", delivered), ("remove", removes)):
                if rows:
                    db.executemany(STATEMENTS[kind], rows)
            for kind, group in itertools.groupby(others, key=lambda op: op[0]):
                db.executemany(STATEMENTS[kind], [op[1:] for op in group])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def recover(self) -> Recovered:
        """Read the durable state; an unreadable part is reported in problems and skipped."""
        problems = list(self.problems)
        db = self.reader
        exchanges = [StoredExchange(v, n, t, bool(a), bool(i), args) for v, n, t, a, i, args in
                     self._rows(db, "SELECT vhost, name, type, auto_delete, internal, arguments FROM exchanges", problems)]
        queues = {qid: StoredQueue(qid, v, n, bool(a), args) for qid, v, n, a, args in
                  self._rows(db, "SELECT id, vhost, name, auto_delete, arguments FROM queues", problems)}
        bindings = [StoredBinding(v, s, bool(q), d, k, args) for v, s, q, d, k, args in
                    self._rows(db, "SELECT vhost, source, to_queue, destination, routing_key, arguments FROM bindings",
                               problems)]
        max_id = 0
        for qid, mid, delivered in self._rows(
                db, "SELECT queue_id, id, delivered FROM messages ORDER BY queue_id, id", problems):
            max_id = max(max_id, mid)
            queue = queues.get(qid)
            if queue is not None:
                queue.messages.append((mid, delivered))
        next_queue_id = max(queues, default=0) + 1
        return Recovered(exchanges, list(queues.values()), bindings, max_id + 1, next_queue_id, problems)

    def recover_access(self) -> RecoveredAccess:
        """Read the stored users, vhosts, permissions, settings (the format key excluded) and parameters."""
        problems: list[str] = []
        db = self.reader
        users = self._rows(db, "SELECT name, password_hash, hashing_algorithm, tags FROM users", problems)
        vhosts = self._rows(db, "SELECT name, metadata FROM vhosts", problems)
        permissions = self._rows(db, "SELECT user, vhost, configure, write, read FROM permissions", problems)
        topic_permissions = self._rows(
            db, "SELECT user, vhost, exchange, write, read FROM topic_permissions", problems)
        settings = dict(self._rows(db, "SELECT key, value FROM meta WHERE key != 'format'", problems))
        parameters = self._rows(db, "SELECT kind, scope, name, value FROM parameters", problems)
        return RecoveredAccess(users, vhosts, permissions, topic_permissions, settings, problems, parameters)  # type: ignore[arg-type]

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

    def load(self, queue_id: int, ids: list[int]) -> dict[int, StoredContent]:
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
