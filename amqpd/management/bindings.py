"""/api/bindings: list, create (201 with a Location), show and delete by properties key.

A binding is named by its ends and its properties key, RabbitMQ's form: `~` for an empty
routing key without arguments, the routing key URL-encoded (`~` as %7E), and `~` with a hash
of the arguments when there are any (RabbitMQ hashes with erlang:phash2; clients only hand the
key back, so any stable hash serves). The default exchange's implicit binding to each queue is
listed, as RabbitMQ lists it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Iterable
from urllib.parse import quote, quote_plus

from starlette.responses import Response

from amqpd.broker import Exchange, QueueType, VirtualHost
from amqpd.management import lists
from amqpd.management.api import Call, Endpoint, no_content, reply, text
from amqpd.management.auth import Need
from amqpd.management.errors import ApiError, not_found
from amqpd.management.formats import arguments, jsonable, vhost_of, visible_vhosts

Destination = QueueType | Exchange
DEFAULT_EXCHANGE = "amq.default"  # the default exchange's name in paths


def properties_key(routing_key: str, args: dict[str, Any]) -> str:
    if not args:
        return quote_plus(routing_key, safe="").replace("~", "%7E") or "~"
    canonical = json.dumps(jsonable(args), sort_keys=True, separators=(",", ":")).encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()[:4]).decode().rstrip("=")
    return f"{quote_plus(routing_key, safe='').replace('~', '%7E')}~{digest}"


def binding_object(vhost: VirtualHost, source: str, destination: Destination, routing_key: str,
                   args: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "vhost": vhost.name, "destination": destination.name,
            "destination_type": "exchange" if isinstance(destination, Exchange) else "queue",
            "routing_key": routing_key, "arguments": jsonable(args),
            "properties_key": properties_key(routing_key, args)}


def bindings_of(vhost: VirtualHost) -> Iterable[dict[str, Any]]:
    """Every binding of a vhost: the default exchange's implicit ones first, then the others."""
    for queue in vhost.queues.values():
        yield binding_object(vhost, "", queue, queue.name, {})
    for exchange in vhost.exchanges.values():
        for (destination, routing_key, _frozen), args in exchange.bindings.items():
            yield binding_object(vhost, exchange.name, destination, routing_key, args)


def _listed(call: Call, items: Iterable[dict[str, Any]]) -> Response:
    return reply(lists.page(list(items), call.query, ("vhost", "source", "destination", "properties_key")), call)


def select(call: Call, vhost: VirtualHost, **wanted: str) -> Response:
    """The vhost's bindings whose fields have the wanted values."""
    return _listed(call, (b for b in bindings_of(vhost) if all(b[k] == v for k, v in wanted.items())))


def list_bindings(call: Call) -> Response:
    return _listed(call, (b for vhost in visible_vhosts(call) for b in bindings_of(vhost)))


def _ends(call: Call, named: bool = False) -> tuple[VirtualHost, Exchange, Destination]:
    """The binding's vhost, source and destination; with `named`, a missing one is RabbitMQ's
    404 naming it (what POST answers), else the plain 404."""
    vhost = vhost_of(call)
    source = vhost.exchanges.get("" if call.params["source"] == DEFAULT_EXCHANGE else call.params["source"])
    destination: Destination | None = (vhost.queues.get(call.params["destination"]) if call.params["kind"] == "q"
                                       else vhost.exchanges.get(call.params["destination"]))
    for kind, name, found in (("exchange", call.params["source"], source),
                              (_kind(call), call.params["destination"], destination)):
        if found is None:
            raise ApiError(404, "not_found", f"no {kind} '{name}' in vhost '{vhost.name}'") if named else not_found()
    assert source is not None and destination is not None
    return vhost, source, destination


def _kind(call: Call) -> str:
    if call.params["kind"] not in ("q", "e"):
        raise not_found()
    return "queue" if call.params["kind"] == "q" else "exchange"


def between(call: Call) -> Response:
    kind = _kind(call)
    vhost, source, destination = _ends(call)
    return select(call, vhost, source=source.name, destination=destination.name, destination_type=kind)


def create(call: Call) -> Response:
    """Bind as Queue.Bind / Exchange.Bind do; 201 with the new binding's relative Location."""
    kind = _kind(call)
    body = call.body()
    routing_key, args = text(body, "routing_key", ""), arguments(body)
    vhost, source, destination = _ends(call, named=True)
    if kind == "queue":
        vhost.bind_queue(destination.name, None, source.name, routing_key, args)
    else:
        vhost.bind_exchange(destination.name, source.name, routing_key, args)
    location = f"{quote(destination.name, safe='')}/{quote(properties_key(routing_key, args), safe='')}"
    return Response(b"", 201, headers={"location": location})


def _one(call: Call) -> tuple[VirtualHost, Exchange, Destination, str, dict[str, Any]]:
    _kind(call)
    vhost, source, destination = _ends(call)
    if source is vhost.default_exchange and isinstance(destination, QueueType):
        implicit = [(destination.name, {})]
    else:
        implicit = []
    found = implicit + [(key, args) for (dest, key, _frozen), args in source.bindings.items() if dest is destination]
    for routing_key, args in found:
        if properties_key(routing_key, args) == call.params["props"]:
            return vhost, source, destination, routing_key, args
    raise not_found()


def show(call: Call) -> Response:
    vhost, source, destination, routing_key, args = _one(call)
    return reply(binding_object(vhost, source.name, destination, routing_key, args), call)


def delete(call: Call) -> Response:
    vhost, source, destination, routing_key, args = _one(call)
    if isinstance(destination, Exchange):
        vhost.unbind_exchange(destination.name, source.name, routing_key, args)
    else:
        vhost.unbind_queue(destination.name, None, source.name, routing_key, args)
    return no_content()


ENDPOINTS = [
    Endpoint("/api/bindings", "GET", Need.MANAGEMENT, list_bindings),
    Endpoint("/api/bindings/{vhost}", "GET", Need.VHOST, list_bindings),
    Endpoint("/api/bindings/{vhost}/e/{source}/{kind}/{destination}", "GET", Need.VHOST, between),
    Endpoint("/api/bindings/{vhost}/e/{source}/{kind}/{destination}", "POST", Need.VHOST, create),
    Endpoint("/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}", "GET", Need.VHOST, show),
    Endpoint("/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}", "DELETE", Need.VHOST, delete),
]
