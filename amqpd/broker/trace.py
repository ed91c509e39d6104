"""The firehose (rabbitmqctl trace_on): a copy of every message published into a vhost and of
every delivery from it, published to the vhost's amq.rabbitmq.trace topic exchange as
RabbitMQ's rabbit_trace does: routing key ``publish.<exchange>`` / ``deliver.<queue>``, the
body unchanged, and a headers table naming the original (exchange_name, routing_keys,
properties, node) and where it went (vhost, connection, channel, user, routed_queues or
redelivered). Messages published to the trace exchange itself are not traced again.

A vhost holds a Tracer only while tracing is on, as one of its taps (broker/taps.py): with no
tap the session's per-message paths test ``vhost.tap is not None`` and nothing more. The copies are routed after the
current step (a timer due at once), so a delivery never re-enters the queue that is dispatching
(a queue may be bound to the trace exchange).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterable, Sequence

from amqpd.broker import headers
from amqpd.broker.message import Message
from amqpd.protocol import HEADERS_FLAG, LAYOUT

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost

TRACE_EXCHANGE = "amq.rabbitmq.trace"
# the property names in wire order (LAYOUT's), as rabbit_trace names them in the properties table
PROPERTY_NAMES = (b"content_type", b"content_encoding", b"headers", b"delivery_mode", b"priority",
                  b"correlation_id", b"reply_to", b"expiration", b"message_id", b"timestamp", b"type",
                  b"user_id", b"app_id", b"cluster_id")
_I32 = struct.Struct(">i")


class Tracer:
    """One vhost's firehose, while it is on."""

    def __init__(self, vhost: "VirtualHost", node_name: str) -> None:
        self.vhost = vhost
        self.node_name = node_name
        self._pending: list[Message] = []

    def published(self, message: Message, queues: Iterable[object], extra_keys: Sequence[str],
                  connection: str, channel: int, user: str) -> None:
        """tap_in: the message as published, with the queues it was routed to."""
        if message.exchange == TRACE_EXCHANGE:
            return
        names = [headers.longstr(queue.name) for queue in queues]  # type: ignore[attr-defined]
        self._trace(f"publish.{message.exchange}", message, extra_keys, [
            (b"vhost", headers.longstr(self.vhost.name)),
            (b"connection", headers.longstr(connection)),
            (b"channel", _signed(channel)),
            (b"user", headers.longstr(user)),
            (b"routed_queues", headers.array(names)),
        ])

    def delivered(self, queue: str, message: Message, redelivered: bool, connection: str, channel: int,
                  user: str) -> None:
        """tap_out: a Basic.Deliver or Get-Ok of the message from a queue."""
        if message.exchange == TRACE_EXCHANGE:
            return
        self._trace(f"deliver.{queue}", message, (), [
            (b"redelivered", _signed(int(redelivered))),
            (b"vhost", headers.longstr(self.vhost.name)),
            (b"connection", headers.longstr(connection)),
            (b"channel", _signed(channel)),
            (b"user", headers.longstr(user)),
        ])

    def _trace(self, routing_key: str, message: Message, extra_keys: Sequence[str],
               extra: list[headers.Field]) -> None:
        keys = [message.routing_key, *extra_keys]
        fields = [
            (b"exchange_name", headers.longstr(message.exchange)),
            (b"routing_keys", headers.array([headers.longstr(key) for key in keys])),
            (b"properties", headers.table(_properties_table(message.raw_properties))),
            (b"node", headers.longstr(self.node_name)),
            *extra,
        ]
        raw = struct.pack(">H", HEADERS_FLAG) + headers.encode_table(fields)
        if not self._pending:
            self.vhost.timers.schedule(0.0, self._route)
        self._pending.append(Message(TRACE_EXCHANGE, routing_key, raw, message.body))

    def _route(self) -> None:
        copies, self._pending = self._pending, []
        exchange = self.vhost.exchanges.get(TRACE_EXCHANGE)
        if exchange is None or self.vhost.tracer is not self:
            return
        for copy in copies:
            for queue in self.vhost.route(exchange, copy):
                queue.enqueue(copy)


def _signed(number: int) -> bytes:
    return b"I" + _I32.pack(number)


def _properties_table(raw: bytes) -> list[headers.Field]:
    """The message's properties as rabbit_trace tabulates them: strings as longstr, octets as
    signed ints, the timestamp as a long, headers as a table; in its (reversed) order."""
    props = headers.Properties(raw)
    fields: list[headers.Field] = []
    for (bit, kind), name in zip(LAYOUT, PROPERTY_NAMES):
        encoded = props.encoded.get(bit)
        if encoded is None:
            continue
        if kind == "s":
            value = headers.longstr(encoded[1:])
        elif kind == "t":
            value = b"F" + encoded
        elif kind == "o":
            value = _signed(encoded[0])
        else:
            value = b"l" + encoded
        fields.append((name, value))
    fields.reverse()
    return fields
