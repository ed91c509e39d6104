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
    vhost = node.vhosts[name]
    objstats.HISTORY.start(node)
    values = objstats.vhost_values(node, vhost)
    named = dict(zip(objstats.VHOST_NAMES, values))
    depths = objstats.counters(call, ("vhost", name, "depth"), {key: named[key] for key in objstats.DEPTHS})
    octets = objstats.counters(call, ("vhost", name, "octets"), {key: named[key] for key in objstats.OCTETS})
    message_stats = objstats.shown(call, ("vhost", name), node.message_stats(vhost), objstats.CHANNEL_GROUPS)
    # RabbitMQ 3.10.8 samples a vhost's depths with msg_rates_age / _incr (checked), not lengths_
    objstats.samples(call, vhost, objstats.GLOBAL, objstats.VHOST_NAMES, values,
                     {"msg_rates": {**(message_stats or {}), **depths}, "data_rates": octets})
    item = {
        "name": name, "description": metadata.description, "tags": list(metadata.tags),
        "default_queue_type": metadata.default_queue_type,
        "metadata": {"description": metadata.description, "tags": list(metadata.tags)},
        "tracing": metadata.tracing, "cluster_state": {node.name: "running"},
        **depths, **octets,  # octets: its connections', the closed ones' included
    }
    return objstats.with_stats(item, message_stats)


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
