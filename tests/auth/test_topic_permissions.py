"""auth/topic_permissions.py: routing-key expressions per (user, vhost, exchange), expanded once."""

from __future__ import annotations

from amqpd.auth import Access, TopicPermission, TopicPermissionTable
from amqpd.auth.topic_permissions import expand


def test_username_and_vhost_are_expanded_and_client_id_is_kept():
    assert expand("^{username}\\.{vhost}\\.{client_id}", "alice", "prod") == "^alice\\.prod\\.{client_id}"


def test_a_rule_matches_write_for_publish_and_read_for_bind():
    table = TopicPermissionTable()
    table.set("alice", "prod", TopicPermission("events", write="^{username}\\.", read="^{vhost}\\."))
    rule = table.rule("alice", "prod", "events")
    assert rule is not None
    assert rule.allows(Access.WRITE, "alice.created") and not rule.allows(Access.WRITE, "bob.created")
    assert rule.allows(Access.READ, "prod.x") and not rule.allows(Access.READ, "alice.x")
    assert table.rule("bob", "prod", "events") is None  # no entry: not limited
    assert table.rule("alice", "prod", "other") is None


def test_an_empty_expression_grants_nothing():
    table = TopicPermissionTable()
    table.set("alice", "/", TopicPermission("amq.topic", write="", read=""))
    rule = table.rule("alice", "/", "amq.topic")
    assert rule is not None and not rule.allows(Access.WRITE, "any") and not rule.allows(Access.READ, "")


def test_clear_one_exchange_or_all_and_forget():
    changes: list[None] = []
    table = TopicPermissionTable(lambda: changes.append(None))
    for exchange in ("a", "b"):
        table.set("alice", "/", TopicPermission(exchange))
    table.set("bob", "/", TopicPermission("a"))
    assert table.clear("alice", "/", "a") and len(changes) == 4
    assert [p.exchange for p in table.of("alice", "/")] == ["b"]
    assert table.clear("alice", "/") and table.of("alice", "/") == []
    assert not table.clear("alice", "/")
    table.forget(vhost="/")
    assert table.entries() == []
