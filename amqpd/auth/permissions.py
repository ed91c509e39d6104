"""Which users may use which vhosts and resources, modelled as RabbitMQ models it.

A permission belongs to one (user, vhost) pair and is three regular expressions: the resources
(exchange and queue names) the user may configure, write to and read from. A user with no entry
for a vhost may not open it (Connection.Open gets 530); with one, every declare, delete, bind,
publish, consume, get and purge matches the resource's name against one expression, as
RabbitMQ's rabbit_access_control does: an unanchored search, and an empty expression grants
nothing. Each expression is compiled once, when the permission is set.

The table hands out decision caches per (user, vhost), shared by that pair's connections, and
empties them all at every change (its own, or the topic table's through ``changed``), so a
session can cache per-message decisions at the cost of a dict lookup.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from amqpd.patterns import Pattern

ANY = ".*"


class Access(enum.Enum):
    """What an operation does to a resource; RabbitMQ's configure / write / read."""

    CONFIGURE = "configure"
    WRITE = "write"
    READ = "read"


def compile_pattern(pattern: str) -> Pattern | None:
    """The compiled expression, or None for one that grants nothing (empty, as in RabbitMQ, or
    invalid: RabbitMQ refuses on a regex it cannot compile)."""
    if not pattern:
        return None
    try:
        return Pattern(pattern)
    except re.error:
        return None


@dataclass(frozen=True)
class Permission:
    configure: str = ANY
    write: str = ANY
    read: str = ANY
    _compiled: dict[Access, Pattern | None] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", {access: compile_pattern(getattr(self, access.value))
                                               for access in Access})

    def allows(self, access: Access, name: str) -> bool:
        """Whether the user may do `access` to the resource called `name`."""
        pattern = self._compiled[access]
        return pattern is not None and pattern.search(name)


FULL = Permission()  # what `rabbitmqctl set_permissions USER ".*" ".*" ".*"` grants


class PermissionTable:
    """Every user's permissions, by (user, vhost)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Permission] = {}
        self._decisions: dict[tuple[str, str], dict[str, Any]] = {}

    def decisions(self, user: str, vhost: str) -> dict[str, Any]:
        """The cache of decisions about the user in the vhost (what a session keeps in it is its
        own business); emptied at every change."""
        return self._decisions.setdefault((user, vhost), {})

    def changed(self) -> None:
        """Empty every decision cache: a permission (or topic permission) changed."""
        for cache in self._decisions.values():
            cache.clear()

    def set(self, user: str, vhost: str, permission: Permission = FULL) -> None:
        self._entries[(user, vhost)] = permission
        self.changed()

    def get(self, user: str, vhost: str) -> Permission | None:
        """The user's permission on the vhost; None when the user may not use it at all."""
        return self._entries.get((user, vhost))

    def clear(self, user: str, vhost: str) -> bool:
        """Remove one entry; whether there was one."""
        self.changed()
        return self._entries.pop((user, vhost), None) is not None

    def entries(self) -> list[tuple[str, str, Permission]]:
        """Every (user, vhost, permission), sorted by user then vhost."""
        return [(user, vhost, p) for (user, vhost), p in sorted(self._entries.items())]

    def forget(self, *, user: str | None = None, vhost: str | None = None) -> None:
        """Remove every entry of a user or of a vhost (which is being deleted)."""
        for key in [k for k in self._entries if k[0] == user or k[1] == vhost]:
            del self._entries[key]
        self.changed()
