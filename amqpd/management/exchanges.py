"""/api/exchanges: list, show, declare, delete, the exchange's bindings, and publish.

The default exchange is named "" in objects and `amq.default` in paths, as RabbitMQ has it.
Declare and delete follow Exchange.Declare / Exchange.Delete; publish routes as Basic.Publish
with mandatory set and answers whether any queue took the message.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.responses import Response

from amqpd.broker import EXCHANGE_TYPES, Exchange, Message, Outcome, VirtualHost, cc, combined
from amqpd.management import bindings, lists, objstats
from amqpd.management.api import Call, Endpoint, boolean, created, no_content, reply, text
from amqpd.management.auth import Need
from amqpd.management.errors import bad_request, key_missing, not_found
from amqpd.management.formats import arguments, content_header, jsonable, properties_raw, vhost_of, visible_vhosts
from amqpd.protocol import parse_content_header



def exchange_object(call: Call, vhost: VirtualHost, exchange: Exchange) -> dict[str, Any]:
    item = {"name": exchange.name, "vhost": vhost.name, "type": exchange.kind, "durable": exchange.durable,
            "auto_delete": exchange.auto_delete, "internal": exchange.internal,
            "arguments": jsonable(exchange.arguments)}
    policy = vhost.exchange_policy(exchange.name)
    if policy is not None:  # RabbitMQ 3.10.8 shows the key only when a policy applies
        item["policy"] = policy
    objstats.HISTORY.start(call.node)
    message_stats = objstats.shown(call, ("exchange", vhost.name, exchange.name), exchange.stats,
                                   objstats.EXCHANGE_GROUPS)
    objstats.samples(call, exchange, objstats.BASIC, objstats.EXCHANGE_NAMES, objstats.exchange_values(exchange),
                     {"msg_rates": message_stats})
    return objstats.with_stats(item, message_stats)


def _name(call: Call) -> str:
    name = call.params["exchange"]
    return "" if name == bindings.DEFAULT_EXCHANGE else name


def _exchange(call: Call) -> tuple[VirtualHost, Exchange]:
    vhost = vhost_of(call)
    exchange = vhost.exchanges.get(_name(call))
    if exchange is None:
        raise not_found()
    return vhost, exchange


def list_exchanges(call: Call) -> Response:
    items = [exchange_object(call, vhost, x) for vhost in visible_vhosts(call) for x in vhost.exchanges.values()]
    return reply(lists.page(items, call.query, ("vhost", "name")), call)


def show_exchange(call: Call) -> Response:
    vhost, exchange = _exchange(call)
    return reply({**exchange_object(call, vhost, exchange), "incoming": [], "outgoing": []}, call)


def put_exchange(call: Call) -> Response:
    """Exchange.Declare with the body's fields; RabbitMQ 3.10.8 takes a missing type as direct."""
    vhost = vhost_of(call)
    body = call.body()
    kind = text(body, "type", "direct")
    if kind not in EXCHANGE_TYPES:
        raise bad_request(f"invalid exchange type '{kind}'")
    name = _name(call)
    existed = name in vhost.exchanges
    vhost.declare_exchange(name, kind, durable=boolean(body, "durable", False),
                           auto_delete=boolean(body, "auto_delete", False),
                           internal=boolean(body, "internal", False), args=arguments(body))
    return created(not existed)


def delete_exchange(call: Call) -> Response:
    vhost, exchange = _exchange(call)
    vhost.delete_exchange(exchange.name, if_unused=call.query.get("if-unused") == "true")
    return no_content()


def source_bindings(call: Call) -> Response:
    vhost, exchange = _exchange(call)
    return bindings.select(call, vhost, source=exchange.name)


def destination_bindings(call: Call) -> Response:
    vhost, exchange = _exchange(call)
    return bindings.select(call, vhost, destination=exchange.name, destination_type="exchange")


def publish(call: Call) -> Response:
    """Route one message as Basic.Publish with mandatory does; {"routed": whether a queue took it}."""
    body = call.body()
    missing = [key for key in ("payload", "payload_encoding", "properties", "routing_key") if key not in body]
    if missing:
        raise key_missing(*missing)
    payload = _payload(body["payload"], body["payload_encoding"])
    routing_key = text(body, "routing_key")
    vhost = vhost_of(call)
    exchange = vhost.exchanges.get(_name(call))
    if exchange is None:
        raise bad_request(f"404 NOT_FOUND - no exchange '{_name(call)}' in vhost '{vhost.name}'")
    if exchange.internal:
        raise bad_request(f"403 ACCESS_REFUSED - cannot publish to internal exchange '{exchange.name}' "
                          f"in vhost '{vhost.name}'")
    raw = properties_raw(body["properties"])
    content = parse_content_header(content_header(raw, len(payload)))
    if content.expiration_error is not None:
        raise bad_request(f"406 PRECONDITION_FAILED - {content.expiration_error}")
    user = call.caller.user.name
    if content.user_id is not None and content.user_id != user:
        raise bad_request(f"406 PRECONDITION_FAILED - user_id property set to '{content.user_id}' "
                          f"but authenticated user was '{user}'")
    message = Message(exchange.name, routing_key, raw, payload, content.delivery_mode, content.priority,
                      content.expiration)
    extra_keys: list[str] = []
    if raw[0] & cc.HEADERS_BIT:
        message = cc.prepare(message)
        extra_keys = cc.extra_keys(message)
    queues = vhost.route(exchange, message, extra_keys)
    if queues and combined([queue.enqueue(message) for queue in queues]).outcome is Outcome.REJECTED:
        raise bad_request("rejected")
    return reply({"routed": bool(queues)}, call)


def _payload(payload: Any, encoding: Any) -> bytes:
    if not isinstance(payload, str):
        raise bad_request(["not_a_string", "payload"])
    if encoding == "string":
        return payload.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("payload_not_base64") from None
    raise bad_request(["unsupported_encoding", str(encoding)[:200]])


ENDPOINTS = [
    Endpoint("/api/exchanges", "GET", Need.MANAGEMENT, list_exchanges),
    Endpoint("/api/exchanges/{vhost}", "GET", Need.VHOST, list_exchanges),
    Endpoint("/api/exchanges/{vhost}/{exchange}", "GET", Need.VHOST, show_exchange),
    Endpoint("/api/exchanges/{vhost}/{exchange}", "PUT", Need.VHOST, put_exchange),
    Endpoint("/api/exchanges/{vhost}/{exchange}", "DELETE", Need.VHOST, delete_exchange),
    Endpoint("/api/exchanges/{vhost}/{exchange}/bindings/source", "GET", Need.VHOST, source_bindings),
    Endpoint("/api/exchanges/{vhost}/{exchange}/bindings/destination", "GET", Need.VHOST, destination_bindings),
    Endpoint("/api/exchanges/{vhost}/{exchange}/publish", "POST", Need.VHOST, publish),
]
