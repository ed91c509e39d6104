"""/api/topic-permissions: per (user, vhost, exchange) write and read expressions for routing keys
on topic exchanges, as RabbitMQ 3.10.8 answers them: PUT is 201 for the user's first entry in the
vhost and 204 after; GET of a (vhost, user) and DELETE (of all or of one exchange) are 404 when the
user has no entry in the vhost (DELETE of an exchange without an entry is 204 otherwise)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from amqpd.auth import TopicPermission
from amqpd.management.api import Call, Endpoint, created, no_content, reply, text
from amqpd.management.auth import Need
from amqpd.management.errors import bad_request, key_missing, not_found
from amqpd.management.users import regex


def topic_permission_object(user: str, vhost: str, permission: TopicPermission) -> dict[str, Any]:
    return {"user": user, "vhost": vhost, "exchange": permission.exchange, "write": permission.write,
            "read": permission.read}


def list_all(call: Call) -> Response:
    return reply([topic_permission_object(*e) for e in call.node.topic_permissions.entries()], call)


def of_vhost(call: Call) -> Response:
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise not_found()
    return reply([topic_permission_object(*e) for e in call.node.topic_permissions.entries() if e[1] == vhost], call)


def of_user(call: Call) -> Response:
    user = call.params["user"]
    if user not in call.node.users.users:
        raise not_found()
    return reply([topic_permission_object(*e) for e in call.node.topic_permissions.entries() if e[0] == user], call)


def _existing(call: Call) -> tuple[str, str, list[TopicPermission]]:
    """The path's vhost and user with the user's entries there; 404 when there are none."""
    vhost, user = call.params["vhost"], call.params["user"]
    entries = call.node.topic_permissions.of(user, vhost)
    if not entries or vhost not in call.node.vhosts:
        raise not_found()
    return vhost, user, entries


def show(call: Call) -> Response:
    vhost, user, entries = _existing(call)
    return reply([topic_permission_object(user, vhost, p) for p in entries], call)


def put(call: Call) -> Response:
    vhost, user = call.params["vhost"], call.params["user"]
    body = call.body()
    missing = [key for key in ("exchange", "write", "read") if key not in body]
    if missing:
        raise key_missing(*missing)
    permission = TopicPermission(text(body, "exchange"), regex(body, "write"), regex(body, "read"))
    if vhost not in call.node.vhosts or user not in call.node.users.users:
        raise bad_request("vhost_or_user_not_found")
    return created(call.node.set_topic_permission(user, vhost, permission))


def delete_all(call: Call) -> Response:
    vhost, user, _ = _existing(call)
    call.node.clear_topic_permission(user, vhost)
    return no_content()


def delete_one(call: Call) -> Response:
    vhost, user, _ = _existing(call)
    call.node.clear_topic_permission(user, vhost, call.params["exchange"])
    return no_content()


ENDPOINTS = [
    Endpoint("/api/topic-permissions", "GET", Need.ADMIN, list_all),
    Endpoint("/api/topic-permissions/{vhost}/{user}", "GET", Need.ADMIN, show),
    Endpoint("/api/topic-permissions/{vhost}/{user}", "PUT", Need.ADMIN, put),
    Endpoint("/api/topic-permissions/{vhost}/{user}", "DELETE", Need.ADMIN, delete_all),
    Endpoint("/api/topic-permissions/{vhost}/{user}/{exchange}", "DELETE", Need.ADMIN, delete_one),
    Endpoint("/api/vhosts/{vhost}/topic-permissions", "GET", Need.ADMIN, of_vhost),
    Endpoint("/api/users/{user}/topic-permissions", "GET", Need.ADMIN, of_user),
]
