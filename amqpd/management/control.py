"""The node's own operator: the routes `amqpctl` uses on the control socket beside RabbitMQ's API.

The control socket (Settings.control_socket, a Unix socket in the data directory that only its
owner may open) serves the whole management API without a password, as the node's operator,
plus the routes here, which no TCP listener serves: what rabbitmqctl reaches through Erlang
distribution rather than HTTP (status, stop). The server layer does the work behind the
``NodeControl`` it hands over; this module only speaks HTTP for it.
"""

from __future__ import annotations

from starlette.responses import Response

from amqpd.auth import User
from amqpd.management.api import Call, Endpoint, no_content, reply
from amqpd.management.auth import Caller, Need
from amqpd.management.node_control import NodeControl

# who acts through the control socket (RabbitMQ's CLI acts as "rmq-cli")
OPERATOR = Caller(User("rmq-cli", "", ["administrator"]), control=True)


def _control(call: Call) -> NodeControl:
    assert call.control is not None  # these routes are only served on the control socket
    return call.control


def status(call: Call) -> Response:
    return reply(_control(call).status())


def stop(call: Call) -> Response:
    _control(call).stop()
    return no_content()


ENDPOINTS = [
    Endpoint("/control/status", "GET", Need.CONTROL, status),
    Endpoint("/control/stop", "POST", Need.CONTROL, stop),
]
