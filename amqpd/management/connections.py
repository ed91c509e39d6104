"""/api/connections, /api/channels and /api/consumers: the node's AMQP clients as RabbitMQ shows them.

A user without the monitoring or administrator tag sees only its own connections (and their
channels and consumers). DELETE closes a connection as RabbitMQ does: Connection.Close 320
`CONNECTION_FORCED - <reason>`, the reason being the X-Reason header or
"Closed via management plugin".
"""

from __future__ import annotations

from typing import Any, Iterable

from starlette.responses import Response

from amqpd.management import lists, objstats
from amqpd.management.api import Call, Endpoint, no_content, reply
from amqpd.management.auth import Need
from amqpd.management.errors import not_authorised, not_found
from amqpd.management.formats import jsonable
from amqpd.protocol import errors
from amqpd.session import Connection

DEFAULT_REASON = "Closed via management plugin"
NOT_YOURS = "User not authorised to access object"  # RabbitMQ 3.10.8's reason for another user's connection


def _address(address: tuple[str, int] | None) -> tuple[str, int]:
    return (str(address[0]), int(address[1])) if address else ("", 0)


def connection_name(conn: Connection) -> str:
    """RabbitMQ's name of a connection: "peer host:port -> broker host:port"."""
    return conn.name


def channel_name(conn: Connection, number: int) -> str:
    return f"{connection_name(conn)} ({number})"


def _connection_details(conn: Connection) -> dict[str, Any]:
    peer_host, peer_port = _address(conn.peer)
    return {"name": connection_name(conn), "peer_host": peer_host, "peer_port": peer_port}


def connection_object(call: Call, conn: Connection) -> dict[str, Any]:
    (peer_host, peer_port), (host, port) = _address(conn.peer), _address(conn.local)
    properties = jsonable(conn.client_properties)
    objstats.HISTORY.start(call.node)
    values = objstats.connection_values(conn)
    octets = objstats.counters(call, ("connection", connection_name(conn)), dict(zip(objstats.OCTETS, values)))
    objstats.samples(call, conn, objstats.BASIC, objstats.OCTETS, values, {"data_rates": octets})
    return {
        "name": connection_name(conn), "node": call.node.name, "type": "network",
        "user": conn.user, "user_who_performed_action": conn.user,
        "vhost": conn.vhost.name if conn.vhost is not None else None,
        "host": host, "port": port, "peer_host": peer_host, "peer_port": peer_port,
        "protocol": "AMQP 0-9-1", "auth_mechanism": conn.auth_mechanism,
        "ssl": conn.transport.tls, "client_properties": properties,
        "user_provided_name": properties.get("connection_name"), "state": "running",
        "channels": len(conn.channels), "timeout": conn.heartbeat, "frame_max": conn.frame_max,
        "channel_max": conn.channel_max, "connected_at": conn.connected_at,
        **octets,
        "recv_cnt": conn.recv_cnt, "send_cnt": conn.send_cnt,  # without rates, as RabbitMQ 3.10.8
    }


def _visible(call: Call) -> Iterable[Connection]:
    """The connections the caller may see, in the path's vhost when there is one."""
    vhost = call.params.get("vhost")
    if vhost is not None and vhost not in call.node.vhosts:
        raise not_found()
    for conn in list(call.node.connections):
        if conn.vhost is None or (vhost is not None and conn.vhost.name != vhost):
            continue
        if call.caller.is_monitor or conn.user == call.caller.user.name:
            yield conn


def _named(call: Call) -> Connection:
    name = call.params["name"]
    for conn in call.node.connections:
        if conn.vhost is not None and connection_name(conn) == name:
            if not (call.caller.is_monitor or conn.user == call.caller.user.name):
                raise not_authorised(NOT_YOURS)
            return conn
    raise not_found()


def close(conn: Connection, reason: str) -> None:
    conn.close_with(errors.ConnectionError(errors.CONNECTION_FORCED, reason))


def list_connections(call: Call) -> Response:
    return reply(lists.page([connection_object(call, c) for c in _visible(call)], call.query), call)


def show_connection(call: Call) -> Response:
    return reply(connection_object(call, _named(call)), call)


def delete_connection(call: Call) -> Response:
    close(_named(call), call.headers.get("x-reason") or DEFAULT_REASON)
    return no_content()


def user_connections(call: Call) -> Response:
    user = call.params["user"]
    if not (call.caller.is_admin or user == call.caller.user.name):
        raise not_authorised(NOT_YOURS)
    found = [connection_object(call, c) for c in _visible(call) if c.user == user]
    return reply(lists.page(found, call.query), call)


def delete_user_connections(call: Call) -> Response:
    user = call.params["user"]
    if not (call.caller.is_admin or user == call.caller.user.name):
        raise not_authorised(NOT_YOURS)
    for conn in [c for c in _visible(call) if c.user == user]:
        close(conn, call.headers.get("x-reason") or DEFAULT_REASON)
    return no_content()


def channel_object(call: Call, conn: Connection, number: int, channel: Any) -> dict[str, Any]:
    confirms = channel.confirms
    unconfirmed = confirms.seq - confirms.confirmed if confirms is not None else 0
    item = {
        "name": channel_name(conn, number), "number": number, "node": call.node.name,
        "user": conn.user, "user_who_performed_action": conn.user,
        "vhost": conn.vhost.name if conn.vhost is not None else None,
        "connection_details": _connection_details(conn),
        "transactional": channel.tx is not None, "confirm": channel.confirms is not None,
        "consumer_count": len(channel.consumers), "messages_unacknowledged": len(channel.unacked),
        "messages_unconfirmed": unconfirmed,
        "messages_uncommitted": len(channel.tx.publishes) if channel.tx is not None else 0,
        "acks_uncommitted": len(channel.tx.settled) if channel.tx is not None else 0,
        "prefetch_count": channel.prefetch, "global_prefetch_count": channel.global_prefetch,
        "state": "running",
    }
    key = ("channel", channel_name(conn, number))
    objstats.HISTORY.start(call.node)
    message_stats = objstats.shown(call, key, channel.message_stats(), objstats.CHANNEL_GROUPS)
    objstats.samples(call, channel, objstats.BASIC, objstats.CHANNEL_NAMES, objstats.channel_values(channel),
                     {"msg_rates": message_stats})
    idle = objstats.channel_idle_since(channel)
    if idle is not None:
        item["idle_since"] = idle
    return objstats.with_stats(item, message_stats)


def _channels(call: Call, conns: Iterable[Connection]) -> list[dict[str, Any]]:
    return [channel_object(call, conn, number, channel)
            for conn in conns for number, channel in sorted(conn.channels.items())]


def connection_channels(call: Call) -> Response:
    return reply(lists.page(_channels(call, [_named(call)]), call.query), call)


def list_channels(call: Call) -> Response:
    return reply(lists.page(_channels(call, _visible(call)), call.query), call)


def show_channel(call: Call) -> Response:
    for item in _channels(call, _visible(call)):
        if item["name"] == call.params["name"]:
            return reply(item, call)
    raise not_found()


def consumer_object(call: Call, conn: Connection, number: int, consumer: Any) -> dict[str, Any]:
    queue = consumer.queue
    return {
        "consumer_tag": consumer.tag, "queue": {"name": queue.name, "vhost": queue.vhost_name},
        "channel_details": {**_connection_details(conn), "connection_name": connection_name(conn),
                            "name": channel_name(conn, number), "node": call.node.name,
                            "number": number, "user": conn.user},
        "ack_required": not consumer.no_ack, "exclusive": consumer.exclusive,
        "prefetch_count": consumer.prefetch, "active": True, "activity_status": "up",
        "arguments": {"x-priority": consumer.priority} if consumer.priority else {},
    }


def consumers_of(call: Call, conns: Iterable[Connection]) -> list[dict[str, Any]]:
    return [consumer_object(call, conn, number, consumer)
            for conn in conns for number, channel in sorted(conn.channels.items())
            for consumer in channel.consumers.values()]


def list_consumers(call: Call) -> Response:
    return reply(lists.page(consumers_of(call, _visible(call)), call.query, ("consumer_tag",)), call)


ENDPOINTS = [
    Endpoint("/api/connections", "GET", Need.MANAGEMENT, list_connections),
    Endpoint("/api/vhosts/{vhost}/connections", "GET", Need.VHOST, list_connections),
    Endpoint("/api/connections/{name}", "GET", Need.MANAGEMENT, show_connection),
    Endpoint("/api/connections/{name}", "DELETE", Need.MANAGEMENT, delete_connection),
    Endpoint("/api/connections/{name}/channels", "GET", Need.MANAGEMENT, connection_channels),
    Endpoint("/api/connections/username/{user}", "GET", Need.MANAGEMENT, user_connections),
    Endpoint("/api/connections/username/{user}", "DELETE", Need.MANAGEMENT, delete_user_connections),
    Endpoint("/api/channels", "GET", Need.MANAGEMENT, list_channels),
    Endpoint("/api/vhosts/{vhost}/channels", "GET", Need.VHOST, list_channels),
    Endpoint("/api/channels/{name}", "GET", Need.MANAGEMENT, show_channel),
    Endpoint("/api/consumers", "GET", Need.MANAGEMENT, list_consumers),
    Endpoint("/api/consumers/{vhost}", "GET", Need.VHOST, list_consumers),
]
