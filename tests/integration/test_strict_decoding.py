"""Method frames whose arguments do not fill the payload exactly, as RabbitMQ 3.10.8 answers
them: cut short or with octets left over, it is the same decode fault (501 "cannot decode" with
the argument octets and the method's ids; on channel 0 its reader crashes: a bare 541)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from pamqp import commands, frame

from tests.support.raw import RawClient


def reframed(method: Any, channel: int, cut: int = 0, extra: bytes = b"") -> bytes:
    """The method frame with its payload cut by `cut` octets or extended by `extra`."""
    data = frame.marshal(method, channel)
    payload = data[7:-1]
    payload = payload[: len(payload) - cut] + extra
    return data[:3] + struct.pack(">I", len(payload)) + payload + b"\xce"


CASES = [
    (commands.Queue.Declare(queue="", exclusive=True), 0, b"xy", "<<0,0,0,4,0,0,0,0,120,121>>", (50, 10)),
    (commands.Queue.Declare(queue="", exclusive=True), 1, b"", "<<0,0,0,4,0,0,0>>", (50, 10)),
    (commands.Basic.Publish(exchange="", routing_key="x"), 0, b"xy", "<<0,0,0,1,120,0,120,121>>", (60, 40)),
    (commands.Basic.Ack(delivery_tag=1), 0, b"xy", "<<0,0,0,0,0,0,0,1,0,120,121>>", (60, 80)),
    (commands.Basic.Qos(prefetch_count=1), 0, b"\x00", "<<0,0,0,0,0,1,0,0>>", (60, 10)),
]


@pytest.mark.parametrize("method,cut,extra,octets,ids", CASES, ids=["declare+2", "declare-1", "publish+2",
                                                                     "ack+2", "qos+1"])
def test_arguments_not_filling_the_payload_are_a_frame_error(opened, method, cut, extra, octets, ids):
    opened.send_bytes(reframed(method, 1, cut, extra))
    close = opened.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (501, f"FRAME_ERROR - cannot decode {octets}")
    assert (close.class_id, close.method_id) == ids


def test_channel_open_with_octets_left_over(opened):
    """The first method of a new channel is decoded the same way."""
    opened.send_bytes(reframed(commands.Channel.Open(), 2, extra=b"\x00"))
    close = opened.expect_connection_close()
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        501, "FRAME_ERROR - cannot decode <<1,48,0>>", 20, 10)


@pytest.mark.parametrize("cut,extra", [(0, b"\x01"), (1, b"")])
def test_channel_zero_method_that_does_not_decode_is_a_bare_internal_error(opened, cut, extra):
    opened.send_bytes(reframed(commands.Connection.Close(reply_code=200, reply_text="x", class_id=0, method_id=0),
                               0, cut, extra))
    close = opened.expect(commands.Connection.Close, 0)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (541, "INTERNAL_ERROR", 0, 0)


def test_exact_arguments_still_decode(opened):
    """The check does not refuse well-formed frames: a publish and a get round-trip."""
    opened.send(1, commands.Queue.Declare(queue="strict", exclusive=True))
    opened.expect(commands.Queue.DeclareOk, 1)
    opened.publish(1, "", "strict", b"exact")
    opened.send(1, commands.Basic.Get(queue="strict", no_ack=True))
    opened.expect(commands.Basic.GetOk, 1)
