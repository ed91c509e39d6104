"""ContentAssembler on its own: Basic.Publish, content header and body frames in, one complete
publish out, and RabbitMQ's frame-order faults (the channel adds the method ids)."""

from __future__ import annotations

import struct

import pytest
from pamqp import commands, frame, header

from amqpd.protocol import errors
from amqpd.protocol.content import ContentAssembler, MalformedContentHeader
from amqpd.protocol.frames import Publish

EXPECTED_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
EXPECTED_HEADER = "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"
EXPECTED_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


class Ledger:
    buffered = 0


def header_payload(size: int, **properties: object) -> bytes:
    """A content header frame's payload, as pamqp marshals it."""
    return frame.marshal(header.ContentHeader(0, size, commands.Basic.Properties(**properties)), 1)[7:-1]


def assembler(max_size: int = 1000) -> tuple[ContentAssembler, Ledger]:
    ledger = Ledger()
    return ContentAssembler(max_size, ledger), ledger


def started(max_size: int = 1000) -> tuple[ContentAssembler, Ledger]:
    content, ledger = assembler(max_size)
    content.start(Publish("ex", "rk", mandatory=True, immediate=False))
    return content, ledger


def test_one_body_frame_completes_the_publish_with_its_header_and_body():
    content, _ = started()
    assert content.header(header_payload(5, content_type="text/plain", delivery_mode=2)) is None
    assert content.assembling
    done = content.body(b"hello")
    assert done is not None and not content.assembling
    assert (done.exchange, done.routing_key, done.mandatory, done.body) == ("ex", "rk", True, b"hello")
    assert done.header is not None
    assert (done.header.body_size, done.header.delivery_mode) == (5, 2)


def test_an_empty_body_completes_at_the_header():
    content, _ = started()
    done = content.header(header_payload(0))
    assert done is not None and done.body == b"" and not content.assembling


def test_partial_bodies_count_in_the_ledger_until_the_body_is_complete():
    content, ledger = started()
    content.header(header_payload(9))
    assert content.body(b"abc") is None
    assert content.body(b"") is None
    assert content.body(b"def") is None
    assert ledger.buffered == 6
    done = content.body(b"ghi")
    assert done is not None and done.body == b"abcdefghi"
    assert ledger.buffered == 0


def test_the_next_publish_starts_clean():
    content, _ = started()
    content.header(header_payload(2))
    content.body(b"ab")
    content.start(Publish("", "q", mandatory=False, immediate=False))
    content.header(header_payload(1))
    done = content.body(b"z")
    assert done is not None and (done.routing_key, done.body) == ("q", b"z")


def test_a_body_longer_than_announced_never_completes_and_is_not_kept():
    content, ledger = started()
    content.header(header_payload(4))
    assert content.body(b"ab") is None
    assert ledger.buffered == 2
    assert content.body(b"cde") is None  # one byte too many
    assert content.body(b"f") is None
    assert content.assembling and ledger.buffered == 0
    assert content.unexpected_method().text == EXPECTED_BODY


def test_a_method_before_the_header_is_unexpected():
    content, _ = started()
    assert content.unexpected_method().code == errors.UNEXPECTED_FRAME
    assert content.unexpected_method().text == EXPECTED_HEADER


@pytest.mark.parametrize("frame_kind", ["header", "body"])
def test_content_without_a_publish(frame_kind):
    content, _ = assembler()
    with pytest.raises(errors.ConnectionError) as caught:
        if frame_kind == "header":
            content.header(header_payload(1))
        else:
            content.body(b"x")
    assert (caught.value.code, caught.value.text) == (505, EXPECTED_METHOD)


def test_a_body_before_the_header():
    content, _ = started()
    with pytest.raises(errors.ConnectionError) as caught:
        content.body(b"x")
    assert caught.value.text == EXPECTED_HEADER


@pytest.mark.parametrize("payload", [
    struct.pack(">HHQH", 60, 1, 3, 0),  # weight must be 0
    None,  # a second header
])
def test_a_second_header_or_a_weight(payload):
    content, _ = started()
    if payload is None:
        content.header(header_payload(3))
        payload = header_payload(3)
    with pytest.raises(errors.ConnectionError) as caught:
        content.header(payload)
    assert caught.value.text == (EXPECTED_BODY if payload == header_payload(3) else EXPECTED_HEADER)


def test_a_header_of_another_class():
    content, _ = started()
    with pytest.raises(errors.ConnectionError) as caught:
        content.header(struct.pack(">HHQH", 50, 0, 3, 0))
    assert caught.value.text == (
        "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead")


def test_a_body_over_the_size_limit_is_a_channel_error():
    content, _ = started(max_size=10)
    with pytest.raises(errors.ChannelError) as caught:
        content.header(header_payload(11))
    assert (caught.value.code, caught.value.text) == (
        406, "PRECONDITION_FAILED - message size 11 is larger than configured max size 10")
    assert not content.assembling


def test_a_malformed_property_list_is_a_bare_internal_error_with_its_reason():
    content, _ = started()
    with pytest.raises(MalformedContentHeader) as caught:
        content.header(struct.pack(">HHQH", 60, 0, 3, 0x8000))  # content_type announced, absent
    assert (caught.value.code, caught.value.text, caught.value.class_id) == (541, "INTERNAL_ERROR", 0)
    assert caught.value.reason == "property list is truncated"


def test_immediate_is_not_implemented():
    content, _ = assembler()
    with pytest.raises(errors.ConnectionError) as caught:
        content.start(Publish("", "q", mandatory=False, immediate=True))
    assert (caught.value.code, caught.value.text) == (540, "NOT_IMPLEMENTED - immediate=true")
    assert not content.assembling


def test_reset_lets_go_of_a_partial_body():
    content, ledger = started()
    content.header(header_payload(10))
    content.body(b"abcd")
    content.reset()
    assert not content.assembling and ledger.buffered == 0
    with pytest.raises(errors.ConnectionError) as caught:
        content.body(b"x")
    assert caught.value.text == EXPECTED_METHOD
