"""The node: every vhost and user, and the accounting shared by all connections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amqpd.auth import PermissionTable, UserTable
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.recovery import restore
from amqpd.broker.timers import Timers
from amqpd.broker.vhost import VirtualHost
from amqpd.logs import LogLimiter
from amqpd.settings import Settings

if TYPE_CHECKING:
    from amqpd.store import Store

PRODUCT = "RabbitMQ"
COMPATIBLE_VERSION = "3.10.8"
LOOPBACK_USERS = frozenset({"guest"})  # RabbitMQ's default loopback_users: by name, whoever defines them


class Node:
    """Owns the broker state; only the event-loop thread touches it, so nothing is locked."""

    def __init__(self, settings: Settings, store: "Store | None" = None) -> None:
        """Without a store nothing survives a restart (the sans-IO tests run so)."""
        self.settings = settings
        self.store = store
        self.vhosts: dict[str, VirtualHost] = {}
        self.users = UserTable()
        self.permissions = PermissionTable()
        self.connections: set[Any] = set()
        self.timers = Timers()  # deadlines of every vhost's queues; the server runs them
        self.log_limiter = LogLimiter()  # for the lines a client causes at will (failed connections)
        self.memory = MemoryLedger()  # what the memory alarm weighs against settings.memory_limit
        self.users.add(settings.default_user, settings.default_pass, ["administrator"],
                       loopback_only=settings.default_user in LOOPBACK_USERS)
        for name, password in settings.users.items():
            self.users.add(name, password, loopback_only=name in LOOPBACK_USERS)
        for name in settings.all_vhosts():
            self.add_vhost(name)
            # RabbitMQ grants the default user the default vhost; amqpd every vhost made at start
            self.permissions.set(settings.default_user, name)
        for user, vhosts in settings.permissions.items():
            for name in vhosts:
                self.permissions.set(user, name)

    def recover(self) -> None:
        """Rebuild durable state from the store (a start-up step, after the port is bound)."""
        if self.store is not None:
            restore(self, self.store.recover())

    def add_vhost(self, name: str) -> VirtualHost:
        if name not in self.vhosts:
            self.vhosts[name] = VirtualHost(name, self.store, self.settings.queue_window, self.timers,
                                             self.memory)
        return self.vhosts[name]
