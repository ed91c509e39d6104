"""The node's own operator: the routes `amqpctl` uses on the control socket beside RabbitMQ's API.

The control socket (Settings.control_socket, a Unix socket in the data directory that only its
owner may open) serves the whole management API without a password, as the node's operator,
plus the routes here, which no TCP listener serves: what rabbitmqctl reaches through Erlang
distribution rather than HTTP (status, stop, stop_app / start_app, alarms, the application
environment, tracing, authenticate_user). The server layer does the work behind the
``NodeControl`` it hands over; this module only speaks HTTP for it. stop_app and start_app
answer once done, as rabbitmqctl returns once the app is down or up.
"""

from __future__ import annotations

import math
from typing import Any, Awaitable

from starlette.responses import Response

from amqpd.auth import User
from amqpd.management.api import Call, Endpoint, boolean, no_content, reply
from amqpd.management.auth import Caller, Need
from amqpd.management.errors import bad_request, not_found
from amqpd.management.node_control import NodeControl

# who acts through the control socket (RabbitMQ's CLI acts as "rmq-cli")
OPERATOR = Caller(User("rmq-cli", "", ["administrator"]), control=True)
RESOURCES = ("memory", "disk")


def _control(call: Call) -> NodeControl:
    assert call.control is not None  # these routes are only served on the control socket
    return call.control


def status(call: Call) -> Response:
    return reply(_control(call).status())


def stop(call: Call) -> Response:
    _control(call).stop()
    return no_content()


async def _done(step: Awaitable[None]) -> Response:
    await step
    return no_content()


def stop_app(call: Call) -> Awaitable[Response]:
    return _done(_control(call).stop_app())


def start_app(call: Call) -> Awaitable[Response]:
    return _done(_control(call).start_app())


def alarm(call: Call) -> Response:
    """rabbit_alarm:set_alarm / clear_alarm for a resource limit."""
    resource = call.params["resource"]
    if resource not in RESOURCES:
        raise not_found()
    _control(call).set_alarm(resource, _on(call))
    return no_content()


def memory_watermark(call: Call) -> Response:
    """{"fraction": f} of the machine's memory (vm_memory_high_watermark) or {"absolute": bytes}."""
    body = call.body()
    fraction, absolute = body.get("fraction"), body.get("absolute")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < math.inf:
            raise bad_request("fraction must be a non-negative number")
        _control(call).set_memory_watermark(float(fraction), None)
    elif absolute is not None:
        if isinstance(absolute, bool) or not isinstance(absolute, int) or absolute < 0:
            raise bad_request("absolute must be a non-negative integer (bytes)")
        _control(call).set_memory_watermark(None, absolute)
    else:
        raise bad_request("[{key_missing,fraction}]")
    return no_content()


def environment(call: Call) -> Response:
    """application:set_env(rabbit, Key, Value) for the keys amqpd has: channel_max (for the
    connections opened from now on) and loopback_users (names that may log in from localhost only)."""
    key, value = call.params["key"], call.body().get("value")
    if key == "channel_max":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise bad_request("channel_max must be an integer from 0 to 65535")
        call.node.settings.channel_max = value
    elif key == "loopback_users":
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise bad_request("loopback_users must be a list of user names")
        call.node.set_loopback_users(frozenset(value))
    else:
        raise not_found()
    return no_content()


def trace(call: Call) -> Response:
    """rabbitmqctl trace_on / trace_off -p VHOST."""
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise not_found()
    call.node.set_tracing(vhost, _on(call))
    return no_content()


def authenticate(call: Call) -> Response:
    """rabbitmqctl authenticate_user: whether the password is the user's (no loopback rule, no tags)."""
    body = call.body()
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise bad_request("[{key_missing,user},{key_missing,password}]")
    if call.node.users.authenticate(user, password, True) is None:
        return reply({"error": "not_authorised",
                      "reason": f"user '{user}' - {_why(call, user)}"}, status=401)
    return reply({"ok": True})


def _why(call: Call, user: str) -> str:
    return "invalid credentials" if user in call.node.users.users else "user does not exist"


def _on(call: Call) -> bool:
    body: dict[str, Any] = call.body()
    if "on" not in body:
        raise bad_request("[{key_missing,on}]")
    return boolean(body, "on", False)


ENDPOINTS = [
    Endpoint("/control/status", "GET", Need.CONTROL, status),
    Endpoint("/control/stop", "POST", Need.CONTROL, stop),
    Endpoint("/control/stop_app", "POST", Need.CONTROL, stop_app),
    Endpoint("/control/start_app", "POST", Need.CONTROL, start_app),
    Endpoint("/control/alarms/{resource}", "PUT", Need.CONTROL, alarm),
    Endpoint("/control/memory-high-watermark", "PUT", Need.CONTROL, memory_watermark),
    Endpoint("/control/env/{key}", "PUT", Need.CONTROL, environment),
    Endpoint("/control/trace/{vhost}", "PUT", Need.CONTROL, trace),
    Endpoint("/control/authenticate", "POST", Need.CONTROL, authenticate),
]
