"""auth/permissions.py: permissions per (user, vhost), as RabbitMQ keeps them."""

from __future__ import annotations


from amqpd.auth import permissions
from amqpd.auth.permissions import ANY, FULL, Access, Permission, PermissionTable


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


def test_an_expression_is_searched_unanchored_and_an_empty_or_invalid_one_grants_nothing():
    permission = Permission(configure="", write="(", read="jobs")
    assert permission.allows(Access.READ, "jobs") and permission.allows(Access.READ, "old-jobs-2")
    assert not permission.allows(Access.READ, "work")
    assert not permission.allows(Access.CONFIGURE, "anything")  # "" grants nothing, as in RabbitMQ
    assert not permission.allows(Access.WRITE, "(")


def test_expressions_are_compiled_when_set_not_when_checked(monkeypatch):
    compiled: list[str] = []
    real = permissions.Pattern
    monkeypatch.setattr(permissions, "Pattern", lambda pattern: compiled.append(pattern) or real(pattern))
    table = PermissionTable()
    table.set("alice", "/", Permission("^c-", "^w-", "^r-"))
    assert compiled == ["^c-", "^w-", "^r-"]
    permission = table.get("alice", "/")
    assert permission is not None
    for _ in range(100):
        assert permission.allows(Access.WRITE, "w-x")
    assert len(compiled) == 3


def test_every_change_empties_the_decision_caches():
    table = PermissionTable()
    alice, bob = table.decisions("alice", "/"), table.decisions("bob", "v")
    assert table.decisions("alice", "/") is alice  # shared by the pair's connections
    for change in (lambda: table.set("alice", "/"), lambda: table.clear("alice", "/"),
                   lambda: table.forget(user="carol"), table.changed):
        alice["x"] = bob["y"] = None
        change()
        assert alice == bob == {}
