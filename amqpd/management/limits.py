"""/api/vhost-limits and /api/user-limits: the limits the node holds (broker/limits.py) and the
session enforces, with RabbitMQ 3.10.8's answers: PUT `{"value": N}` (an integer; negative means
no limit) → 204, DELETE → 204 even when unset, GET of a vhost or user without limits → `[]`.
Not yet written to the store (they do not survive a restart)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any, Callable, TypeVar

from starlette.responses import Response

from amqpd.broker import UserLimits, VhostLimits
from amqpd.management.api import Call, Endpoint, no_content, reply
from amqpd.management.auth import Need
from amqpd.management.errors import ApiError, bad_request, key_missing, not_found

Limits = TypeVar("Limits", VhostLimits, UserLimits)


def _key(attribute: str) -> str:
    return attribute.replace("_", "-")  # max_queues -> max-queues, RabbitMQ's name


def limits_object(limits: VhostLimits | UserLimits) -> dict[str, int]:
    """The limits that are set, by RabbitMQ's names."""
    return {_key(f.name): getattr(limits, f.name) for f in fields(limits) if getattr(limits, f.name) is not None}


def _erlang_term(value: Any) -> str:
    """A JSON value as RabbitMQ's validation message prints it (strings as Erlang binaries)."""
    if isinstance(value, str):
        return f"<<{json.dumps(value)}>>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else json.dumps(value)


def _updated(limits: Limits, name: str, body: dict[str, Any], what: str, wrap: Callable[[str], str]) -> Limits:
    """The limits with `name` set from the body's value, or RabbitMQ's 400."""
    if "value" not in body:
        raise key_missing("value")
    value = body["value"]
    attribute = name.replace("-", "_")
    if attribute not in {f.name for f in fields(limits)}:
        raise bad_request(wrap(f"Unrecognised terms [{{<<{json.dumps(name)}>>,{_erlang_term(value)}}}] in {what}"))
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(wrap(f"{name} should be a number, actually was {_erlang_term(value)}"))
    return replace(limits, **{attribute: value})


def _cleared(limits: Limits, name: str) -> Limits:
    attribute = name.replace("-", "_")
    if attribute not in {f.name for f in fields(limits)}:
        return limits
    return replace(limits, **{attribute: None})


def _validation_failed(reason: str) -> str:
    return f"Validation failed\n\n{reason}\n"


def _vhost(call: Call) -> str:
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise not_found()
    return vhost


def _user(call: Call) -> str:
    user = call.params["user"]
    if user not in call.node.users.users:
        raise not_found()
    return user


def list_vhost_limits(call: Call) -> Response:
    items = [{"vhost": v, "value": limits_object(call.node.vhost_limits(v))} for v in sorted(call.node.vhosts)]
    return reply([item for item in items if item["value"]], call)


def show_vhost_limits(call: Call) -> Response:
    vhost = _vhost(call)
    value = limits_object(call.node.vhost_limits(vhost))
    return reply([{"vhost": vhost, "value": value}] if value else [], call)


def put_vhost_limit(call: Call) -> Response:
    vhost = call.params["vhost"]
    body = call.body()
    if vhost not in call.node.vhosts:
        raise ApiError(404, "not_found", "vhost_not_found")
    limits = _updated(call.node.vhost_limits(vhost), call.params["name"], body, "limits", _validation_failed)
    call.node.set_vhost_limits(vhost, limits)
    return no_content()


def delete_vhost_limit(call: Call) -> Response:
    vhost = _vhost(call)
    call.node.set_vhost_limits(vhost, _cleared(call.node.vhost_limits(vhost), call.params["name"]))
    return no_content()


def list_user_limits(call: Call) -> Response:
    items = [{"user": u, "value": limits_object(call.node.user_limits(u))} for u in sorted(call.node.users.users)]
    return reply([item for item in items if item["value"]], call)


def show_user_limits(call: Call) -> Response:
    user = _user(call)
    value = limits_object(call.node.user_limits(user))
    return reply([{"user": user, "value": value}] if value else [], call)


def put_user_limit(call: Call) -> Response:
    user = call.params["user"]
    body = call.body()
    if user not in call.node.users.users:
        raise bad_request(["no_such_user", user])
    limits = _updated(call.node.user_limits(user), call.params["name"], body, "user-limits", str)
    call.node.set_user_limits(user, limits)
    return no_content()


def delete_user_limit(call: Call) -> Response:
    user = _user(call)
    call.node.set_user_limits(user, _cleared(call.node.user_limits(user), call.params["name"]))
    return no_content()


ENDPOINTS = [
    Endpoint("/api/vhost-limits", "GET", Need.ADMIN, list_vhost_limits),
    Endpoint("/api/vhost-limits/{vhost}", "GET", Need.ADMIN, show_vhost_limits),
    Endpoint("/api/vhost-limits/{vhost}/{name}", "PUT", Need.ADMIN, put_vhost_limit),
    Endpoint("/api/vhost-limits/{vhost}/{name}", "DELETE", Need.ADMIN, delete_vhost_limit),
    Endpoint("/api/user-limits", "GET", Need.ADMIN, list_user_limits),
    Endpoint("/api/user-limits/{user}", "GET", Need.ADMIN, show_user_limits),
    Endpoint("/api/user-limits/{user}/{name}", "PUT", Need.ADMIN, put_user_limit),
    Endpoint("/api/user-limits/{user}/{name}", "DELETE", Need.ADMIN, delete_user_limit),
]
