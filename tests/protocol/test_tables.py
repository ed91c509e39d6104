"""The decoders a client's bytes reach: every input gives a value or a clean error, at a cost
linear in its size.

Cost is counted, not timed: the profiler events (Python and C calls) a decode makes, plus the
bytes it copies by slicing its input (a bytes subclass counts them). pamqp's table decoder
sliced off the remaining input at every field, which is what made wide tables quadratic.
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands, frame
from structlog.testing import capture_logs

from amqpd.auth import sasl
from amqpd.broker.node import Node
from amqpd.settings import Settings
from amqpd.protocol import errors, frames, tables
from amqpd.protocol.properties import parse_content_header
from amqpd.session.connection import Connection, ConnectionState

FUZZ = settings(max_examples=300, deadline=None)


class CountingBytes(bytes):
    """bytes that count what slicing them copies (and stay counting in their slices)."""

    copied = 0

    def __getitem__(self, index: Any) -> Any:
        value = super().__getitem__(index)
        if isinstance(index, slice):
            CountingBytes.copied += len(value)
            return CountingBytes(value)
        return value


def cost(fn: Callable[[], Any]) -> int:
    """Profiler events plus bytes copied by slicing while fn runs."""
    events = 0

    def count(*_: Any) -> None:
        nonlocal events
        events += 1

    CountingBytes.copied = 0
    sys.setprofile(count)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return events + CountingBytes.copied


def assert_linear(make: Callable[[int], bytes], decode: Callable[[bytes], Any], n: int = 2000) -> None:
    """Doubling the input at most doubles the cost (plus 10 % for fixed overheads)."""
    small, large = cost(lambda: decode(CountingBytes(make(n)))), cost(lambda: decode(CountingBytes(make(2 * n))))
    assert large <= 2.2 * small, (small, large)


def wide_table(fields: int) -> bytes:
    body = b"".join(bytes((4,)) + b"k%03d" % (i % 1000) + b"b\x01" for i in range(fields))
    return struct.pack(">I", len(body)) + body


def nested_table(levels: int) -> bytes:
    table = b""
    for _ in range(levels):
        table = b"\x01kF" + struct.pack(">I", len(table)) + table
    return struct.pack(">I", len(table)) + table


# -- tables ---------------------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.binary(max_size=8).map(bytearray)
    | st.integers(0, 2**64 - 1).map(tables.Timestamp) | st.floats(width=32, allow_nan=False).map(tables.Float32),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@FUZZ
@given(st.dictionaries(st.text(max_size=6), values, max_size=5))
def test_tables_round_trip(table):
    """decode(encode(t)) == t with the same value classes; encode(decode(b)) == b; the walker agrees."""
    raw = tables.encode_table(table)
    decoded, end = tables.decode_table(raw)
    assert decoded == table and end == len(raw)
    assert tables.encode_table(decoded) == raw
    assert tables.skip_table(raw, 0, len(raw)) == len(raw)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_table_error(data):
    """Arbitrary bytes: a table or TableError from the decoder, and the walker agrees with it."""
    assert_decoder_and_walker_agree(data)


def assert_decoder_and_walker_agree(data: bytes) -> None:
    try:
        _, end = tables.decode_table(data)
    except tables.TableError:
        end = None
    try:
        walked = tables.skip_table(data, 0, len(data))
    except tables.TableError:
        walked = None
    assert walked == end


@FUZZ
@given(st.dictionaries(st.text(max_size=6), values, min_size=1, max_size=5), st.data())
def test_corrupted_tables_decode_or_raise_table_error(table, data):
    """A valid table with one byte changed or its tail cut: still a table or TableError, and the
    walker agrees with the decoder."""
    raw = bytearray(tables.encode_table(table))
    if data.draw(st.booleans()):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    else:
        del raw[data.draw(st.integers(0, len(raw) - 1)):]
    assert_decoder_and_walker_agree(bytes(raw))


def test_nesting_as_deep_as_a_frame_holds_decodes():
    """No recursion: 20000 levels (a 128 KiB frame holds about that many) decode and re-encode."""
    raw = nested_table(20000)
    decoded, _ = tables.decode_table(raw)
    assert tables.encode_table(decoded) == raw
    assert tables.skip_table(raw, 0, len(raw)) == len(raw)


def test_table_decoding_is_linear():
    assert_linear(wide_table, tables.decode_table)
    assert_linear(nested_table, tables.decode_table)
    assert_linear(wide_table, lambda raw: tables.skip_table(raw, 0, len(raw)))


# -- methods (frames.decode_method) ---------------------------------------------------------------

def queue_declare(arguments: bytes) -> bytes:
    return struct.pack(">HHH", 50, 10, 0) + b"\x01q\x02" + arguments


def test_method_with_wide_arguments_decodes_in_linear_cost():
    """Queue.Declare with 2000 and 4000 arguments: the second costs at most about twice the first
    (pamqp's unmarshal copied the rest of the table at every field)."""
    assert_linear(lambda n: queue_declare(wide_table(n)), frames.decode_method)


@FUZZ
@given(st.binary(max_size=120))
def test_any_method_payload_decodes_or_raises_value_error(tail):
    for index in (0x0032000A, 0x0028000A, 0x003C0014, 0x000A000B, 0x00320014):
        try:
            frames.decode_method(struct.pack(">I", index) + tail)
        except ValueError:
            pass


# -- frames (FrameReader) -------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=300), st.integers(1, 50))
def test_frame_reader_gives_frames_or_a_frame_error(data, chunk):
    reader = frames.FrameReader(4096)
    try:
        for start in range(0, len(data), chunk):
            reader.feed(data[start:start + chunk])
            for ftype, _, payload in reader.frames():
                assert isinstance(payload, bytes) and 0 <= ftype < 256
    except errors.FatalFrameError:
        pass


def test_frame_reader_is_linear():
    def frames_of(n: int) -> bytes:
        return b"".join(struct.pack(">BHI", 3, 1, 10) + b"0123456789\xce" for _ in range(n))

    def read(data: bytes) -> None:
        reader = frames.FrameReader(0)
        reader.feed(data)
        for _ in reader.frames():
            pass

    assert_linear(frames_of, read)


# -- content properties ---------------------------------------------------------------------------

def content_header(properties: bytes) -> bytes:
    return struct.pack(">HHQ", 60, 0, 1) + properties


@FUZZ
@given(st.binary(max_size=200))
def test_any_content_header_parses_or_raises_value_error(properties):
    try:
        parse_content_header(content_header(properties))
    except ValueError:
        pass


def test_unparsable_headers_table_is_refused():
    """The table is walked at parse time: a field type RabbitMQ does not know fails there."""
    table = b"\x01aZ"
    with pytest.raises(tables.TableError):
        parse_content_header(content_header(struct.pack(">HI", 0x2000, len(table)) + table))


def test_content_header_parsing_is_linear():
    assert_linear(lambda n: content_header(struct.pack(">H", 0x2000) + wide_table(n)), parse_content_header)


# -- SASL -----------------------------------------------------------------------------------------

def credentials(mechanism: str, response: bytes) -> tuple[str, str] | None:
    try:
        found = sasl.credentials(mechanism, response)
    except sasl.SaslError:
        return None
    return found.user, found.password


@FUZZ
@given(st.sampled_from(["PLAIN", "AMQPLAIN"]), st.binary(max_size=120))
def test_sasl_responses_give_credentials_or_a_connection_error(mechanism, response):
    result = credentials(mechanism, response)
    assert result is None or all(isinstance(part, str) for part in result)


def test_sasl_parsing_is_linear():
    assert_linear(lambda n: wide_table(n)[4:], lambda raw: credentials("AMQPLAIN", raw))
    assert_linear(lambda n: b"\0user\0" + b"p" * n, lambda raw: credentials("PLAIN", raw))


def test_malformed_plain_response_is_not_logged():
    """RabbitMQ's 502 'response ... invalid', without the response: it holds the password."""
    conn = Connection(Node(Settings()), peer=("127.0.0.1", 5000))
    conn.feed(frames.PROTOCOL_HEADER)
    with capture_logs() as logs:
        conn.feed(frame.marshal(commands.Connection.StartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN", response="guest\0s3cret-pw", locale="en_US"), 0))
    assert conn.state is ConnectionState.CLOSED
    assert [(e["code"], e["text"]) for e in logs if e["event"] == "connection error"] == [
        (502, "SYNTAX_ERROR - response <<...>> invalid")]
    assert "s3cret" not in repr(logs)


def test_a_turn_handles_few_large_method_frames():
    """One feed turn of 150 frames must not take 150 frames of 100 KiB tables: a method frame
    counts one frame per KiB, so another connection's turn comes after at most two of them."""
    conn = Connection(Node(Settings()), peer=("127.0.0.1", 40000))
    conn.feed(frames.PROTOCOL_HEADER)
    conn.feed(frame.marshal(commands.Connection.StartOk(
        client_properties={}, mechanism="PLAIN", response="\0guest\0guest"), 0))
    conn.feed(frame.marshal(commands.Connection.TuneOk(channel_max=10, frame_max=131072, heartbeat=0), 0))
    conn.feed(frame.marshal(commands.Connection.Open(virtual_host="/"), 0))
    conn.feed(frame.marshal(commands.Channel.Open(), 1))
    conn.outbox.clear()
    declare = queue_declare(wide_table(15000))
    assert 90_000 < len(declare) < 131_000
    data = b"".join(struct.pack(">BHI", 1, 1, len(declare)) + declare + b"\xce" for _ in range(10))
    more = conn.feed(data, max_frames=150).more
    declared = bytes(conn.outbox).count(struct.pack(">HH", 50, 11))
    assert more and 1 <= declared <= 2
    while conn.feed(b"", max_frames=150).more:
        pass
    assert bytes(conn.outbox).count(struct.pack(">HH", 50, 11)) == 10
