"""The management API's records in the store: users, vhosts, permissions and settings, written as
plain values and read back at start-up; deleting a vhost forgets everything durable in it."""

from __future__ import annotations

from amqpd.store.sqlite import SqliteEngine
from amqpd.store.writer import Store


def test_access_records_round_trip_and_deletions_stick(tmp_path):
    store = Store(SqliteEngine(tmp_path))
    store.save_user("app", "aGFzaA==", "rabbit_password_hashing_sha512", ["management", "monitoring"])
    store.save_user("gone", "", "rabbit_password_hashing_sha256", [])
    store.delete_user("gone")
    store.save_vhost("v", {"description": "d", "tags": ["t"], "default_queue_type": "undefined", "tracing": False})
    store.save_permission("app", "v", ".*", "^w", "^r")
    store.save_permission("gone", "v", ".*", ".*", ".*")
    store.delete_permission("gone", "v")
    store.save_setting("cluster_name", "c1")
    store.close()
    access = Store(SqliteEngine(tmp_path)).recover_access()
    assert access.users == [("app", "aGFzaA==", "rabbit_password_hashing_sha512", '["management", "monitoring"]')]
    assert access.vhosts == [("v", '{"description": "d", "tags": ["t"], "default_queue_type": "undefined", '
                                   '"tracing": false}')]
    assert access.permissions == [("app", "v", ".*", "^w", "^r")]
    assert access.settings == {"cluster_name": "c1"}
    assert access.problems == []


def test_deleting_a_vhost_forgets_its_durable_contents(tmp_path):
    engine = SqliteEngine(tmp_path)
    engine.write([
        ("exchange", "v", "x", "topic", False, False, b"\x00\x00\x00\x00"),
        ("queue", 1, "v", "q", False, b"\x00\x00\x00\x00"),
        ("queue", 2, "other", "q", False, b"\x00\x00\x00\x00"),
        ("binding", "v", "x", True, "q", "a.#", b"\x00\x00\x00\x00"),
        ("put", 1, 10, "x", "a.b", b"\x90\x00\x02", b"gone"),
        ("put", 2, 11, "", "q", b"\x90\x00\x02", b"kept"),
        ("vhost", "v", "{}"),
        ("permission", "guest", "v", ".*", ".*", ".*"),
    ])
    store = Store(engine)
    store.delete_vhost("v")
    store.close()
    engine = SqliteEngine(tmp_path)
    recovered, access = engine.recover(), engine.recover_access()
    assert (recovered.exchanges, recovered.bindings) == ([], [])
    assert [(q.vhost, q.messages) for q in recovered.queues] == [("other", [(11, False)])]
    assert (access.vhosts, access.permissions) == ([], [])
