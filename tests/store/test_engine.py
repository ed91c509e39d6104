"""The SQLite engine on its own: batches written, state recovered, torn tails survived."""

from __future__ import annotations

import shutil

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
    assert recovered.problems == []


def test_unusable_data_dir_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create data directory"):
        SqliteEngine(blocker / "sub")


def test_a_foreign_file_is_a_store_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        SqliteEngine(tmp_path)
