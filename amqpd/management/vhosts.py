"""/api/vhosts: list, show, create or update, delete (which closes its connections, 320)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from amqpd.auth import FULL
from amqpd.broker import VhostMetadata
from amqpd.management import lists, objstats
from amqpd.management.api import Call, Endpoint, boolean, created, no_content, reply, tags, text
from amqpd.management.auth import Need
from amqpd.management.errors import not_authorised, not_found


def vhost_object(call: Call, name: str) -> dict[str, Any]:
    node = call.node
    metadata = node.vhost_metadata.get(name, VhostMetadata())
    queues = list(node.vhosts[name].queues.values())
    ready = sum(q.message_count for q in queues)
    unacked = sum(q.unacked_count for q in queues)
    vhost = node.vhosts[name]
    conns = [conn for conn in node.connections if conn.vhost is vhost]
    item = {
        "name": name, "description": metadata.description, "tags": list(metadata.tags),
        "default_queue_type": metadata.default_queue_type,
        "metadata": {"description": metadata.description, "tags": list(metadata.tags)},
        "tracing": metadata.tracing, "cluster_state": {node.name: "running"},
        **objstats.counters(call, ("vhost", name, "depth"), {
            "messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked}),
        **objstats.counters(call, ("vhost", name, "octets"), {  # its live connections' bytes
            "recv_oct": sum(c.recv_oct for c in conns), "send_oct": sum(c.send_oct for c in conns)}),
    }
    return objstats.with_stats(item, objstats.shown(call, ("vhost", name), node.message_stats(vhost),
                                                    objstats.CHANNEL_GROUPS))


def list_vhosts(call: Call) -> Response:
    """Every vhost the caller may use (administrators and monitoring users see all)."""
    caller, node = call.caller, call.node
    names = [name for name in node.vhosts if caller.is_monitor or caller.may_use(node, name)]
    return reply(lists.page([vhost_object(call, name) for name in names], call.query), call)


def show_vhost(call: Call) -> Response:
    name = call.params["vhost"]
    if not (call.caller.is_monitor or call.caller.may_use(call.node, name)):
        raise not_authorised("Not administrator user")  # what RabbitMQ 3.10.8 answers here
    if name not in call.node.vhosts:
        raise not_found()
    return reply(vhost_object(call, name), call)


def put_vhost(call: Call) -> Response:
    """Create (granting the creating user full permissions, as RabbitMQ's API does; not the control
    socket's operator, who is no user, as rabbitmqctl add_vhost grants none) or update."""
    name = call.params["vhost"]
    body = call.body()
    old = call.node.vhost_metadata.get(name, VhostMetadata())
    metadata = VhostMetadata(
        description=text(body, "description", ""),
        tags=tuple(tags(body.get("tags", []))),
        default_queue_type=text(body, "default_queue_type", old.default_queue_type),
        tracing=boolean(body, "tracing", old.tracing),
    )
    was_created = call.node.put_vhost(name, metadata)
    if was_created and not call.caller.control:
        call.node.set_permission(call.caller.user.name, name, FULL)
    return created(was_created)


def delete_vhost(call: Call) -> Response:
    if not call.node.delete_vhost(call.params["vhost"]):
        raise not_found()
    return no_content()


ENDPOINTS = [
    Endpoint("/api/vhosts", "GET", Need.MANAGEMENT, list_vhosts),
    Endpoint("/api/vhosts/{vhost}", "GET", Need.MANAGEMENT, show_vhost),
    Endpoint("/api/vhosts/{vhost}", "PUT", Need.ADMIN, put_vhost),
    Endpoint("/api/vhosts/{vhost}", "DELETE", Need.ADMIN, delete_vhost),
]
