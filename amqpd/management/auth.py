"""Who is asking: HTTP Basic credentials checked against the node's users, and RabbitMQ's tag rules.

A user may use the API only with one of the management tags; administrators may do everything,
monitoring users read everything, a management user sees the vhosts it has permissions in.
The password is compared in constant time (auth.users) and never logged.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

import structlog

from amqpd.auth import MANAGEMENT_TAGS, User, check_password, is_loopback
from amqpd.broker import Node
from amqpd.management.errors import ApiError, login_failed, malformed, no_credentials, not_authorised, not_found

log = structlog.get_logger("amqpd.management")
_DUMMY_HASH = "AAAAAMZjJ7xbC4uQN639Y8Kp8ZIs4hRKpROzkNSLw4euPr/2"  # compared when the user is unknown


class Need(Enum):
    """What a route asks of the user (RabbitMQ's is_authorized_* predicates)."""

    MANAGEMENT = "management"  # any management tag
    MONITOR = "monitor"  # administrator or monitoring
    ADMIN = "admin"  # administrator
    VHOST = "vhost"  # administrator, or permissions in the path's vhost
    POLICYMAKER = "policymaker"  # administrator, or policymaker with permissions in the path's vhost (if any)
    CONTROL = "control"  # the node's operator on the control socket (these routes are served nowhere else)


@dataclass(frozen=True)
class Caller:
    user: User
    control: bool = False  # the node's operator, on the control socket

    @property
    def is_admin(self) -> bool:
        return "administrator" in self.user.tags

    @property
    def is_monitor(self) -> bool:
        return self.is_admin or "monitoring" in self.user.tags

    def may_use(self, node: Node, vhost: str) -> bool:
        return self.is_admin or node.permissions.get(self.user.name, vhost) is not None


def authenticate(node: Node, authorization: str | None, peer_host: str | None) -> Caller:
    """The caller named by an Authorization header, or the ApiError RabbitMQ answers."""
    if authorization is None:
        raise no_credentials()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise login_failed()
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise malformed() from None
    name, sep, password = decoded.partition(":")
    if not sep:
        raise malformed()
    user = node.users.users.get(name)
    if user is None:
        check_password(password, _DUMMY_HASH)  # the same work as for a known name
        _denied(node, name, "user does not exist")
    if not check_password(password, user.password_hash, user.hashing_algorithm):
        _denied(node, name, "invalid credentials")
    if user.loopback_only and not (peer_host is not None and is_loopback(peer_host)):
        raise not_authorised("User can only log in via localhost")
    if not set(user.tags) & set(MANAGEMENT_TAGS):
        raise not_authorised("Not management user")
    return Caller(user)


def _denied(node: Node, name: str, reason: str) -> NoReturn:
    """Log a failed login as RabbitMQ does (the name, never the password; rate-limited) and refuse it."""
    node.log_limiter.log(log.warning, "HTTP access denied", key="http-login", user=name[:100], reason=reason)
    raise login_failed()


def authorize(caller: Caller, node: Node, need: Need, vhost: str | None = None) -> None:
    """Raise RabbitMQ's 401 when the caller lacks what the route needs."""
    if need is Need.CONTROL and not caller.control:
        raise not_found()
    if need is Need.ADMIN and not caller.is_admin:
        raise not_authorised("Not administrator user")
    if need is Need.MONITOR and not caller.is_monitor:
        raise not_authorised("Not monitor user")
    if need is Need.VHOST and vhost is not None and not caller.may_use(node, vhost):
        raise not_authorised("User not authorised to access virtual host")
    if need is Need.POLICYMAKER and not (caller.is_admin or "policymaker" in caller.user.tags and (
            vhost is None or caller.may_use(node, vhost))):
        raise not_authorised("User not authorised to access object")


__all__ = ["ApiError", "Caller", "Need", "authenticate", "authorize"]
