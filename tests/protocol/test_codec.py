"""The hand-written hot-path codecs agree with pamqp, the codec of record, byte for byte."""

from __future__ import annotations

import struct
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import body, commands, frame, header

from amqpd.protocol import errors, frames
from amqpd.protocol.properties import decode_headers, parse_content_header, parse_expiration


class _Publish(commands.Basic.Publish):
    """pamqp's Basic.Publish without its client-side name check (brokers accept any UTF-8)."""

    def validate(self) -> None:
        pass


class _Properties(commands.Basic.Properties):
    """pamqp's properties without its client-side checks, so cluster_id can be set too."""

    def validate(self) -> None:
        pass


def _utf8_within(limit: int) -> st.SearchStrategy[str]:
    return st.text(max_size=limit).filter(lambda s: len(s.encode("utf-8")) <= limit)


names = _utf8_within(255)
exchange_names = st.from_regex(r"[a-zA-Z0-9_.:-]{0,127}", fullmatch=True)  # pamqp's accepted charset
tags = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=255)
u64 = st.integers(0, 2**63 - 1)  # pamqp encodes long-longs as signed
u32 = st.integers(0, 2**32 - 1)
channels = st.integers(0, 65535)

table_keys = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
table_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _utf8_within(100)
    | st.floats(width=32, allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(table_keys, inner, max_size=4),
    max_leaves=12,
)
tables = st.dictionaries(table_keys, table_values, max_size=5)
shortstrs = _utf8_within(40)


@st.composite
def properties(draw: st.DrawFn) -> commands.Basic.Properties:
    """Any subset of all 14 basic properties."""
    maybe = lambda strategy: draw(st.none() | strategy)  # noqa: E731
    return _Properties(
        content_type=maybe(shortstrs), content_encoding=maybe(shortstrs), headers=maybe(tables),
        delivery_mode=maybe(st.integers(1, 2)), priority=maybe(st.integers(0, 255)),
        correlation_id=maybe(shortstrs), reply_to=maybe(shortstrs), expiration=maybe(shortstrs),
        message_id=maybe(shortstrs), timestamp=maybe(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1))
                                  .map(lambda d: d.replace(microsecond=0))),
        message_type=maybe(shortstrs), user_id=maybe(shortstrs), app_id=maybe(shortstrs), cluster_id=maybe(shortstrs),
    )


# -- decoding the per-message methods ------------------------------------------------------------


@given(exchange=names, routing_key=names, mandatory=st.booleans(), immediate=st.booleans())
def test_decode_publish_matches_pamqp(exchange, routing_key, mandatory, immediate):
    """Basic.Publish decoded by hand equals pamqp's fields, for any UTF-8 names up to 255 bytes."""
    payload = _Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory, immediate=immediate)
    raw = struct.pack(">HH", 60, 40) + payload.marshal()
    index, method = frames.decode_method(raw)
    assert index == frames.BASIC_PUBLISH
    assert (method.exchange, method.routing_key, method.mandatory, method.immediate) == (
        exchange, routing_key, mandatory, immediate)


@given(tag=u64, multiple=st.booleans())
def test_decode_ack_matches_pamqp(tag, multiple):
    """Basic.Ack decoded by hand carries pamqp's delivery tag and multiple flag."""
    raw = struct.pack(">HH", 60, 80) + commands.Basic.Ack(delivery_tag=tag, multiple=multiple).marshal()
    index, method = frames.decode_method(raw)
    assert index == frames.BASIC_ACK
    assert (method.delivery_tag, method.multiple) == (tag, multiple)


@given(cut=st.integers(0, 12))
def test_decode_truncated_publish_raises_value_error(cut):
    """A Basic.Publish whose arguments are cut short is a ValueError, never another exception."""
    raw = struct.pack(">HH", 60, 40) + commands.Basic.Publish(exchange="ex", routing_key="rk").marshal()
    with pytest.raises(ValueError):
        frames.decode_method(raw[: 4 + cut] if 4 + cut < len(raw) else raw[:-1])


def test_decode_truncated_ack_and_unknown_ids():
    """A short Basic.Ack is a ValueError; unknown class/method ids are a KeyError."""
    with pytest.raises(ValueError):
        frames.decode_method(struct.pack(">HH", 60, 80) + b"\0\0\0")
    with pytest.raises(KeyError):
        frames.decode_method(struct.pack(">HH", 60, 99))


def test_decode_other_methods_use_pamqp():
    """Every other method comes back as the pamqp object with its fields."""
    raw = frame.marshal(commands.Queue.Declare(queue="q", durable=True, arguments={"x-max-length": 5}), 1)[7:-1]
    index, method = frames.decode_method(raw)
    assert index == commands.Queue.Declare.index
    assert isinstance(method, commands.Queue.Declare)
    assert (method.queue, method.durable, method.arguments) == ("q", True, {"x-max-length": 5})


# -- encoding deliveries ---------------------------------------------------------------------------


@given(channel=channels, consumer_tag=tags, delivery_tag=u64, redelivered=st.booleans(),
       exchange=exchange_names, routing_key=tags)
def test_write_deliver_matches_pamqp(channel, consumer_tag, delivery_tag, redelivered, exchange, routing_key):
    """Basic.Deliver written by hand is byte for byte pamqp's frame."""
    out = bytearray()
    frames.write_deliver(out, channel, frames.shortstr(consumer_tag), delivery_tag, redelivered,
                         frames.shortstr(exchange) + frames.shortstr(routing_key))
    expected = frame.marshal(commands.Basic.Deliver(
        consumer_tag=consumer_tag, delivery_tag=delivery_tag, redelivered=redelivered,
        exchange=exchange, routing_key=routing_key), channel)
    assert bytes(out) == expected


@given(channel=channels, delivery_tag=u64, redelivered=st.booleans(), exchange=exchange_names,
       routing_key=tags, message_count=u32)
def test_write_get_ok_matches_pamqp(channel, delivery_tag, redelivered, exchange, routing_key, message_count):
    """Basic.Get-Ok written by hand is byte for byte pamqp's frame."""
    out = bytearray()
    frames.write_get_ok(out, channel, delivery_tag, redelivered,
                        frames.shortstr(exchange) + frames.shortstr(routing_key), message_count)
    expected = frame.marshal(commands.Basic.GetOk(
        delivery_tag=delivery_tag, redelivered=redelivered, exchange=exchange, routing_key=routing_key,
        message_count=message_count), channel)
    assert bytes(out) == expected


@settings(max_examples=150)
@given(channel=channels, props=properties(), content=st.binary(max_size=20000),
       frame_max=st.integers(4096, 12000))
def test_write_content_matches_pamqp(channel, props, content, frame_max):
    """Header plus body frames of at most frame_max - 8 payload bytes; an empty body has no frame."""
    out = bytearray()
    frames.write_content(out, channel, props.marshal(), content, frame_max)
    expected = frame.marshal(header.ContentHeader(0, len(content), props), channel)
    chunk = frame_max - 8
    for start in range(0, len(content), chunk):
        expected += frame.marshal(body.ContentBody(content[start:start + chunk]), channel)
    assert bytes(out) == expected


def _frames(data: bytes) -> list[tuple[int, int, bytes]]:
    reader = frames.FrameReader(0)
    reader.feed(data)
    return list(reader.frames())


def test_write_content_empty_body_is_header_only():
    """A zero-length body is sent as the content header alone."""
    out = bytearray()
    frames.write_content(out, 3, commands.Basic.Properties().marshal(), b"", 4096)
    assert [(ftype, ch) for ftype, ch, _ in _frames(bytes(out))] == [(frames.FRAME_HEADER, 3)]


def test_write_content_splits_at_frame_max_minus_eight():
    """A body of 2 * (frame_max - 8) + 1 bytes travels in three body frames."""
    out = bytearray()
    frames.write_content(out, 1, b"\0\0", b"x" * (2 * 4088 + 1), 4096)
    sizes = [len(payload) for ftype, _, payload in _frames(bytes(out)) if ftype == frames.FRAME_BODY]
    assert sizes == [4088, 4088, 1]


@given(channel=channels, queue=exchange_names, messages=u32, consumers=u32)
def test_queue_declare_ok_matches_pamqp(channel, queue, messages, consumers):
    """Queue.Declare-Ok by hand is pamqp's frame."""
    assert frames.queue_declare_ok(channel, queue, messages, consumers) == frame.marshal(
        commands.Queue.DeclareOk(queue=queue, message_count=messages, consumer_count=consumers), channel)


@given(channel=channels, code=st.integers(0, 65535), text=tags, exchange=exchange_names, routing_key=tags)
def test_basic_return_head_matches_pamqp(channel, code, text, exchange, routing_key):
    """Basic.Return by hand is pamqp's frame."""
    assert frames.basic_return_head(channel, code, text, exchange, routing_key) == frame.marshal(
        commands.Basic.Return(reply_code=code, reply_text=text, exchange=exchange, routing_key=routing_key), channel)


@given(channel=channels, ack=st.booleans(), tag=u64, multiple=st.booleans())
def test_confirm_frame_matches_pamqp(channel, ack, tag, multiple):
    """Publisher confirms (Basic.Ack / Basic.Nack) by hand are pamqp's frames; a nack carries
    requeue=true, as RabbitMQ's do."""
    method = (commands.Basic.Ack(delivery_tag=tag, multiple=multiple) if ack
              else commands.Basic.Nack(delivery_tag=tag, multiple=multiple, requeue=True))
    assert frames.confirm_frame(channel, ack, tag, multiple) == frame.marshal(method, channel)


# -- content headers -------------------------------------------------------------------------------


@settings(max_examples=200)
@given(props=properties(), body_size=st.integers(0, 2**63 - 1))
def test_parse_content_header_matches_pamqp(props, body_size):
    """The few properties the broker reads, and the raw bytes it forwards, agree with pamqp."""
    raw = frame.marshal(header.ContentHeader(0, body_size, props), 1)
    payload = raw[7:-1]
    _, _, theirs = frame.unmarshal(raw)
    parsed = parse_content_header(payload)
    assert parsed.class_id == 60
    assert parsed.body_size == body_size == theirs.body_size
    assert parsed.raw_properties == props.marshal()
    assert parsed.delivery_mode == (theirs.properties.delivery_mode or 0)
    assert parsed.priority == theirs.properties.priority
    expiration = theirs.properties.expiration  # parsed to ms once; an invalid one leaves its error text
    try:
        expected = None if expiration is None else parse_expiration(expiration)
    except ValueError:
        expected = None
    assert parsed.expiration == expected
    assert (parsed.expiration_error is None) is (expiration is None or expected is not None)
    assert parsed.user_id == theirs.properties.user_id
    assert decode_headers(parsed.raw_properties) == (theirs.properties.headers or {})


@settings(max_examples=200)
@given(props=properties(), data=st.data())
def test_truncated_or_padded_property_lists_raise(props, data):
    """A property list cut short, with trailing bytes, or with the reserved flag bits is refused."""
    raw_props = props.marshal()
    prefix = struct.pack(">HHQ", 60, 0, 0)
    if len(raw_props) > 2:
        cut = data.draw(st.integers(2, len(raw_props) - 1))
        with pytest.raises(ValueError):
            parse_content_header(prefix + raw_props[:cut])
    with pytest.raises(ValueError):
        parse_content_header(prefix + raw_props + b"\x00")
    flags = struct.unpack_from(">H", raw_props)[0] | data.draw(st.sampled_from([1, 2, 3]))
    with pytest.raises(ValueError):
        parse_content_header(prefix + struct.pack(">H", flags) + raw_props[2:])


def test_too_short_content_header_raises():
    """Fewer than 14 bytes cannot hold the class, weight, size and flags."""
    with pytest.raises(ValueError):
        parse_content_header(b"\x00\x3c" + b"\x00" * 11)


# -- frame splitting -------------------------------------------------------------------------------


def _sample_stream() -> tuple[bytes, list[tuple[int, int, bytes]]]:
    pieces = [
        frame.marshal(commands.Basic.Publish(exchange="ex", routing_key="rk"), 1),
        frame.marshal(header.ContentHeader(0, 5, commands.Basic.Properties(content_type="t")), 1),
        frame.marshal(body.ContentBody(b"hello"), 1),
        frames.HEARTBEAT_FRAME,
        frame.marshal(commands.Channel.Open(), 2),
        frame.marshal(body.ContentBody(b""), 1),
    ]
    expected = [(p[0], int.from_bytes(p[1:3], "big"), p[7:-1]) for p in pieces]
    return b"".join(pieces), expected


def test_frames_split_at_every_byte_boundary_come_out_identical():
    """However the stream is cut in two, the same frames come out in the same order."""
    data, expected = _sample_stream()
    for cut in range(len(data) + 1):
        reader = frames.FrameReader(4096)
        got = []
        for part in (data[:cut], data[cut:]):
            reader.feed(part)
            got.extend(reader.frames())
        assert got == expected, cut
        assert reader.unparsed == 0


def test_frames_fed_one_byte_at_a_time():
    """A stream fed byte by byte yields each frame exactly once, when its end octet arrives."""
    data, expected = _sample_stream()
    reader = frames.FrameReader(4096)
    got = []
    for i in range(len(data)):
        reader.feed(data[i:i + 1])
        got.extend(reader.frames())
    assert got == expected


def test_oversize_frame_is_frame_error_501():
    """A payload above frame_max is a fatal 501 quoting frame_max - 8, as RabbitMQ does."""
    reader = frames.FrameReader(4096)
    reader.feed(struct.pack(">BHI", 1, 1, 5010))
    with pytest.raises(errors.ConnectionError) as info:
        list(reader.frames())
    assert isinstance(info.value, errors.FatalFrameError)
    assert info.value.code == 501
    assert info.value.text == "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,5010,4088}"
    assert (info.value.class_id, info.value.method_id) == (0, 0)


def test_payload_of_exactly_frame_max_is_accepted():
    """RabbitMQ's 8-byte allowance: a 4096-byte payload passes frame_max 4096, 4097 does not."""
    reader = frames.FrameReader(4096)
    reader.feed(struct.pack(">BHI", 3, 1, 4096) + b"x" * 4096 + b"\xce")
    assert [len(p) for _, _, p in reader.frames()] == [4096]
    reader.feed(struct.pack(">BHI", 3, 1, 4097))
    with pytest.raises(errors.FatalFrameError, match=r"\{frame_too_large,4097,4088\}"):
        list(reader.frames())


def test_bad_end_byte_is_frame_error_501_after_the_good_frames():
    """Frames before a bad end octet still come out; the bad one is a fatal 501 showing its payload."""
    good = frame.marshal(commands.Channel.Open(), 1)
    reader = frames.FrameReader(4096)
    reader.feed(good + struct.pack(">BHI", 1, 2, 5) + b"\x00\x14\x00\x0a\x00" + b"\x00")
    got = []
    with pytest.raises(errors.FatalFrameError) as info:
        for item in reader.frames():
            got.append(item)
    assert got == [(1, 1, good[7:-1])]
    assert info.value.code == 501
    assert info.value.text == "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}"


def test_frame_max_zero_means_no_limit():
    """With frame_max 0 (both sides unlimited) any payload size is read."""
    reader = frames.FrameReader(0)
    reader.feed(struct.pack(">BHI", 3, 1, 200000) + b"y" * 200000 + b"\xce")
    assert [len(p) for _, _, p in reader.frames()] == [200000]
