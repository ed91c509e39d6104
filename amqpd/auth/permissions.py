"""Which users may use which vhosts, modelled as RabbitMQ models it.

A permission belongs to one (user, vhost) pair and is three regular expressions: the resources
(exchange and queue names) the user may configure, write to and read from. A user with no entry
for a vhost may not open it (Connection.Open gets 530). Only that is enforced so far: the three
expressions are kept, not yet matched against each operation.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = ".*"


@dataclass(frozen=True)
class Permission:
    configure: str = ANY
    write: str = ANY
    read: str = ANY


FULL = Permission()  # what `rabbitmqctl set_permissions USER ".*" ".*" ".*"` grants


class PermissionTable:
    """Every user's permissions, by (user, vhost)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Permission] = {}

    def set(self, user: str, vhost: str, permission: Permission = FULL) -> None:
        self._entries[(user, vhost)] = permission

    def get(self, user: str, vhost: str) -> Permission | None:
        """The user's permission on the vhost; None when the user may not use it at all."""
        return self._entries.get((user, vhost))

    def clear(self, user: str, vhost: str) -> bool:
        """Remove one entry; whether there was one."""
        return self._entries.pop((user, vhost), None) is not None

    def entries(self) -> list[tuple[str, str, Permission]]:
        """Every (user, vhost, permission), sorted by user then vhost."""
        return [(user, vhost, p) for (user, vhost), p in sorted(self._entries.items())]

    def forget(self, *, user: str | None = None, vhost: str | None = None) -> None:
        """Remove every entry of a user or of a vhost (which is being deleted)."""
        for key in [k for k in self._entries if k[0] == user or k[1] == vhost]:
            del self._entries[key]
