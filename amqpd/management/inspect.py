"""amqpd's own routes beyond RabbitMQ's API, for the web console and `amqpctl peek` / `amqpctl route`.

Peek shows the head of a queue without taking anything (the queue's own ``peek``); route explains
where a message would go by routing it through the code real publishes use, with a trace
(broker RouteTrace) instead of enqueueing it.
"""

from __future__ import annotations

from starlette.responses import Response

from amqpd.broker import Exchange, Message, RouteTrace, cc
from amqpd.management import bindings
from amqpd.management.api import Call, Endpoint, reply, text
from amqpd.management.auth import Need
from amqpd.management.errors import bad_request, not_found
from amqpd.management.formats import jsonable, properties_raw, vhost_of
from amqpd.management.queues import message_item

PEEK_DEFAULT = 10
PEEK_MAX = 1000


def _count(call: Call) -> int:
    raw = call.query.get("count")
    if raw is None:
        return PEEK_DEFAULT
    if not raw.isdigit() or int(raw) > PEEK_MAX:
        raise bad_request(f"count must be an integer from 0 to {PEEK_MAX}")
    return int(raw)


def peek(call: Call) -> Response:
    """The first `count` ready messages as /get's items; message_count is how many follow each."""
    count = _count(call)
    vhost = vhost_of(call)
    queue = vhost.queues.get(call.params["queue"])
    if queue is None:
        raise not_found()
    total = queue.message_count
    entries = queue.peek(count)
    return reply([message_item(entry, max(total - index - 1, 0), False) for index, entry in enumerate(entries)])


def route(call: Call) -> Response:
    """Where a message with this routing key and these headers would go, hop by hop."""
    body = call.body()
    routing_key = text(body, "routing_key")
    raw_properties = properties_raw(body.get("properties") or {})
    vhost = vhost_of(call)
    name = call.params["exchange"]
    exchange = vhost.exchanges.get("" if name == bindings.DEFAULT_EXCHANGE else name)
    if exchange is None:
        raise not_found()
    message = cc.prepare(Message(exchange.name, routing_key, raw_properties, b"", message_id=0))
    trace = RouteTrace()
    queues = vhost.route(exchange, message, cc.extra_keys(message), trace)
    return reply({
        "queues": [{"vhost": vhost.name, "name": queue.name} for queue in sorted(queues, key=lambda q: q.name)],
        "routes": [{"source": hop.source.name, "destination": hop.destination.name,  # type: ignore[attr-defined]
                    "destination_type": "exchange" if isinstance(hop.destination, Exchange) else "queue",
                    "routing_key": hop.routing_key, "arguments": jsonable(hop.arguments), "via": hop.via.value}
                   for hop in trace.hops],
        "unroutable": not queues,
    })


ENDPOINTS = [
    Endpoint("/api/queues/{vhost}/{queue}/peek", "GET", Need.VHOST, peek),
    Endpoint("/api/exchanges/{vhost}/{exchange}/route", "POST", Need.VHOST, route),
]
