"""/api/queues: list, show, declare, delete, purge, get messages, the queue's bindings.

Declare and delete go through the vhost's own Queue.Declare / Queue.Delete rules, so the
refusals are AMQP's, mapped as RabbitMQ's API maps them (inequivalent arg or not empty: 400
with the text; a reserved `amq.` name: 401 "Access refused."). Fields that need statistics
(message_stats and its rates, idle_since, consumer_utilisation, the depth samples) are
computed when read, in objstats.py.
"""

from __future__ import annotations

import base64
import enum
from typing import Any, Mapping

from starlette.responses import Response

from amqpd.broker import Entry, QueueType, Settle, VirtualHost, effective_policy
from amqpd.management import bindings, lists, objstats
from amqpd.management.api import Call, Endpoint, boolean, created, no_content, reply
from amqpd.management.auth import Need
from amqpd.management.connections import connection_name, consumers_of
from amqpd.management.errors import ApiError, bad_request, key_missing, not_found
from amqpd.management.formats import arguments, jsonable, properties_json, vhost_of, visible_vhosts
from amqpd.protocol import errors

def queue_object(call: Call, queue: QueueType, held: Mapping[int, objstats.Held]) -> dict[str, Any]:
    """A queue as RabbitMQ shows it; held: objstats.held of its connections."""
    policy, operator_policy, definition = effective_policy(queue)
    stats = queue.message_stats()
    key = ("queue", queue.vhost_name, queue.name)
    objstats.HISTORY.start(call.node)
    depths = objstats.depth_details(call, (*key, "depth"), queue)
    message_stats = objstats.shown(call, key, stats, objstats.QUEUE_GROUPS)
    objstats.samples(call, queue, objstats.BASIC, objstats.QUEUE_NAMES, objstats.queue_values(queue),
                     {"lengths": depths, "msg_rates": message_stats}, ceil="lengths")
    utilisation = 1.0 if queue.consumers else 0  # RabbitMQ 3.10.8: 0 without consumers, 1.0 with
    item = {
        "name": queue.name, "vhost": queue.vhost_name, "type": queue.arguments.get("x-queue-type", "classic"),
        "durable": queue.durable, "auto_delete": queue.auto_delete, "exclusive": queue.exclusive,
        "arguments": jsonable(queue.arguments), "node": call.node.name, "state": "running",
        "policy": policy, "operator_policy": operator_policy, "effective_policy_definition": definition,
        "consumers": queue.consumer_count, "exclusive_consumer_tag": None, "single_active_consumer_tag": None,
        **depths,
        "consumer_utilisation": utilisation, "consumer_capacity": utilisation,
        **objstats.memory_fields(queue, held.get(id(queue), objstats.Held()), message_stats),
        "recoverable_slaves": None,
    }
    if item["type"] == "quorum":  # its Raft group, as RabbitMQ shows it: this node alone
        item.update(leader=call.node.name, members=[call.node.name], online=[call.node.name],
                    messages_dlx=0, message_bytes_dlx=0)
    idle = objstats.idle_since(queue, stats)
    if idle is not None:
        item["idle_since"] = idle
    objstats.with_stats(item, message_stats)
    owner = queue.exclusive_owner
    if owner is not None:
        peer = getattr(owner, "peer", None) or ("", 0)
        item["owner_pid_details"] = {"name": connection_name(owner), "peer_host": peer[0], "peer_port": peer[1]}
    return item


def _queue(call: Call) -> tuple[VirtualHost, QueueType]:
    vhost = vhost_of(call)
    queue = vhost.queues.get(call.params["queue"])
    if queue is None:
        raise not_found()
    return vhost, queue


def list_queues(call: Call) -> Response:
    held = objstats.held(call.node.connections)
    items = [queue_object(call, queue, held) for vhost in visible_vhosts(call) for queue in vhost.queues.values()]
    return reply(lists.page(items, call.query, ("vhost", "name")), call)


def show_queue(call: Call) -> Response:
    vhost, queue = _queue(call)
    conns = [conn for conn in call.node.connections if conn.vhost is vhost]
    details = [c for c in consumers_of(call, conns) if c["queue"]["name"] == queue.name]
    held = objstats.held(conns)
    return reply({**queue_object(call, queue, held), "consumer_details": details, "deliveries": [], "incoming": []}, call)


def put_queue(call: Call) -> Response:
    """Queue.Declare with the body's fields; a missing `durable` is false, as in AMQP."""
    vhost = vhost_of(call)
    body = call.body()
    name = call.params["queue"]
    existed = name in vhost.queues
    vhost.declare_queue(name, None, durable=boolean(body, "durable", False),
                        auto_delete=boolean(body, "auto_delete", False), args=arguments(body))
    return created(not existed)


def delete_queue(call: Call) -> Response:
    vhost, queue = _queue(call)
    vhost.delete_queue(queue.name, None, if_unused=call.query.get("if-unused") == "true",
                       if_empty=call.query.get("if-empty") == "true")
    return no_content()


def purge(call: Call) -> Response:
    vhost, queue = _queue(call)
    vhost.purge_queue(queue.name, None)
    return no_content()


def queue_bindings(call: Call) -> Response:
    vhost, queue = _queue(call)
    return bindings.select(call, vhost, destination=queue.name, destination_type="queue")


def actions(call: Call) -> Response:
    """sync / cancel_sync concern mirrored queues, which amqpd has not: accepted, nothing to do."""
    _queue(call)
    call.body()
    return no_content()


class AckMode(enum.Enum):
    """What /get does with the messages it took (RabbitMQ's ackmode values)."""

    ACK_REQUEUE_TRUE = "ack_requeue_true"
    ACK_REQUEUE_FALSE = "ack_requeue_false"
    REJECT_REQUEUE_TRUE = "reject_requeue_true"
    REJECT_REQUEUE_FALSE = "reject_requeue_false"

    @property
    def settle(self) -> Settle | None:
        """How the held messages end; None: taken without ack. As in RabbitMQ, reject_requeue_true
        rejects them with requeue, ack_requeue_true gives them back by closing its channel (a
        quorum queue puts the one to the back, the other to the front)."""
        if self is AckMode.ACK_REQUEUE_FALSE:
            return None
        if self is AckMode.ACK_REQUEUE_TRUE:
            return Settle.RELEASE
        return Settle.DROP if self is AckMode.REJECT_REQUEUE_FALSE else Settle.REQUEUE


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise bad_request(["not_integer", str(value)[:200]])


def get_messages(call: Call) -> Response:
    """Basic.Get up to `count` times; requeued or rejected ones go back only after the last get,
    so each get takes another message (RabbitMQ's order)."""
    body = call.body()
    missing = [key for key in ("ackmode", "count", "encoding") if key not in body]
    if missing:
        raise key_missing(*missing)
    count = _count(body["count"])
    try:
        mode = AckMode(body["ackmode"])
    except (ValueError, TypeError):
        raise bad_request(f"Invalid ackmode value: {str(body['ackmode'])[:200]}") from None
    encoding = body["encoding"]
    if encoding not in ("auto", "base64"):
        raise bad_request("Unsupported encoding. Please use auto or base64.")
    truncate = _count(body["truncate"]) if body.get("truncate") not in (None, "") else None
    vhost = vhost_of(call)
    try:
        queue = vhost.queue(call.params["queue"], None)
    except errors.AMQPError as exc:  # RabbitMQ's /get answers as its AMQP channel was answered
        if exc.code == errors.NOT_FOUND:
            raise ApiError(404, "not_found", exc.text) from None
        raise bad_request(f"{exc.code} {exc.text}") from None
    queue.touch()
    taken: list[Entry] = []
    found = []
    for _ in range(max(count, 0)):
        try:
            entry = queue.get()
        except errors.ConnectionError as exc:  # a stream refuses basic.get: RabbitMQ's 400 names the code
            raise bad_request(f"{exc.code} {exc.text.partition(' - ')[2]}") from None
        if entry is None:
            break
        if mode.settle is None:
            queue.forget(entry)
        else:
            queue.hold(entry)
            taken.append(entry)
        found.append(message_item(entry, queue.message_count, encoding == "base64", truncate))
    if taken:
        queue.settle(taken, mode.settle)  # type: ignore[arg-type]
    return reply(found, call)


def message_item(entry: Entry, remaining: int, base64_only: bool, truncate: int | None = None) -> dict[str, Any]:
    """A message as an item of /get's reply (the payload as text when it is UTF-8, else base64)."""
    message = entry.message
    payload = message.body if truncate is None else message.body[:max(truncate, 0)]
    as_text = None
    if not base64_only:
        try:
            as_text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"payload_bytes": len(message.body), "redelivered": entry.redelivered,
            "exchange": message.exchange, "routing_key": message.routing_key, "message_count": remaining,
            "properties": properties_json(message.raw_properties),
            "payload": as_text if as_text is not None else base64.b64encode(payload).decode(),
            "payload_encoding": "string" if as_text is not None else "base64"}


ENDPOINTS = [
    Endpoint("/api/queues", "GET", Need.MANAGEMENT, list_queues),
    Endpoint("/api/queues/{vhost}", "GET", Need.VHOST, list_queues),
    Endpoint("/api/queues/{vhost}/{queue}", "GET", Need.VHOST, show_queue),
    Endpoint("/api/queues/{vhost}/{queue}", "PUT", Need.VHOST, put_queue),
    Endpoint("/api/queues/{vhost}/{queue}", "DELETE", Need.VHOST, delete_queue),
    Endpoint("/api/queues/{vhost}/{queue}/contents", "DELETE", Need.VHOST, purge),
    Endpoint("/api/queues/{vhost}/{queue}/get", "POST", Need.VHOST, get_messages),
    Endpoint("/api/queues/{vhost}/{queue}/bindings", "GET", Need.VHOST, queue_bindings),
    Endpoint("/api/queues/{vhost}/{queue}/actions", "POST", Need.VHOST, actions),
]
