"""The SQLite engine on its own: batches written, state recovered, torn tails survived."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3

import pytest

from amqpd.store.sqlite import DB_NAME, SqliteEngine, StoreError


def _fill(engine: SqliteEngine) -> None:
    engine.write([
        ("exchange", "/", "x", "topic", False, False, b"\x00\x00\x00\x00"),
        ("queue", 1, "/", "q", False, b"\x00\x00\x00\x00"),
        ("binding", "/", "x", True, "q", "a.#", b"\x00\x00\x00\x00"),
        ("put", 1, 10, "x", "a.b", b"\x90\x00\x02", b"first"),
        ("put", 1, 11, "x", "a.c", b"\x90\x00\x02", b"second"),
        ("put", 1, 12, "x", "a.d", b"\x90\x00\x02", b"third"),
        ("delivered", 1, 10),
        ("remove", 1, 11),
    ])


def test_batches_are_recovered_in_order(tmp_path):
    """Topology and messages written in one batch come back, with delivered flags and removals."""
    engine = SqliteEngine(tmp_path)
    _fill(engine)
    engine.close()
    recovered = SqliteEngine(tmp_path).recover()
    assert recovered.exchanges == [("/", "x", "topic", False, False, b"\x00\x00\x00\x00")]
    assert recovered.bindings == [("/", "x", True, "q", "a.#", b"\x00\x00\x00\x00")]
    (queue,) = recovered.queues
    assert (queue.id, queue.vhost, queue.name) == (1, "/", "q")
    assert queue.messages == [(10, True), (12, False)]
    assert recovered.next_message_id == 13
    assert recovered.next_queue_id == 2
    assert recovered.problems == []


def test_load_returns_stored_content(tmp_path):
    engine = SqliteEngine(tmp_path)
    _fill(engine)
    assert engine.load(1, [12, 10]) == {
        10: ("x", "a.b", b"\x90\x00\x02", b"first"),
        12: ("x", "a.d", b"\x90\x00\x02", b"third"),
    }


def test_a_failed_batch_leaves_nothing_behind(tmp_path):
    """A batch is all or nothing: an error mid-batch rolls back its earlier operations."""
    engine = SqliteEngine(tmp_path)
    with pytest.raises(Exception):
        engine.write([("queue", 1, "/", "q", False, b""), ("no-such-kind",)])
    assert engine.recover().queues == []


def test_torn_wal_tail_keeps_every_committed_batch(tmp_path):
    """A crash mid-write leaves a torn WAL tail; opening drops it and keeps the intact batches."""
    engine = SqliteEngine(tmp_path)
    engine.write([("queue", 1, "/", "q", False, b"")])
    for i in range(20):
        engine.write([("put", 1, i, "", "q", b"\x00\x00", b"x" * 3000)])
    wal = tmp_path / (DB_NAME + "-wal")
    snapshot = tmp_path / "copy"
    snapshot.mkdir()
    shutil.copy(tmp_path / DB_NAME, snapshot / DB_NAME)
    data = wal.read_bytes()
    (snapshot / (DB_NAME + "-wal")).write_bytes(data[: len(data) - 1500])  # cut the last frame short
    recovered = SqliteEngine(snapshot).recover()
    (queue,) = recovered.queues
    assert [mid for mid, _ in queue.messages] == list(range(19))
    (problem,) = recovered.problems
    assert problem.startswith(f"{DB_NAME}-wal ends with ") and "bytes of an unfinished write" in problem


def test_unusable_data_dir_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create data directory"):
        SqliteEngine(blocker / "sub")


def test_a_foreign_file_is_a_store_error(tmp_path):
    """A file that is not an SQLite database is refused and left as it is (only damage is salvaged)."""
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        SqliteEngine(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == b"this is not a database" * 100
    assert not [name for name in os.listdir(tmp_path) if ".corrupt-" in name]


# -- damage at start-up -----------------------------------------------------------------------------

def _marked(i: int, size: int = 60) -> bytes:
    return b"<%05d>" % i + b"." * size


def _stored_ids(recovered) -> list[int]:
    return [mid for queue in recovered.queues for mid, _ in queue.messages]


def _filled(path, count: int = 600, size: int = 60) -> None:
    """A closed database (no WAL left) with queue 1 holding messages 0..count-1 with marked bodies."""
    engine = SqliteEngine(path)
    engine.write([("exchange", "/", "x", "topic", False, False, b"\x00\x00\x00\x00"),
                  ("queue", 1, "/", "q", False, b"\x00\x00\x00\x00"),
                  ("binding", "/", "x", True, "q", "#", b"\x00\x00\x00\x00")])
    engine.write([("put", 1, i, "x", "k", b"\x90\x00\x02", _marked(i, size)) for i in range(count)])
    engine.close()


def _smash_page_holding(path, marker: bytes, at: int = 0, length: int = 8) -> list[int]:
    """Overwrite bytes of the page that holds `marker`; returns the marked message ids on that page."""
    db = path / DB_NAME
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    start = data.index(marker) // page_size * page_size
    on_page = [int(m) for m in re.findall(rb"<(\d{5})>", bytes(data[start:start + page_size]))]
    data[start + at:start + at + length] = b"\xff" * length
    db.write_bytes(data)
    return on_page


def test_damaged_table_page_keeps_every_other_record(tmp_path):
    """A leaf page of the messages table is unreadable: its rows are lost, every other row and all
    topology are kept in a fresh file, the damaged file is kept aside and the problem reported."""
    _filled(tmp_path)
    lost = _smash_page_holding(tmp_path, _marked(300)[:7])
    assert 300 in lost and len(lost) > 10
    engine = SqliteEngine(tmp_path)
    recovered = engine.recover()
    assert _stored_ids(recovered) == [i for i in range(600) if i not in lost]
    assert recovered.exchanges == [("/", "x", "topic", False, False, b"\x00\x00\x00\x00")]
    assert recovered.bindings == [("/", "x", True, "q", "#", b"\x00\x00\x00\x00")]
    assert engine.load(1, [0, 599]) == {0: ("x", "k", b"\x90\x00\x02", _marked(0)),
                                        599: ("x", "k", b"\x90\x00\x02", _marked(599))}
    (problem,) = recovered.problems
    assert problem.startswith(f"{DB_NAME} is damaged (")
    assert f"kept every readable record (1 exchanges, 1 queues, 1 bindings, {600 - len(lost)} messages)" in problem
    (aside,) = [name for name in os.listdir(tmp_path) if name.startswith(f"{DB_NAME}.corrupt-")]
    assert re.fullmatch(rf"{re.escape(DB_NAME)}\.corrupt-\d{{8}}T\d{{6}}", aside)
    assert problem.endswith(f"the damaged file is kept as {aside}")
    engine.write([("put", 1, 600, "x", "k", b"", b"after")])  # the fresh file takes writes
    engine.close()
    again = SqliteEngine(tmp_path).recover()
    assert _stored_ids(again) == [i for i in range(601) if i not in lost]
    assert again.problems == []


def test_two_damaged_pages_lose_only_their_rows(tmp_path):
    _filled(tmp_path, count=1200)
    lost = _smash_page_holding(tmp_path, _marked(200)[:7]) + _smash_page_holding(tmp_path, _marked(900)[:7])
    recovered = SqliteEngine(tmp_path).recover()
    assert _stored_ids(recovered) == [i for i in range(1200) if i not in lost]
    assert "2 damaged stretch(es) of table messages skipped" in recovered.problems[0]


def test_damaged_overflow_page_loses_only_that_message(tmp_path):
    """A body too big for its page continues on overflow pages; damage there costs that one message."""
    engine = SqliteEngine(tmp_path)
    engine.write([("queue", 1, "/", "q", False, b"")])
    engine.write([("put", 1, i, "", "q", b"", (b"<%05d>" % i) * 2000) for i in range(5)])
    engine.close()
    data = bytearray((tmp_path / DB_NAME).read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    occurrences = [match.start() for match in re.finditer(b"<00002>", bytes(data))]
    page = occurrences[len(occurrences) // 2] // page_size  # an overflow page in the middle of message 2's body
    assert data[page * page_size] == 0  # the next-page pointer of an overflow page, not a b-tree page type
    data[page * page_size:page * page_size + 4] = b"\x00\x00\xff\xff"  # its next-overflow-page pointer
    (tmp_path / DB_NAME).write_bytes(data)
    recovered = SqliteEngine(tmp_path).recover()
    assert _stored_ids(recovered) == [0, 1, 3, 4]
    assert "1 damaged stretch(es) of table messages skipped" in recovered.problems[0]


def test_damaged_index_page_loses_nothing(tmp_path):
    """The primary-key index is rebuilt from the table, so damage to it alone loses no message."""
    _filled(tmp_path)
    db = sqlite3.connect(tmp_path / DB_NAME)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_messages_1'").fetchone()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(tmp_path / DB_NAME, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 8)
    recovered = SqliteEngine(tmp_path).recover()
    assert _stored_ids(recovered) == list(range(600))
    assert recovered.problems[0].startswith(f"{DB_NAME} is damaged (")


def test_unreadable_schema_starts_empty_and_keeps_the_file(tmp_path):
    """With the schema page destroyed nothing can be read: the broker starts empty, says so, and the
    file is kept aside for offline recovery."""
    _filled(tmp_path)
    data = bytearray((tmp_path / DB_NAME).read_bytes())
    data[100:400] = os.urandom(300)  # page 1's b-tree header and cells: the schema
    (tmp_path / DB_NAME).write_bytes(data)
    engine = SqliteEngine(tmp_path)
    recovered = engine.recover()
    assert (recovered.exchanges, recovered.queues, recovered.bindings) == ([], [], [])
    (problem,) = recovered.problems
    assert ("kept every readable record (0 exchanges, 0 queues, 0 bindings, 0 messages) in a fresh file:"
            " table meta unreadable: ") in problem
    (aside,) = [name for name in os.listdir(tmp_path) if name.startswith(f"{DB_NAME}.corrupt-")]
    assert (tmp_path / aside).read_bytes() == bytes(data)


def test_garbage_after_the_wal_is_reported_and_ignored(tmp_path):
    """Bytes appended to the WAL (not whole frames) are reported; every committed batch is kept."""
    engine = SqliteEngine(tmp_path)
    engine.write([("queue", 1, "/", "q", False, b"")])
    for i in range(5):
        engine.write([("put", 1, i, "", "q", b"", b"body")])
    snapshot = tmp_path / "copy"
    snapshot.mkdir()
    shutil.copy(tmp_path / DB_NAME, snapshot / DB_NAME)
    wal = (tmp_path / (DB_NAME + "-wal")).read_bytes()
    (snapshot / (DB_NAME + "-wal")).write_bytes(wal + os.urandom(777))
    recovered = SqliteEngine(snapshot).recover()
    assert _stored_ids(recovered) == [0, 1, 2, 3, 4]
    (problem,) = recovered.problems
    assert problem.startswith(f"{DB_NAME}-wal ends with ")


def test_wal_without_a_valid_header_is_reported(tmp_path):
    _filled(tmp_path, count=3)
    (tmp_path / (DB_NAME + "-wal")).write_bytes(b"\x00" * 5000)
    recovered = SqliteEngine(tmp_path).recover()
    assert _stored_ids(recovered) == [0, 1, 2]
    assert recovered.problems == [f"{DB_NAME}-wal has no valid header; SQLite ignores its 5000 bytes"]
