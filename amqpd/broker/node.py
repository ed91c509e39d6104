"""The node: every vhost and user, and the accounting shared by all connections."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import structlog

from amqpd.auth import Permission, PermissionTable, TopicPermission, TopicPermissionTable, User, UserTable
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.policies import Policy, PolicyError, PolicyKind
from amqpd.broker.recovery import restore
from amqpd.broker.stats import Churn, MessageStats, Rates
from amqpd.broker.timers import Timers
from amqpd.broker.vhost import VirtualHost
from amqpd.logs import LogLimiter
from amqpd.protocol import errors
from amqpd.settings import Settings

if TYPE_CHECKING:
    from amqpd.store import RecoveredAccess, Store

log = structlog.get_logger("amqpd.node")

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
        self.log_limiter = LogLimiter()  # for the lines a client causes at will (failed connections)
        self.name = settings.node_name or NODE_NAME
        self.loopback_users = LOOPBACK_USERS  # RabbitMQ's application env: kept across stop_app / start_app
        self.memory = MemoryLedger()  # what the memory alarm weighs against settings.memory_limit
        self.reset()

    def reset(self) -> None:
        """The node as start-up makes it before recovery: the configured users and vhosts, nothing
        else. __init__ runs it, and so does stop_app (its connections closed first), so that every
        holder of the node (the management apps, the alarms) keeps a valid one across start_app."""
        settings = self.settings
        self.vhosts: dict[str, VirtualHost] = {}
        self.users = UserTable()
        self.permissions = PermissionTable()
        self.topic_permissions = TopicPermissionTable(self.permissions.changed)
        self.connections: set[Any] = set()
        self.timers = Timers()  # deadlines of every vhost's queues; the server runs them
        self.memory = MemoryLedger(self.memory.baseline)
        self.cluster_name = self.name  # RabbitMQ's default: the node's name
        self.vhost_metadata: dict[str, VhostMetadata] = {}
        self.vhost_limits: dict[str, dict[str, int]] = {}  # vhost -> {max-connections, max-queues}
        self.user_limits: dict[str, dict[str, int]] = {}  # user -> {max-connections, max-channels}
        self.global_parameters: dict[str, Any] = {}  # set through the API (cluster_name is apart)
        self.definitions_hash: str | None = None  # of the definitions file imported last at start-up
        self.retired_stats = MessageStats()  # counts of the vhosts deleted
        self.retired_queue_stats: dict[str, MessageStats] = {}  # their queues' counts, by queue type
        self.retired_churn = Churn()
        self.rates = Rates()  # what the management API reports as *_details.rate
        self.users.add(settings.default_user, settings.default_pass,
                       settings.user_tags.get(settings.default_user, ["administrator"]),
                       loopback_only=settings.default_user in self.loopback_users)
        for name, password in settings.users.items():
            self.users.add(name, password, settings.user_tags.get(name), loopback_only=name in self.loopback_users)
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
            access = self.store.recover_access()
            self._restore_parameters(access.parameters)  # policies first: recovered queues get theirs
            restore(self, self.store.recover())
            self._restore_access(access)

    def _restore_parameters(self, parameters: list[tuple[str, str, str, str]]) -> None:
        """Policies, limits and global parameters stored through the management API."""
        for kind, scope, name, raw in parameters:
            value = json.loads(raw)
            if kind in (PolicyKind.POLICY.value, PolicyKind.OPERATOR.value):
                try:
                    policy = Policy.make(PolicyKind(kind), scope, name, value.get("pattern"), value.get("definition"),
                                         value.get("priority", 0), value.get("apply-to", "all"))
                except PolicyError as exc:
                    log.warning("skipped stored policy", vhost=scope, policy=name, reason=str(exc))
                    continue
                self.add_vhost(scope).policies.put(PolicyKind(kind), name, policy)  # no queues yet
            elif kind == "vhost-limits":
                self.vhost_limits.setdefault(scope, {})[name] = value
            elif kind == "user-limits":
                self.user_limits.setdefault(scope, {})[name] = value
            elif kind == "global-parameters":
                self.global_parameters[name] = value

    def _restore_access(self, access: "RecoveredAccess") -> None:
        """Users, vhosts and permissions made or changed through the management API: they win
        over the configuration's of the same name (the configuration's are made at every start)."""
        for name, password_hash, algorithm, tags in access.users:
            self.users.put(User(name, password_hash, json.loads(tags), name in self.loopback_users, algorithm))
        for name, metadata in access.vhosts:
            restored = self.vhost_metadata[name] = _metadata(json.loads(metadata))
            self.add_vhost(name).trace(restored.tracing, self.name)
        for user, vhost, configure, write, read in access.permissions:
            self.permissions.set(user, vhost, Permission(configure, write, read))
        for user, vhost, exchange, write, read in access.topic_permissions:
            self.topic_permissions.set(user, vhost, TopicPermission(exchange, write, read))
        self.cluster_name = access.settings.get("cluster_name", self.cluster_name)
        self.definitions_hash = access.settings.get("definitions_hash")

    def add_vhost(self, name: str) -> VirtualHost:
        if name not in self.vhosts:
            self.vhosts[name] = VirtualHost(name, self.store, self.settings.queue_window, self.timers,
                                             self.memory)
        return self.vhosts[name]

    # -- statistics, summed when read (broker/stats.py) ------------------------------------------------

    def message_stats(self, vhost: VirtualHost | None = None) -> MessageStats:
        """The channel counts of a vhost, or of the node: those of closed channels, kept by their
        vhost (or the node, for deleted vhosts), plus the live channels' own."""
        vhosts = [vhost] if vhost is not None else list(self.vhosts.values())
        parts = [v.stats for v in vhosts]
        parts += [channel.message_stats() for conn in self.connections if vhost is None or conn.vhost is vhost
                  for channel in conn.channels.values()]
        if vhost is None:
            parts.append(self.retired_stats)
        return MessageStats.total(parts)

    def queue_stats_by_type(self) -> dict[str, MessageStats]:
        """The queues' counts summed by queue type (``QueueType.kind``), deleted queues included:
        the split of the global delivery counters Prometheus labels with queue_type."""
        parts: dict[str, list[MessageStats]] = {}
        for kind, stats in self.retired_queue_stats.items():
            parts.setdefault(kind, []).append(stats)
        for vhost in self.vhosts.values():
            for kind, stats in vhost.retired_queue_stats.items():
                parts.setdefault(kind, []).append(stats)
            for queue in vhost.queues.values():
                parts.setdefault(queue.kind, []).append(queue.message_stats())
        return {kind: MessageStats.total(found) for kind, found in parts.items()}

    def churn(self) -> Churn:
        """Connections, channels and queues created and closed since start-up."""
        return Churn.total([self.retired_churn, *(v.churn for v in self.vhosts.values())])

    # -- the management API's changes: applied here, written to the store, never awaited -------------

    def put_vhost(self, name: str, metadata: VhostMetadata) -> bool:
        """Create or update a vhost; whether it was created."""
        created = name not in self.vhosts
        self.add_vhost(name).trace(metadata.tracing, self.name)
        self.vhost_metadata[name] = metadata
        if self.store is not None:
            self.store.save_vhost(name, {**asdict(metadata), "tags": list(metadata.tags)})
        return created

    def set_tracing(self, name: str, on: bool) -> None:
        """The firehose of a vhost on or off (kept in its metadata, which the API shows)."""
        self.put_vhost(name, replace(self.vhost_metadata.get(name, VhostMetadata()), tracing=on))

    def delete_vhost(self, name: str) -> bool:
        """Delete a vhost with its queues and exchanges; its connections are closed (320) as RabbitMQ does."""
        vhost = self.vhosts.pop(name, None)
        if vhost is None:
            return False
        self._close_connections(lambda conn: conn.vhost is vhost, f"vhost '{name}' is deleted")
        for queue in list(vhost.queues.values()):
            vhost.remove_queue(queue)  # stops its timers and releases its memory
        self.retired_stats.add(vhost.stats)  # the node's totals never go down
        for kind, stats in vhost.retired_queue_stats.items():
            self.retired_queue_stats.setdefault(kind, MessageStats()).add(stats)
        self.retired_churn.add(vhost.churn)
        self.vhost_metadata.pop(name, None)
        self.vhost_limits.pop(name, None)
        self.permissions.forget(vhost=name)
        self.topic_permissions.forget(vhost=name)
        if self.store is not None:
            self.store.delete_vhost(name)
            for kind in (PolicyKind.POLICY.value, PolicyKind.OPERATOR.value, "vhost-limits"):
                self.store.delete_parameters(kind, name)
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
        self.user_limits.pop(name, None)
        if self.store is not None:
            self.store.delete_user(name)
            self.store.delete_parameters("user-limits", name)
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

    def set_loopback_users(self, names: frozenset[str]) -> None:
        """RabbitMQ's loopback_users: who may log in from localhost only (at once, for every user)."""
        self.loopback_users = names
        for user in self.users.users.values():
            user.loopback_only = user.name in names

    def set_cluster_name(self, name: str) -> None:
        self.cluster_name = name
        if self.store is not None:
            self.store.save_setting("cluster_name", name)

    def set_definitions_hash(self, digest: str) -> None:
        self.definitions_hash = digest
        if self.store is not None:
            self.store.save_setting("definitions_hash", digest)

    # -- policies, limits and global parameters ----------------------------------------------

    def put_policy(self, kind: PolicyKind, policy: Policy) -> bool:
        """Add or replace a (checked) policy in its vhost, applied at once; whether it was new."""
        if self.store is not None:
            self.store.save_parameter(kind.value, policy.vhost, policy.name, policy.as_json())
        return self.vhosts[policy.vhost].put_policy(kind, policy)

    def delete_policy(self, kind: PolicyKind, vhost: str, name: str) -> bool:
        host = self.vhosts.get(vhost)
        if host is None or not host.delete_policy(kind, name):
            return False
        if self.store is not None:
            self.store.delete_parameter(kind.value, vhost, name)
        return True

    def vhost_limit(self, vhost: str, name: str) -> int | None:
        """A vhost's max-connections or max-queues; None when unset (a negative value is no limit too)."""
        return self.vhost_limits.get(vhost, {}).get(name)

    def user_limit(self, user: str, name: str) -> int | None:
        """A user's max-connections or max-channels; None when unset (a negative value is no limit too)."""
        return self.user_limits.get(user, {}).get(name)

    def set_limit(self, kind: str, scope: str, name: str, value: int) -> None:
        """kind "vhost-limits" (scope a vhost) or "user-limits" (scope a user)."""
        self._limits(kind).setdefault(scope, {})[name] = value
        if self.store is not None:
            self.store.save_parameter(kind, scope, name, value)

    def clear_limit(self, kind: str, scope: str, name: str) -> None:
        limits = self._limits(kind).get(scope, {})
        if limits.pop(name, None) is not None and self.store is not None:
            self.store.delete_parameter(kind, scope, name)
        if not limits:
            self._limits(kind).pop(scope, None)

    def _limits(self, kind: str) -> dict[str, dict[str, int]]:
        return self.vhost_limits if kind == "vhost-limits" else self.user_limits

    def set_global_parameter(self, name: str, value: Any) -> bool:
        """Set a global parameter (cluster_name sets the cluster's name); whether it was new."""
        if name == "cluster_name":
            self.set_cluster_name(str(value))
            return False
        created = name not in self.global_parameters
        self.global_parameters[name] = value
        if self.store is not None:
            self.store.save_parameter("global-parameters", "", name, value)
        return created

    def delete_global_parameter(self, name: str) -> bool:
        if self.global_parameters.pop(name, None) is None:
            return False
        if self.store is not None:
            self.store.delete_parameter("global-parameters", "", name)
        return True

    def _close_connections(self, which: Callable[[Any], bool], reason: str) -> None:
        for conn in [c for c in self.connections if which(c)]:
            conn.close_with(errors.ConnectionError(errors.CONNECTION_FORCED, reason))


def _metadata(stored: dict[str, Any]) -> VhostMetadata:
    return VhostMetadata(str(stored.get("description", "")), tuple(stored.get("tags", ())),
                         str(stored.get("default_queue_type", "undefined")), bool(stored.get("tracing", False)))
