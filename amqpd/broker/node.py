"""The node: every vhost and user, and the accounting shared by all connections."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable

from amqpd.auth import Permission, PermissionTable, TopicPermission, TopicPermissionTable, User, UserTable
from amqpd.broker.limits import NO_USER_LIMITS, NO_VHOST_LIMITS, UserLimits, VhostLimits
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.recovery import restore
from amqpd.broker.timers import Timers
from amqpd.broker.vhost import VirtualHost
from amqpd.logs import LogLimiter
from amqpd.protocol import errors
from amqpd.settings import Settings

if TYPE_CHECKING:
    from amqpd.store import Store

PRODUCT = "RabbitMQ"
COMPATIBLE_VERSION = "3.10.8"
LOOPBACK_USERS = frozenset({"guest"})  # RabbitMQ's default loopback_users: by name, whoever defines them
NODE_NAME = f"amqpd@{socket.gethostname().split('.')[0]}"  # RabbitMQ's is rabbit@<short host name>


@dataclass(frozen=True)
class VhostMetadata:
    """What RabbitMQ keeps about a vhost besides its contents (set through the management API)."""

    description: str = ""
    tags: tuple[str, ...] = ()
    default_queue_type: str = "undefined"
    tracing: bool = False


class Node:
    """Owns the broker state; only the event-loop thread touches it, so nothing is locked."""

    def __init__(self, settings: Settings, store: "Store | None" = None) -> None:
        """Without a store nothing survives a restart (the sans-IO tests run so)."""
        self.settings = settings
        self.store = store
        self.vhosts: dict[str, VirtualHost] = {}
        self.users = UserTable()
        self.permissions = PermissionTable()
        self.topic_permissions = TopicPermissionTable(self.permissions.changed)
        self._vhost_limits: dict[str, VhostLimits] = {}
        self._user_limits: dict[str, UserLimits] = {}
        self.connections: set[Any] = set()
        self.timers = Timers()  # deadlines of every vhost's queues; the server runs them
        self.log_limiter = LogLimiter()  # for the lines a client causes at will (failed connections)
        self.memory = MemoryLedger()  # what the memory alarm weighs against settings.memory_limit
        self.name = NODE_NAME
        self.cluster_name = NODE_NAME  # RabbitMQ's default: the node's name
        self.vhost_metadata: dict[str, VhostMetadata] = {}
        self.users.add(settings.default_user, settings.default_pass,
                       settings.user_tags.get(settings.default_user, ["administrator"]),
                       loopback_only=settings.default_user in LOOPBACK_USERS)
        for name, password in settings.users.items():
            self.users.add(name, password, settings.user_tags.get(name), loopback_only=name in LOOPBACK_USERS)
        for name in settings.all_vhosts():
            self.add_vhost(name)
            # RabbitMQ grants the default user the default vhost; amqpd every vhost made at start
            self.permissions.set(settings.default_user, name)
        self.vhost_metadata[settings.default_vhost] = VhostMetadata("Default virtual host")  # as RabbitMQ's
        for user, vhosts in settings.permissions.items():
            for name in vhosts:
                self.permissions.set(user, name)

    def recover(self) -> None:
        """Rebuild durable state from the store (a start-up step, after the port is bound)."""
        if self.store is not None:
            restore(self, self.store.recover())
            self._restore_access()

    def _restore_access(self) -> None:
        """Users, vhosts and permissions made or changed through the management API: they win
        over the configuration's of the same name (the configuration's are made at every start)."""
        assert self.store is not None
        access = self.store.recover_access()
        for name, password_hash, algorithm, tags in access.users:
            self.users.put(User(name, password_hash, json.loads(tags), name in LOOPBACK_USERS, algorithm))
        for name, metadata in access.vhosts:
            self.add_vhost(name)
            self.vhost_metadata[name] = _metadata(json.loads(metadata))
        for user, vhost, configure, write, read in access.permissions:
            self.permissions.set(user, vhost, Permission(configure, write, read))
        for user, vhost, exchange, write, read in access.topic_permissions:
            self.topic_permissions.set(user, vhost, TopicPermission(exchange, write, read))
        self.cluster_name = access.settings.get("cluster_name", self.cluster_name)

    def add_vhost(self, name: str) -> VirtualHost:
        if name not in self.vhosts:
            self.vhosts[name] = VirtualHost(name, self.store, self.settings.queue_window, self.timers,
                                             self.memory)
        return self.vhosts[name]

    # -- the management API's changes: applied here, written to the store, never awaited -------------

    def put_vhost(self, name: str, metadata: VhostMetadata) -> bool:
        """Create or update a vhost; whether it was created."""
        created = name not in self.vhosts
        self.add_vhost(name)
        self.vhost_metadata[name] = metadata
        if self.store is not None:
            self.store.save_vhost(name, {**asdict(metadata), "tags": list(metadata.tags)})
        return created

    def delete_vhost(self, name: str) -> bool:
        """Delete a vhost with its queues and exchanges; its connections are closed (320) as RabbitMQ does."""
        vhost = self.vhosts.pop(name, None)
        if vhost is None:
            return False
        self._close_connections(lambda conn: conn.vhost is vhost, f"vhost '{name}' is deleted")
        for queue in list(vhost.queues.values()):
            vhost.remove_queue(queue)  # stops its timers and releases its memory
        self.vhost_metadata.pop(name, None)
        self.permissions.forget(vhost=name)
        self.topic_permissions.forget(vhost=name)
        self._vhost_limits.pop(name, None)
        if self.store is not None:
            self.store.delete_vhost(name)
        return True

    def put_user(self, user: User) -> bool:
        """Create or replace a user; whether it was created."""
        created = user.name not in self.users.users
        self.users.put(user)
        if self.store is not None:
            self.store.save_user(user.name, user.password_hash, user.hashing_algorithm, user.tags)
        return created

    def delete_user(self, name: str) -> bool:
        """Delete a user and its permissions; its connections are closed (320) as RabbitMQ does."""
        if self.users.remove(name) is None:
            return False
        self._close_connections(lambda conn: conn.user == name, f"user '{name}' is deleted")
        self.permissions.forget(user=name)
        self.topic_permissions.forget(user=name)
        self._user_limits.pop(name, None)
        if self.store is not None:
            self.store.delete_user(name)
        return True

    def set_permission(self, user: str, vhost: str, permission: Permission) -> bool:
        """Grant a user a vhost; whether the entry is new."""
        created = self.permissions.get(user, vhost) is None
        self.permissions.set(user, vhost, permission)
        if self.store is not None:
            self.store.save_permission(user, vhost, permission.configure, permission.write, permission.read)
        return created

    def clear_permission(self, user: str, vhost: str) -> bool:
        if not self.permissions.clear(user, vhost):
            return False
        if self.store is not None:
            self.store.delete_permission(user, vhost)
        return True

    def set_topic_permission(self, user: str, vhost: str, permission: TopicPermission) -> bool:
        """Limit a user's routing keys on one exchange; whether it is the user's first entry in the
        vhost (RabbitMQ's API answers 201 then, 204 after)."""
        created = not self.topic_permissions.of(user, vhost)
        self.topic_permissions.set(user, vhost, permission)
        if self.store is not None:
            self.store.save_topic_permission(user, vhost, permission.exchange, permission.write, permission.read)
        return created

    def clear_topic_permission(self, user: str, vhost: str, exchange: str | None = None) -> bool:
        """Remove the entry for one exchange, or all of the user's in the vhost; whether any went."""
        if not self.topic_permissions.clear(user, vhost, exchange):
            return False
        if self.store is not None:
            self.store.delete_topic_permission(user, vhost, exchange)
        return True

    def vhost_limits(self, name: str) -> VhostLimits:
        return self._vhost_limits.get(name, NO_VHOST_LIMITS)

    def set_vhost_limits(self, name: str, limits: VhostLimits) -> None:
        """Set (NO_VHOST_LIMITS: clear) a vhost's limits; they hold for new connections and queues."""
        self._vhost_limits[name] = limits

    def user_limits(self, name: str) -> UserLimits:
        return self._user_limits.get(name, NO_USER_LIMITS)

    def set_user_limits(self, name: str, limits: UserLimits) -> None:
        """Set (NO_USER_LIMITS: clear) a user's limits; they hold for new connections and channels."""
        self._user_limits[name] = limits

    def set_cluster_name(self, name: str) -> None:
        self.cluster_name = name
        if self.store is not None:
            self.store.save_setting("cluster_name", name)

    def _close_connections(self, which: Callable[[Any], bool], reason: str) -> None:
        for conn in [c for c in self.connections if which(c)]:
            conn.close_with(errors.ConnectionError(errors.CONNECTION_FORCED, reason))


def _metadata(stored: dict[str, Any]) -> VhostMetadata:
    return VhostMetadata(str(stored.get("description", "")), tuple(stored.get("tags", ())),
                         str(stored.get("default_queue_type", "undefined")), bool(stored.get("tracing", False)))
