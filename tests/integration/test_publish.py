"""Basic.Publish as RabbitMQ 3.10 answers it: returns, errors, properties, sizes, frame order."""

import datetime
import decimal
import struct

import pika
import pytest
from pamqp import body as pamqp_body
from pamqp import commands
from pamqp import frame as pamqp_frame
from pamqp import header as pamqp_header

from tests.support.frames import declare, ready
from tests.support.raw import RawClient


def raw_frame(raw):
    """(type, channel, payload) of the next frame, without decoding it."""
    while True:
        if len(raw.buffer) >= 7:
            ftype, channel, size = struct.unpack_from(">BHI", raw.buffer)
            if len(raw.buffer) >= size + 8:
                payload = raw.buffer[7 : 7 + size]
                raw.buffer = raw.buffer[size + 8 :]
                return ftype, channel, payload
        data = raw.sock.recv(65536)
        if not data:
            raise EOFError("socket closed")
        raw.buffer += data


def raw_message(raw):
    """Method payload, content header payload and body frame payloads of the next Get-Ok/Deliver."""
    ftype, _, method = raw_frame(raw)
    assert ftype == 1
    ftype, _, header = raw_frame(raw)
    assert ftype == 2
    body_size = struct.unpack_from(">Q", header, 4)[0]
    bodies, received = [], 0
    while received < body_size:
        ftype, _, payload = raw_frame(raw)
        assert ftype == 3
        bodies.append(payload)
        received += len(payload)
    return method, header, bodies


@pytest.fixture
def ch1(opened):
    """Channel 1 open, but (unlike the shared fixture) no queue "q" declared."""
    return opened


def test_mandatory_unroutable_is_returned_before_the_confirm_ack(ch1):
    """Basic.Return 312 NO_ROUTE with the message comes first, then the publisher confirm."""
    ch1.send(1, commands.Confirm.Select())
    ch1.expect(commands.Confirm.SelectOk, 1)
    ch1.publish(1, "amq.direct", "nokey", b"x", mandatory=True)
    ret = ch1.expect(commands.Basic.Return, 1)
    assert (ret.reply_code, ret.reply_text, ret.exchange, ret.routing_key) == (312, "NO_ROUTE", "amq.direct", "nokey")
    assert ch1.expect(pamqp_header.ContentHeader, 1).body_size == 1
    assert ch1.expect(pamqp_body.ContentBody, 1).value == b"x"
    ack = ch1.expect(commands.Basic.Ack, 1)
    assert (ack.delivery_tag, ack.multiple) == (1, False)


def test_non_mandatory_unroutable_is_dropped_and_acked(ch1):
    """Without mandatory an unroutable message vanishes; the confirm still arrives."""
    ch1.send(1, commands.Confirm.Select())
    ch1.expect(commands.Confirm.SelectOk, 1)
    ch1.publish(1, "amq.direct", "nokey", b"x")
    assert ch1.expect(commands.Basic.Ack, 1).delivery_tag == 1


def test_immediate_closes_the_connection_with_540(ch1):
    """immediate=true is not implemented in RabbitMQ 3.x: Connection.Close 540 on the publish."""
    declare(ch1, "imm")
    ch1.publish(1, "", "imm", b"x", immediate=True)
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (540, "NOT_IMPLEMENTED - immediate=true")
    assert (close.class_id, close.method_id) == (60, 40)


def test_publish_to_missing_exchange_closes_channel_404(ch1):
    """Channel.Close 404 naming the exchange, class/method of Basic.Publish."""
    ch1.publish(1, "nosuch-ex", "rk", b"x", mandatory=True)
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'")
    assert (close.class_id, close.method_id) == (60, 40)


def test_publish_to_internal_exchange_is_refused_403(ch1):
    """An internal exchange only takes exchange-to-exchange traffic."""
    ch1.send(1, commands.Exchange.Declare(exchange="int1", exchange_type="fanout", internal=True))
    ch1.expect(commands.Exchange.DeclareOk, 1)
    ch1.publish(1, "int1", "", b"x")
    close = ch1.expect_channel_close(1)
    assert close.reply_code == 403
    assert close.reply_text == "ACCESS_REFUSED - cannot publish to internal exchange 'int1' in vhost '/'"
    assert (close.class_id, close.method_id) == (60, 40)


def test_user_id_must_match_the_authenticated_user(ch1):
    """user_id 'bob' published by guest: 406 with RabbitMQ's text; a matching user_id is accepted."""
    declare(ch1, "uid")
    ch1.publish(1, "", "uid", b"ok", commands.Basic.Properties(user_id="guest"))
    ch1.send(1, commands.Basic.Get(queue="uid", no_ack=True))
    assert ch1.expect(commands.Basic.GetOk, 1).routing_key == "uid"
    ch1.expect(pamqp_header.ContentHeader, 1)
    assert ch1.expect(pamqp_body.ContentBody, 1).value == b"ok"
    ch1.publish(1, "", "uid", b"x", commands.Basic.Properties(user_id="bob"))
    close = ch1.expect_channel_close(1)
    assert close.reply_code == 406
    assert close.reply_text == "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"
    assert (close.class_id, close.method_id) == (60, 40)


ALL_PROPERTIES = dict(
    content_type="application/json",
    content_encoding="gzip",
    headers={
        "str": "text é",
        "int": 1,
        "neg": -5,
        "long": 2**40,
        "bool": True,
        "false": False,
        "void": None,
        "bytes": b"\x00\x01\xff",
        "decimal": decimal.Decimal("3.14"),
        "timestamp": datetime.datetime(2020, 1, 2, 3, 4, 5),
        "array": [1, "two", [3, {"four": 4}], {"five": None}, True],
        "table": {"inner": {"deeper": [True, False], "n": 7}},
    },
    delivery_mode=2,
    priority=7,
    correlation_id="corr",
    reply_to="reply",
    expiration="60000",
    message_id="mid",
    timestamp=1620284889,
    type="typ",
    user_id="guest",
    app_id="app",
    cluster_id="clu",
)


def test_all_fourteen_properties_come_back_byte_for_byte(ch1):
    """The property list (every flag set, nested headers of every field type pika writes) is forwarded verbatim."""
    declare(ch1, "props")
    raw_props = b"".join(pika.BasicProperties(**ALL_PROPERTIES).encode())
    assert struct.unpack_from(">H", raw_props)[0] == 0xFFFC  # all 14 flags
    header = struct.pack(">HHQ", 60, 0, 3) + raw_props
    ch1.send_bytes(
        pamqp_frame.marshal(commands.Basic.Publish(exchange="", routing_key="props"), 1)
        + struct.pack(">BHI", 2, 1, len(header)) + header + b"\xce"
        + pamqp_frame.marshal(pamqp_body.ContentBody(b"abc"), 1))
    ch1.send(1, commands.Basic.Get(queue="props", no_ack=True))
    _, got_header, bodies = raw_message(ch1)
    assert got_header == header
    assert bodies == [b"abc"]


def test_all_properties_round_trip_through_pika(broker):
    """pika sees every property it sent, the headers table decoded to the same values."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"body", pika.BasicProperties(**ALL_PROPERTIES))
    _, props, body = ch.basic_get(q, auto_ack=True)
    conn.close()
    assert body == b"body"
    for name, value in ALL_PROPERTIES.items():
        if name != "headers":
            assert getattr(props, name) == value, name
    headers = props.headers
    assert headers["table"] == {"inner": {"deeper": [True, False], "n": 7}}
    assert headers["array"] == [1, "two", [3, {"four": 4}], {"five": None}, True]
    assert headers["decimal"] == decimal.Decimal("3.14")
    assert headers["timestamp"] == datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert headers["str"] == "text é"
    assert headers["bytes"] == b"\x00\x01\xff"
    assert (headers["void"], headers["bool"], headers["false"], headers["long"], headers["neg"]) == (
        None, True, False, 2**40, -5)


@pytest.mark.parametrize("frame_max", [131072, 4096])
def test_five_mib_message_through_pika(broker, frame_max):
    """A 5 MiB body arrives intact whatever frame_max splits it into."""
    body = bytes(range(256)) * (5 * 4096)
    params = pika.URLParameters(broker.url)
    params.frame_max = frame_max
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, body)
    _, _, got = ch.basic_get(q, auto_ack=True)
    conn.close()
    assert len(got) == len(body) and got == body


@pytest.mark.parametrize("frame_max", [131072, 4096])
def test_large_body_is_split_into_frames_of_frame_max(broker, frame_max):
    """Body frames carry frame_max - 8 bytes each (the last one the rest)."""
    with RawClient.connect(broker.port, frame_max=frame_max) as raw:
        declare(raw, "big")
        chunk = frame_max - 8
        body = bytes(range(256)) * 2000  # 512000 bytes
        data = pamqp_frame.marshal(commands.Basic.Publish(exchange="", routing_key="big"), 1)
        data += pamqp_frame.marshal(pamqp_header.ContentHeader(0, len(body), commands.Basic.Properties()), 1)
        for start in range(0, len(body), chunk):
            data += pamqp_frame.marshal(pamqp_body.ContentBody(body[start : start + chunk]), 1)
        raw.send_bytes(data)
        raw.send(1, commands.Basic.Get(queue="big", no_ack=True))
        _, _, bodies = raw_message(raw)
    assert b"".join(bodies) == body
    assert [len(b) for b in bodies[:-1]] == [chunk] * (len(bodies) - 1)
    assert len(bodies) == -(-len(body) // chunk)


def test_message_over_max_message_size_closes_channel_406(broker_factory):
    """max_message_size: one byte over is a channel error with RabbitMQ's text; exactly the limit is fine."""
    broker = broker_factory(max_message_size=1000)
    with RawClient.connect(broker.port) as raw:
        declare(raw, "sized")
        raw.publish(1, "", "sized", b"x" * 1000)
        assert ready(raw, "sized") == 1
        raw.publish(1, "", "sized", b"x" * 1001)
        close = raw.expect_channel_close(1)
        assert close.reply_code == 406
        assert close.reply_text == "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000"
        assert (close.class_id, close.method_id) == (60, 40)
        raw.open_channel(2)
        assert ready(raw, "sized", 2) == 1


def test_zero_length_body_is_delivered_without_body_frame(ch1):
    """Get-Ok then a content header with body_size 0 and no body frame; the next frame is the next reply."""
    declare(ch1, "empty")
    ch1.publish(1, "", "empty", b"")
    ch1.send(1, commands.Basic.Get(queue="empty", no_ack=True))
    ch1.send(1, commands.Basic.Get(queue="empty", no_ack=True))
    ftypes = [raw_frame(ch1)[0] for _ in range(3)]
    assert ftypes == [1, 2, 1]
    ch1.buffer = b""


def test_zero_length_body_through_pika(broker):
    """pika receives b'' for an empty message."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"")
    method, _, body = ch.basic_get(q, auto_ack=True)
    conn.close()
    assert method is not None and body == b""


def _publish_method(channel=1):
    return pamqp_frame.marshal(commands.Basic.Publish(exchange="", routing_key="q"), channel)


def _header(size, class_id=60, weight=0):
    payload = struct.pack(">HHQH", class_id, weight, size, 0)
    return struct.pack(">BHI", 2, 1, len(payload)) + payload + b"\xce"


def _body(data):
    return pamqp_frame.marshal(pamqp_body.ContentBody(data), 1)


DECLARE = pamqp_frame.marshal(commands.Queue.Declare(queue="q"), 1)
EXPECT_HEADER = "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"
EXPECT_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"
EXPECT_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"


@pytest.mark.parametrize("data, text, ids", [
    (_header(3), EXPECT_METHOD, (0, 0)),
    (_body(b"abc"), EXPECT_METHOD, (0, 0)),
    (_publish_method() + _body(b"abc"), EXPECT_HEADER, (60, 40)),
    (_publish_method() + DECLARE, EXPECT_HEADER, (60, 40)),
    (_publish_method() + _header(10) + _body(b"abc") + DECLARE, EXPECT_BODY, (60, 40)),
    (_publish_method() + _header(3, class_id=50),
     "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead", (60, 40)),
    (_publish_method() + _header(3, weight=1), EXPECT_HEADER, (60, 40)),
    (_publish_method() + _header(0) + _body(b"abc"), EXPECT_METHOD, (0, 0)),
    (_publish_method() + _header(3) + _body(b"abcde") + DECLARE, EXPECT_BODY, (60, 40)),
], ids=["header-alone", "body-alone", "body-without-header", "method-instead-of-header",
        "method-mid-body", "header-of-class-50", "header-weight-1", "body-after-empty-message",
        "body-longer-than-announced"])
def test_content_frames_out_of_order_close_the_connection_505(ch1, data, text, ids):
    """Content assembly errors: Connection.Close 505 with RabbitMQ's text and class/method ids."""
    ch1.send_bytes(data)
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text, (close.class_id, close.method_id)) == (505, text, ids)


def test_empty_body_frames_are_accepted(ch1):
    """An empty body frame before the real one is allowed; the message completes normally."""
    declare(ch1, "q")
    ch1.send_bytes(_publish_method() + _header(3) + _body(b"") + _body(b"abc"))
    ch1.send(1, commands.Basic.Get(queue="q", no_ack=True))
    ch1.expect(commands.Basic.GetOk, 1)
    ch1.expect(pamqp_header.ContentHeader, 1)
    assert ch1.expect(pamqp_body.ContentBody, 1).value == b"abc"
