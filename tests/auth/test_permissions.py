"""auth/permissions.py: permissions per (user, vhost), as RabbitMQ keeps them."""

from __future__ import annotations

from amqpd.auth.permissions import ANY, FULL, Permission, PermissionTable


def test_a_user_without_an_entry_for_a_vhost_has_no_permission_there():
    table = PermissionTable()
    table.set("alice", "/")
    assert table.get("alice", "/") == FULL == Permission(ANY, ANY, ANY)
    assert table.get("alice", "other") is None
    assert table.get("bob", "/") is None


def test_setting_again_replaces_the_three_expressions():
    table = PermissionTable()
    table.set("alice", "/")
    table.set("alice", "/", Permission(configure="^$", write="amq\\.topic", read=".*"))
    assert table.get("alice", "/") == Permission("^$", "amq\\.topic", ".*")
