"""Frame-level faults on an open connection, sans-IO: RabbitMQ 3.10.8's code, text, ids and scope.

Every fault here closes the whole connection (Connection.Close on channel 0). Most then wait
for Close-Ok; a broken frame stream (too large, bad end octet) closes the socket 3 s after the
Close instead, and a method with unknown ids drops the socket at once without a frame.
"""

from __future__ import annotations

import struct

import pytest
from pamqp import body, commands, frame, header

from amqpd.protocol.frames import HEARTBEAT_FRAME
from amqpd.session.connection import AwaitCloseOk, CloseAfterFlush, ConnectionState
from tests.session.test_handshake import assert_close, opened, send, sent


def raw_frame(ftype: int, channel: int, payload: bytes, end: bytes = b"\xce") -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + end


def method_frame(channel: int, class_id: int, method_id: int, args: bytes = b"") -> bytes:
    return raw_frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def content_header(size: int, class_id: int = 60, weight: int = 0) -> bytes:
    return struct.pack(">HHQH", class_id, weight, size, 0)


def publish(conn, channel: int = 1) -> None:
    send(conn, channel, commands.Basic.Publish(exchange="", routing_key="nowhere"))


def channel_one(frame_max: int = 131072, channel_max: int = 2047):
    """An open connection with channel 1 open and an empty outbox."""
    conn = opened(channel_max=channel_max, frame_max=frame_max)
    send(conn, 1, commands.Channel.Open())
    assert [type(f) for _, f in sent(conn)] == [commands.Channel.OpenOk]
    return conn


def assert_waits_for_close_ok(conn) -> None:
    assert conn.state is ConnectionState.AWAIT_CLOSE_OK
    assert conn.close_plan == AwaitCloseOk(30.0)
    send(conn, 0, commands.Connection.CloseOk())
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(0)


def assert_closes_after_delay(conn) -> None:
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(3.0)


# -- broken frame stream ---------------------------------------------------------------------------


@pytest.mark.parametrize("ftype,size", [(1, 5010), (3, 6000), (3, 4097)])
def test_frame_over_frame_max(ftype, size):
    """Payload above the negotiated frame_max: 501 quoting frame_max - 8, closed 3 s later."""
    conn = channel_one(frame_max=4096)
    conn.feed(struct.pack(">BHI", ftype, 1, size))
    assert_close(conn, 501, f"FRAME_ERROR - type {ftype}, all octets = <<>>: {{frame_too_large,{size},4088}}", 0, 0)
    assert_closes_after_delay(conn)


def test_body_of_exactly_frame_max_is_accepted():
    """RabbitMQ's 8-byte allowance: a 4096-byte body payload passes frame_max 4096."""
    conn = channel_one(frame_max=4096)
    publish(conn)
    conn.feed(frame.marshal(header.ContentHeader(0, 4096, commands.Basic.Properties()), 1))
    conn.feed(raw_frame(3, 1, b"x" * 4096))
    assert sent(conn) == []
    assert conn.state is ConnectionState.OPEN


@pytest.mark.parametrize("data,text", [
    (raw_frame(1, 2, b"\x00\x14\x00\x0a\x00", end=b"\x00"),
     "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}"),
    (raw_frame(8, 0, b"", end=b"\xff"), "FRAME_ERROR - type 8, all octets = <<>>: {invalid_frame_end_marker,255}"),
    (raw_frame(1, 1, b"\x00\x14\x00\x0a" + b"x" * 16, end=b"\x01"),
     "FRAME_ERROR - type 1, first 16 octets = <<0,20,0,10,120,120,120,120,120,120,120,120,120,120,\n"
     "                            120,120>>: {invalid_frame_end_marker,1}"),
])
def test_bad_frame_end(data, text):
    """A wrong end octet: 501 showing the payload as Erlang prints it (wrapped at column 80)."""
    conn = channel_one()
    conn.feed(data)
    assert_close(conn, 501, text, 0, 0)
    assert_closes_after_delay(conn)


def test_frames_before_a_broken_one_are_handled():
    """Frames in the same read before the bad one still get their replies, in order."""
    conn = channel_one()
    conn.feed(frame.marshal(commands.Channel.Open(), 2) + raw_frame(8, 0, b"", end=b"\x00"))
    replies = sent(conn)
    assert [(ch, type(f)) for ch, f in replies] == [(2, commands.Channel.OpenOk), (0, commands.Connection.Close)]


# -- frames that parse but cannot be taken ---------------------------------------------------------


@pytest.mark.parametrize("ftype,channel,payload,text", [
    (5, 1, b"abc", 'FRAME_ERROR - type 5, all octets = <<"abc">>: unknown_frame'),
    (9, 0, b"", "FRAME_ERROR - type 9, all octets = <<>>: unknown_frame"),
    (4, 1, b"abc", 'FRAME_ERROR - type 4, all octets = <<"abc">>: unknown_frame'),
    (5, 1, b"abcdefghijklmnopqrst", 'FRAME_ERROR - type 5, first 16 octets = <<"abcdefghijklmnop">>: unknown_frame'),
    (5, 1, b'a\n"\\\t', 'FRAME_ERROR - type 5, all octets = <<"a\\n\\"\\\\\\t">>: unknown_frame'),
    (5, 1, b"a\x1b\x08\x0b\x0c\x0d", 'FRAME_ERROR - type 5, all octets = <<"a\\e\\b\\v\\f\\r">>: unknown_frame'),
    (5, 1, b"ab\x01c", "FRAME_ERROR - type 5, all octets = <<97,98,1,99>>: unknown_frame"),
    (5, 1, b"ab\x7f", "FRAME_ERROR - type 5, all octets = <<97,98,127>>: unknown_frame"),
    (8, 0, b"ab", 'FRAME_ERROR - type 8, all octets = <<"ab">>: unknown_frame'),
    (1, 1, b"\x00\x3c", "FRAME_ERROR - type 1, all octets = <<0,60>>: unknown_frame"),
    (1, 0, b"\x00\x3c\x00", "FRAME_ERROR - type 1, all octets = <<0,60,0>>: unknown_frame"),
    (2, 1, b"\x00\x3c\x00", "FRAME_ERROR - type 2, all octets = <<0,60,0>>: unknown_frame"),
])
def test_unparseable_frame(ftype, channel, payload, text):
    """Unknown frame types, heartbeats with a payload, too-short methods or headers: 501."""
    conn = channel_one()
    conn.feed(raw_frame(ftype, channel, payload))
    assert_close(conn, 501, text, 0, 0)
    assert_waits_for_close_ok(conn)


def test_heartbeat_on_a_non_zero_channel():
    """Heartbeat on channel 1: 505 UNEXPECTED_FRAME, class 0 method 0."""
    conn = channel_one()
    conn.feed(raw_frame(8, 1, b""))
    assert_close(conn, 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>", 0, 0)
    assert_waits_for_close_ok(conn)


@pytest.mark.parametrize("data,text", [
    (raw_frame(2, 0, content_header(3)), "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,3,0,0>>"),
    (raw_frame(3, 0, b"abc"), 'UNEXPECTED_FRAME - type 3, all octets = <<"abc">>'),
])
def test_content_frames_on_channel_zero(data, text):
    """Content header or body on channel 0: 505 quoting the frame."""
    conn = channel_one()
    conn.feed(data)
    assert_close(conn, 505, text, 0, 0)


@pytest.mark.parametrize("method,ids", [
    (commands.Queue.Declare(queue="x"), (50, 10)),
    (commands.Basic.Publish(exchange="", routing_key="x"), (60, 40)),
    (commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0), (20, 40)),
    (commands.Channel.CloseOk(), (20, 41)),
])
def test_method_on_an_unopened_channel(method, ids):
    """Any method but Channel.Open on a channel never opened: 504 with that method's ids."""
    conn = channel_one()
    send(conn, 5, method)
    assert_close(conn, 504, "CHANNEL_ERROR - expected 'channel.open'", *ids)
    assert_waits_for_close_ok(conn)


@pytest.mark.parametrize("data", [raw_frame(2, 5, content_header(3)), raw_frame(3, 5, b"abc")])
def test_content_frame_on_an_unopened_channel(data):
    """Header or body on a channel never opened: 505 'expected method frame', 0/0."""
    conn = channel_one()
    conn.feed(data)
    assert_close(conn, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead", 0, 0)


def test_second_channel_open():
    """Channel.Open on an open channel: 504 "second 'channel.open' seen", 20/10."""
    conn = channel_one()
    send(conn, 1, commands.Channel.Open())
    assert_close(conn, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)


@pytest.mark.parametrize("channel,method,ids", [
    (0, commands.Channel.Open(), (20, 10)),
    (0, commands.Basic.Publish(exchange="", routing_key="x"), (60, 40)),
    (0, commands.Queue.Declare(queue="x"), (50, 10)),
    (0, commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0), (20, 40)),
    (0, commands.Connection.Open(virtual_host="/"), (10, 40)),
    (0, commands.Connection.StartOk(client_properties={}, mechanism="PLAIN", response="\0guest\0guest"), (10, 11)),
    (0, commands.Connection.TuneOk(channel_max=10, frame_max=4096, heartbeat=0), (10, 31)),
    (0, commands.Connection.CloseOk(), (10, 51)),
    (0, commands.Connection.Blocked(reason="x"), (10, 60)),
    (0, commands.Connection.Unblocked(), (10, 61)),
])
def test_wrong_method_on_channel_zero(channel, method, ids):
    """Channel 0 of a running connection takes only Connection.Close: 504 for anything else."""
    conn = channel_one()
    send(conn, channel, method)
    assert_close(conn, 504, "CHANNEL_ERROR - unexpected method in connection state running", *ids)


def test_connection_method_on_a_channel():
    """Connection.Open sent on channel 1: 503 COMMAND_INVALID 'unimplemented method', 10/40."""
    conn = channel_one()
    send(conn, 1, commands.Connection.Open(virtual_host="/"))
    assert_close(conn, 503, "COMMAND_INVALID - unimplemented method", 10, 40)


def test_channel_number_above_channel_max_is_accepted():
    """RabbitMQ checks the count of open channels, not their numbers: channel 11 opens at cm=10."""
    conn = opened(channel_max=10)
    send(conn, 11, commands.Channel.Open())
    send(conn, 65535, commands.Channel.Open())
    assert [(ch, type(f)) for ch, f in sent(conn)] == [
        (11, commands.Channel.OpenOk), (65535, commands.Channel.OpenOk)]


def test_opening_more_channels_than_channel_max():
    """With channel_max 3 and three channels open, a fourth: 530 NOT_ALLOWED, class 0 method 0."""
    conn = opened(channel_max=3)
    for channel in (1, 2, 3):
        send(conn, channel, commands.Channel.Open())
    assert len(sent(conn)) == 3
    send(conn, 4, commands.Channel.Open())
    assert_close(conn, 530, "NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)",
                 0, 0)


def test_closed_channel_frees_a_slot():
    """Once a channel's Close-Ok went out it no longer counts against channel_max."""
    conn = opened(channel_max=1)
    send(conn, 1, commands.Channel.Open())
    send(conn, 1, commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    assert [(ch, type(f)) for ch, f in sent(conn)] == [(1, commands.Channel.OpenOk), (1, commands.Channel.CloseOk)]
    send(conn, 2, commands.Channel.Open())
    assert [(ch, type(f)) for ch, f in sent(conn)] == [(2, commands.Channel.OpenOk)]


# -- content assembly ------------------------------------------------------------------------------

EXPECTED_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
EXPECTED_HEADER = "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"
EXPECTED_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


@pytest.mark.parametrize("data", [raw_frame(2, 1, content_header(3)), raw_frame(3, 1, b"abc")])
def test_content_without_publish(data):
    """A content header or body with no Basic.Publish before it: 505, class 0 method 0."""
    conn = channel_one()
    conn.feed(data)
    assert_close(conn, 505, EXPECTED_METHOD, 0, 0)


@pytest.mark.parametrize("after_publish", [
    raw_frame(3, 1, b"abc"),
    frame.marshal(commands.Queue.Declare(queue="x"), 1),
    raw_frame(2, 1, content_header(3, weight=1)),
])
def test_publish_followed_by_something_other_than_a_header(after_publish):
    """After Basic.Publish only a class-60 header (weight 0) may come: 505 with 60/40."""
    conn = channel_one()
    publish(conn)
    conn.feed(after_publish)
    assert_close(conn, 505, EXPECTED_HEADER, 60, 40)


def test_header_of_the_wrong_class():
    """A class-50 header after Basic.Publish: 505 naming the class, 60/40."""
    conn = channel_one()
    publish(conn)
    conn.feed(raw_frame(2, 1, content_header(3, class_id=50)))
    assert_close(conn, 505, "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead",
                 60, 40)


def test_method_in_the_middle_of_a_body():
    """Header for 10 bytes, 3 arrive, then a method: 505 'expected content body', 60/40."""
    conn = channel_one()
    publish(conn)
    conn.feed(raw_frame(2, 1, content_header(10)) + raw_frame(3, 1, b"abc"))
    send(conn, 1, commands.Queue.Declare(queue="x"))
    assert_close(conn, 505, EXPECTED_BODY, 60, 40)


def test_body_after_an_empty_message_completed():
    """body_size 0 completes the message at the header, so a body frame after it is unexpected."""
    conn = channel_one()
    publish(conn)
    conn.feed(raw_frame(2, 1, content_header(0)) + raw_frame(3, 1, b"abc"))
    assert_close(conn, 505, EXPECTED_METHOD, 0, 0)


def test_body_bigger_than_declared():
    """No error at the oversized body; the message never completes, so the next method is a 505."""
    conn = channel_one()
    publish(conn)
    conn.feed(raw_frame(2, 1, content_header(3)) + raw_frame(3, 1, b"abcde"))
    assert sent(conn) == []
    assert conn.state is ConnectionState.OPEN
    send(conn, 1, commands.Basic.Get(queue="x"))
    assert_close(conn, 505, EXPECTED_BODY, 60, 40)


def test_heartbeats_and_empty_bodies_may_interleave_with_content():
    """A heartbeat on channel 0 and an empty body frame inside a message are accepted."""
    conn = channel_one()
    publish(conn)
    conn.feed(raw_frame(2, 1, content_header(10)) + raw_frame(3, 1, b"abc") + HEARTBEAT_FRAME
              + raw_frame(3, 1, b"") + raw_frame(3, 1, b"defghij"))
    send(conn, 2, commands.Channel.Open())
    assert [(ch, type(f)) for ch, f in sent(conn)] == [(2, commands.Channel.OpenOk)]


# -- methods that do not decode --------------------------------------------------------------------


@pytest.mark.parametrize("data", [method_frame(1, 60, 99), method_frame(1, 99, 1), method_frame(0, 10, 99)])
def test_unknown_class_or_method_ids_drop_the_connection(data):
    """RabbitMQ's reader crashes on unknown ids: the socket closes at once and no frame is sent."""
    conn = channel_one()
    conn.feed(data)
    assert sent(conn) == []
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(0)


def test_arguments_that_do_not_decode():
    """A truncated Queue.Declare: 501 'cannot decode' with the argument octets, 50/10."""
    conn = channel_one()
    conn.feed(method_frame(1, 50, 10, b"\x00\x00\x05ab"))
    assert_close(conn, 501, "FRAME_ERROR - cannot decode <<0,0,5,97,98>>", 50, 10)


def test_long_reply_text_is_cut_to_255_bytes():
    """A reply text over 255 bytes ends in '...' at exactly 255, as RabbitMQ truncates it."""
    conn = channel_one()
    conn.feed(method_frame(1, 50, 10, b"\x00\x00\x60" + b"x" * 150))
    [(_, close)] = sent(conn)
    assert len(close.reply_text.encode()) == 255
    assert close.reply_text.startswith("FRAME_ERROR - cannot decode <<0,0,96,120,120,")
    assert close.reply_text.endswith(",120...")


def test_after_the_close_only_close_ok_counts():
    """Once the broker sent Connection.Close, other frames are ignored until Close-Ok."""
    conn = channel_one()
    send(conn, 5, commands.Queue.Declare(queue="x"))
    sent(conn)
    send(conn, 1, commands.Queue.Declare(queue="y"))
    conn.feed(HEARTBEAT_FRAME + frame.marshal(body.ContentBody(b"zz"), 1))
    assert sent(conn) == []
    assert conn.state is ConnectionState.AWAIT_CLOSE_OK
    send(conn, 0, commands.Connection.CloseOk())
    assert conn.state is ConnectionState.CLOSED and isinstance(conn.close_plan, CloseAfterFlush)
