"""Topic permissions: which routing keys a user may publish with or bind with on a topic exchange.

RabbitMQ keeps, per (user, vhost, exchange), a write and a read expression. A publish to a topic
exchange matches its routing key against the write one; a queue or exchange bind (or unbind)
with a topic exchange as source matches the binding key against the read one. A user with no
entry for an exchange is not limited on it. The variables `{username}` and `{vhost}` in an
expression are replaced by the entry's own user and vhost (RabbitMQ's `{client_id}` is MQTT's;
AMQP 0-9-1 has none, so it stays as written). Each expression is expanded and compiled once,
when it is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from amqpd.auth.permissions import ANY, Access, compile_pattern
from amqpd.patterns import Pattern


def expand(pattern: str, user: str, vhost: str) -> str:
    return pattern.replace("{username}", user).replace("{vhost}", vhost)


@dataclass(frozen=True)
class TopicPermission:
    exchange: str
    write: str = ANY
    read: str = ANY


@dataclass(frozen=True)
class TopicRule:
    """One entry with its expressions expanded for its user and vhost and compiled."""

    permission: TopicPermission
    write: Pattern | None = field(compare=False)
    read: Pattern | None = field(compare=False)

    def allows(self, access: Access, routing_key: str) -> bool:
        pattern = self.write if access is Access.WRITE else self.read
        return pattern is not None and pattern.search(routing_key)


class TopicPermissionTable:
    """Every user's topic permissions, by (user, vhost, exchange); `changed` is called at every
    change (the node passes PermissionTable.changed, which empties the decision caches)."""

    def __init__(self, changed: Callable[[], None] = lambda: None) -> None:
        self._entries: dict[tuple[str, str, str], TopicRule] = {}
        self._changed = changed

    def set(self, user: str, vhost: str, permission: TopicPermission) -> None:
        self._entries[(user, vhost, permission.exchange)] = TopicRule(
            permission, compile_pattern(expand(permission.write, user, vhost)),
            compile_pattern(expand(permission.read, user, vhost)))
        self._changed()

    def rule(self, user: str, vhost: str, exchange: str) -> TopicRule | None:
        """The rule limiting the user on the exchange; None when there is none."""
        return self._entries.get((user, vhost, exchange))

    def of(self, user: str, vhost: str) -> list[TopicPermission]:
        """The user's entries in the vhost, sorted by exchange."""
        return [rule.permission for key, rule in sorted(self._entries.items()) if key[:2] == (user, vhost)]

    def clear(self, user: str, vhost: str, exchange: str | None = None) -> bool:
        """Remove the entry for one exchange, or every one of the (user, vhost); whether any went."""
        keys = [k for k in self._entries if k[:2] == (user, vhost) and exchange in (None, k[2])]
        for key in keys:
            del self._entries[key]
        self._changed()
        return bool(keys)

    def entries(self) -> list[tuple[str, str, TopicPermission]]:
        """Every (user, vhost, permission), sorted by user, vhost, exchange."""
        return [(user, vhost, rule.permission) for (user, vhost, _), rule in sorted(self._entries.items())]

    def forget(self, *, user: str | None = None, vhost: str | None = None) -> None:
        """Remove every entry of a user or of a vhost (which is being deleted)."""
        for key in [k for k in self._entries if k[0] == user or k[1] == vhost]:
            del self._entries[key]
        self._changed()
