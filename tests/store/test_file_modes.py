"""The data directory and every file the store makes are the broker's user's alone: message
bodies are in them. A directory amqpd creates is 0700; one that already exists keeps its mode
(the operator chose it), but the files in it are made 0600, old ones included."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from amqpd.store.sqlite import DB_NAME, SqliteEngine


@pytest.fixture(autouse=True)
def usual_umask():
    """The usual umask 022, which leaves new files readable by everyone unless the store says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def put_message(engine: SqliteEngine) -> None:
    engine.write([("queue", 1, "/", "q", False, b"\x00\x00\x00\x00"),
                  ("put", 1, 1, "", "q", b"\x90\x00\x02", b"a private body")])


def test_new_data_directory_and_files_are_private(tmp_path):
    """A data directory amqpd creates is 0700; the database, its -wal and -shm and the lock are 0600."""
    data = tmp_path / "new" / "data"
    engine = SqliteEngine(data)
    put_message(engine)
    names = sorted(os.listdir(data))
    assert names == sorted([DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", "lock"])
    assert mode(data) == 0o700
    assert {name: mode(data / name) for name in names} == {name: 0o600 for name in names}
    engine.close()


def test_existing_directory_keeps_its_mode_but_old_files_become_private(tmp_path):
    """Files an older amqpd left world-readable (0644), WAL and SHM included, are 0600 once opened;
    the existing directory's own mode (0755 here) is left as the operator set it."""
    data = tmp_path / "data"
    data.mkdir(0o755)
    db = sqlite3.connect(data / DB_NAME, isolation_level=None)  # an older run, still open: WAL and SHM exist
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    (data / "lock").touch(0o644)
    names = sorted(os.listdir(data))
    assert DB_NAME + "-wal" in names and DB_NAME + "-shm" in names
    assert {mode(data / name) for name in names} == {0o644}
    engine = SqliteEngine(data)
    db.close()
    put_message(engine)
    assert mode(data) == 0o755
    assert {name: mode(data / name) for name in os.listdir(data)} == {name: 0o600 for name in os.listdir(data)}
    engine.close()
