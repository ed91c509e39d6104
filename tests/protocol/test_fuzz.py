"""Nothing a client sends may raise out of Connection.feed: every fault becomes a Close."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import body, commands, frame, header

from amqpd.broker.node import Node
from amqpd.settings import Settings
from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.session.connection import Connection, ConnectionState


def _opened() -> Connection:
    conn = Connection(Node(Settings()), peer=("127.0.0.1", 40000))
    conn.feed(PROTOCOL_HEADER)
    conn.feed(frame.marshal(commands.Connection.StartOk(
        client_properties={"capabilities": {"consumer_cancel_notify": True}},
        mechanism="PLAIN", response="\0guest\0guest"), 0))
    conn.feed(frame.marshal(commands.Connection.TuneOk(channel_max=10, frame_max=4096, heartbeat=0), 0))
    conn.feed(frame.marshal(commands.Connection.Open(virtual_host="/"), 0))
    conn.feed(frame.marshal(commands.Channel.Open(), 1))
    assert conn.state is ConnectionState.OPEN
    conn.outbox.clear()
    return conn


def _valid_frames() -> list[bytes]:
    """A realistic session on channel 1, from which the fuzzer cuts and corrupts pieces."""
    props = commands.Basic.Properties(headers={"k": [1, "v", {"n": 2.5}]}, delivery_mode=2, priority=3)
    return [
        frame.marshal(commands.Queue.Declare(queue="q"), 1),
        frame.marshal(commands.Exchange.Declare(exchange="x", exchange_type="topic"), 1),
        frame.marshal(commands.Queue.Bind(queue="q", exchange="x", routing_key="a.#"), 1),
        frame.marshal(commands.Confirm.Select(), 1),
        frame.marshal(commands.Basic.Publish(exchange="x", routing_key="a.b", mandatory=True), 1),
        frame.marshal(header.ContentHeader(0, 5, props), 1),
        frame.marshal(body.ContentBody(b"hello"), 1),
        frame.marshal(commands.Basic.Consume(queue="q", consumer_tag="c"), 1),
        frame.marshal(commands.Basic.Ack(delivery_tag=1), 1),
        frame.marshal(commands.Basic.Get(queue="q"), 1),
        frame.marshal(commands.Basic.Nack(delivery_tag=0, multiple=True), 1),
        frame.marshal(commands.Channel.Open(), 2),
        frame.marshal(commands.Tx.Select(), 2),
        frame.marshal(commands.Basic.Qos(prefetch_count=1, global_=True), 2),
        frame.marshal(commands.Queue.Delete(queue="q"), 1),
        frame.marshal(commands.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 1),
        b"\x08\x00\x00\x00\x00\x00\x00\xce",
    ]


VALID = _valid_frames()


@st.composite
def mutated_stream(draw: st.DrawFn) -> list[bytes]:
    pieces = draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=25))
    out = []
    for piece in pieces:
        choice = draw(st.integers(0, 5))
        if choice == 0 and len(piece) > 1:  # flip a byte
            i = draw(st.integers(0, len(piece) - 1))
            piece = piece[:i] + bytes([draw(st.integers(0, 255))]) + piece[i + 1:]
        elif choice == 1:  # truncate
            piece = piece[: draw(st.integers(0, len(piece)))]
        elif choice == 2:  # random garbage
            piece = draw(st.binary(max_size=40))
        out.append(piece)
    data = b"".join(out)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_stream())
def test_mutated_streams_never_raise(chunks):
    """Cut, corrupted and garbage frames end in a Close or are handled; feed never raises."""
    conn = _opened()
    for chunk in chunks:
        conn.feed(chunk)
    assert conn.state in (ConnectionState.OPEN, ConnectionState.AWAIT_CLOSE_OK, ConnectionState.CLOSED)
    if conn.state is ConnectionState.OPEN:
        assert conn.close_plan is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_before_and_after_handshake_never_raises(data):
    """Arbitrary bytes as the first thing on the wire, or right after the handshake."""
    fresh = Connection(Node(Settings()), peer=("127.0.0.1", 40000))
    fresh.feed(data)
    assert fresh.state in (ConnectionState.AWAIT_PROTOCOL_HEADER, ConnectionState.AWAIT_START_OK, ConnectionState.CLOSED)
    conn = _opened()
    conn.feed(data)
    assert conn.state in (ConnectionState.OPEN, ConnectionState.AWAIT_CLOSE_OK, ConnectionState.CLOSED)
