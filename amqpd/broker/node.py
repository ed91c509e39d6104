"""The node: every vhost and user, and the accounting shared by all connections."""

from __future__ import annotations

from typing import Any

from amqpd.auth.users import UserTable
from amqpd.broker.vhost import VirtualHost
from amqpd.config import Settings

PRODUCT = "RabbitMQ"
COMPATIBLE_VERSION = "3.10.8"
LOOPBACK_USERS = frozenset({"guest"})  # RabbitMQ's default loopback_users: by name, whoever defines them


class Node:
    """Owns the broker state; only the event-loop thread touches it, so nothing is locked."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.vhosts: dict[str, VirtualHost] = {}
        self.users = UserTable()
        self.connections: set[Any] = set()
        self.users.add(settings.default_user, settings.default_pass, ["administrator"],
                       loopback_only=settings.default_user in LOOPBACK_USERS)
        for name, password in settings.users.items():
            self.users.add(name, password, loopback_only=name in LOOPBACK_USERS)
        for name in settings.all_vhosts():
            self.add_vhost(name)

    def add_vhost(self, name: str) -> VirtualHost:
        if name not in self.vhosts:
            self.vhosts[name] = VirtualHost(name)
        return self.vhosts[name]
