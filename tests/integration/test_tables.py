"""Field tables and content properties at the edges RabbitMQ 3.10.8 accepts or refuses
(each case checked there with a raw socket).

* Tables nested hundreds or thousands of levels deep are fine in method arguments and headers.
* A content header whose headers table does not parse closes the connection with 541
  INTERNAL_ERROR (class 0, method 0); the message is neither confirmed nor enqueued.
* Properties pass byte for byte, a timestamp of 2^64-1 and a millisecond timestamp included,
  through direct reply-to too.
"""

from __future__ import annotations

import struct

import pika
from pamqp import commands

from tests.integration.test_durability import connect as connect_to
from tests.integration.test_durability import restarted, start  # noqa: F401 - start is a fixture
from tests.support.frames import declare
from tests.support.raw import RawClient

PSEUDO = "amq.rabbitmq.reply-to"


def _frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def _shortstr(text: str) -> bytes:
    raw = text.encode()
    return bytes((len(raw),)) + raw


def deep_table(levels: int) -> bytes:
    """{"k": {"k": ... {}}} nested `levels` deep, encoded (4-byte length first)."""
    table = b""
    for _ in range(levels):
        table = _shortstr("k") + b"F" + struct.pack(">I", len(table)) + table
    return struct.pack(">I", len(table)) + table


def publish_raw(raw: RawClient, routing_key: str, properties: bytes, body: bytes = b"x", exchange: str = "") -> None:
    """Basic.Publish with a content header carrying these property bytes (flag word first)."""
    method = struct.pack(">HHH", 60, 40, 0) + _shortstr(exchange) + _shortstr(routing_key) + b"\x00"
    head = struct.pack(">HHQ", 60, 0, len(body)) + properties
    raw.send_bytes(_frame(1, 1, method) + _frame(2, 1, head) + _frame(3, 1, body))


def headers_properties(table: bytes) -> bytes:
    return struct.pack(">H", 0x2000) + table


def test_deep_declare_succeeds_and_a_later_durable_queue_keeps_its_confirmed_messages(start):
    """A durable declare with arguments 3000 levels deep gets Declare-Ok, and the queue, a
    redeclare of it, and the persistent messages confirmed into it survive a graceful restart
    (the failed declare used to leave an unstored queue behind that swallowed them)."""
    broker = start()
    with RawClient.connect(broker.port) as raw:
        raw.send_bytes(_frame(1, 1, struct.pack(">HHH", 50, 10, 0) + _shortstr("dq") + b"\x02" + deep_table(3000)))
        assert raw.expect(commands.Queue.DeclareOk, 1).queue == "dq"
    conn = connect_to(broker)
    ch = conn.channel()
    ch.queue_declare("dq", durable=True)
    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", "dq", f"m{i}".encode(), pika.BasicProperties(delivery_mode=2))  # raises unless acked
    conn.close()
    broker = restarted(broker, start)
    conn = connect_to(broker)
    ch = conn.channel()
    assert ch.queue_declare("dq", passive=True).method.message_count == 3
    assert [ch.basic_get("dq", auto_ack=True)[2] for _ in range(3)] == [b"m0", b"m1", b"m2"]
    conn.close()


def test_unparsable_headers_table_closes_the_connection_with_541_unconfirmed(broker, ch1):
    """RabbitMQ: Connection.Close 541 'INTERNAL_ERROR', class 0, method 0; no ack, nothing enqueued."""
    ch1.send(1, commands.Confirm.Select())
    ch1.expect(commands.Confirm.SelectOk, 1)
    table = _shortstr("a") + b"Z123"  # no field type 'Z'
    publish_raw(ch1, "q", headers_properties(struct.pack(">I", len(table)) + table))
    ch, close = ch1.recv_frame()  # the very next frame: no Basic.Ack before it
    assert (ch, type(close)) == (0, commands.Connection.Close)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (541, "INTERNAL_ERROR", 0, 0)
    with RawClient.connect(broker.port) as other:
        assert declare(other, "q", passive=True).message_count == 0


def test_deep_headers_route_on_a_headers_exchange_and_pass_byte_for_byte(ch1):
    """Headers 3000 levels deep: routed by the shallow header, delivered with the same bytes."""
    ch1.send(1, commands.Queue.Bind(queue="q", exchange="amq.headers", arguments={"x-match": "any", "a": "b"}))
    ch1.expect(commands.Queue.BindOk, 1)
    fields = _shortstr("a") + b"S" + struct.pack(">I", 1) + b"b" + _shortstr("z") + b"F" + deep_table(3000)
    properties = headers_properties(struct.pack(">I", len(fields)) + fields)
    publish_raw(ch1, "", properties, exchange="amq.headers")
    ch1.send(1, commands.Basic.Get(queue="q", no_ack=True))
    ch1.expect(commands.Basic.GetOk, 1)
    assert _raw_properties(ch1) == properties


def _raw_properties(raw: RawClient) -> bytes:
    """The property bytes of the next content header frame, read off the socket undecoded
    (pamqp's decoder turns large timestamps into dates, or fails on them)."""
    while len(raw.buffer) < 7:
        raw.buffer += raw.sock.recv(65536)
    ftype, _, size = struct.unpack_from(">BHI", raw.buffer, 0)
    while len(raw.buffer) < size + 8:
        raw.buffer += raw.sock.recv(65536)
    assert ftype == 2
    payload, raw.buffer = raw.buffer[7:7 + size], raw.buffer[size + 8:]
    return payload[12:]


def test_direct_reply_to_changes_only_reply_to(broker, opened):
    """The request's other properties arrive byte for byte (a millisecond timestamp, 2^64-1)."""
    opened.send(1, commands.Basic.Consume(queue=PSEUDO, no_ack=True, consumer_tag="rc"))
    opened.expect(commands.Basic.ConsumeOk, 1)
    with RawClient.connect(broker.port) as server:
        declare(server, "rpc")
        for stamp in (1700000000123, 2**64 - 1):
            properties = (struct.pack(">H", 0x0200 | 0x0040 | 0x0400) + _shortstr("c1") + _shortstr(PSEUDO)
                          + struct.pack(">Q", stamp))
            publish_raw(opened, "rpc", properties)
            declare(opened, "rpc", passive=True)  # the publish was handled
            server.send(1, commands.Basic.Get(queue="rpc", no_ack=True))
            server.expect(commands.Basic.GetOk, 1)
            received = _raw_properties(server)
            flags, rest = received[:2], received[2:]
            assert flags == properties[:2]
            assert rest[:3] == _shortstr("c1")
            reply_to = rest[4:4 + rest[3]].decode()
            assert reply_to.startswith(PSEUDO + ".")
            assert rest[4 + rest[3]:] == struct.pack(">Q", stamp)
            server.recv_frame()  # the body


def test_deep_binding_arguments_bind_route_and_unbind(ch1):
    """A binding whose arguments nest 3000 levels deep: Bind-Ok, it routes, Unbind-Ok removes it."""
    bind = struct.pack(">HHH", 50, 20, 0) + _shortstr("q") + _shortstr("amq.direct") + _shortstr("k") + b"\x00"
    ch1.send_bytes(_frame(1, 1, bind + deep_table(3000)))
    ch1.expect(commands.Queue.BindOk, 1)
    ch1.publish(1, "amq.direct", "k", b"routed")
    assert declare(ch1, "q", passive=True).message_count == 1
    unbind = struct.pack(">HHH", 50, 50, 0) + _shortstr("q") + _shortstr("amq.direct") + _shortstr("k")
    ch1.send_bytes(_frame(1, 1, unbind + deep_table(3000)))
    ch1.expect(commands.Queue.UnbindOk, 1)
    ch1.publish(1, "amq.direct", "k", b"not routed")
    assert declare(ch1, "q", passive=True).message_count == 1
