"""The connection over real sockets: heartbeats, timeouts, closing, client libraries, framing."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aio_pika
import aiormq
import pika
import pytest
from pamqp import body, commands, frame, header, heartbeat

from amqpd.protocol.frames import PROTOCOL_HEADER
from tests.support.frames import declare
from tests.support.raw import RawClient


def _read_frames_until_closed(client: RawClient) -> list:
    """Every frame until the server closes the socket (a reset counts as a close)."""
    out = []
    while True:
        try:
            out.append(client.recv_frame()[1])
        except (EOFError, ConnectionResetError):
            return out


# -- heartbeats and timeouts -----------------------------------------------------------------------


def test_server_sends_heartbeats_when_negotiated(broker_factory):
    """With heartbeat 1 negotiated, heartbeat frames arrive on channel 0 while the link is idle."""
    broker = broker_factory(heartbeat=1)
    with RawClient(broker.port, timeout=3) as client:
        tune = client.handshake(heartbeat_=1)
        assert tune.heartbeat == 1
        started = time.monotonic()
        seen = []
        while len(seen) < 2:
            channel, value = client.recv_frame()
            seen.append((channel, type(value)))
        assert seen == [(0, heartbeat.Heartbeat)] * 2
        assert time.monotonic() - started < 2.0  # every heartbeat/2 s, not every heartbeat


def test_no_heartbeats_when_client_negotiates_zero(broker_factory):
    """Heartbeat 0 in Tune-Ok turns them off: nothing arrives on an idle connection."""
    broker = broker_factory(heartbeat=1)
    with RawClient(broker.port, timeout=0.8) as client:
        client.handshake(heartbeat_=0)
        with pytest.raises(socket.timeout):
            client.recv_frame()


def test_silent_client_is_disconnected_after_two_missed_intervals(broker_factory):
    """A client that sends nothing after Open is dropped at 3 x heartbeat, without a Close frame."""
    broker = broker_factory(heartbeat=1)
    with RawClient(broker.port, timeout=6) as client:
        client.handshake(heartbeat_=1)
        started = time.monotonic()
        received = _read_frames_until_closed(client)
        elapsed = time.monotonic() - started
        assert 2.5 < elapsed < 4.0
        assert received and all(isinstance(f, heartbeat.Heartbeat) for f in received)


def test_client_heartbeats_keep_the_connection(broker_factory):
    """A client that sends heartbeats is not dropped after 3 x heartbeat."""
    broker = broker_factory(heartbeat=1)
    with RawClient(broker.port, timeout=2) as client:
        client.handshake(heartbeat_=1)
        deadline = time.monotonic() + 3.3
        while time.monotonic() < deadline:
            client.send_bytes(b"\x08\x00\x00\x00\x00\x00\x00\xce")
            assert isinstance(client.recv_frame()[1], heartbeat.Heartbeat)
        client.open_channel(1)  # still served


@pytest.mark.parametrize("stage", ["header", "start-ok", "tune-ok"])
def test_handshake_timeout_covers_the_whole_handshake(broker_factory, stage):
    """No Connection.Open within handshake_timeout of the accept: the socket closes, no frame."""
    broker = broker_factory(handshake_timeout=0.5)
    with RawClient(broker.port, timeout=3) as client:
        started = time.monotonic()
        client.send_bytes(PROTOCOL_HEADER)
        client.expect(commands.Connection.Start, 0)
        if stage != "header":
            client.send(0, commands.Connection.StartOk(
                client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"))
            client.expect(commands.Connection.Tune, 0)
        if stage == "tune-ok":
            client.send(0, commands.Connection.TuneOk(channel_max=10, frame_max=4096, heartbeat=0))
        assert _read_frames_until_closed(client) == []
        assert 0.4 < time.monotonic() - started < 2.0


def test_handshake_timeout_with_nothing_sent(broker_factory):
    """A client that never sends the protocol header is closed after handshake_timeout."""
    broker = broker_factory(handshake_timeout=0.5)
    with RawClient(broker.port, timeout=3) as client:
        started = time.monotonic()
        assert client.read_until_closed() == b""
        assert 0.4 < time.monotonic() - started < 2.0


def test_opened_connection_outlives_the_handshake_timeout(broker_factory):
    """The handshake timeout ends at Open-Ok."""
    broker = broker_factory(handshake_timeout=0.3)
    with RawClient(broker.port, timeout=3) as client:
        client.handshake()
        time.sleep(0.6)  # the point: the timeout must have passed
        client.send(1, commands.Channel.Open())
        channel, reply = client.recv_frame()
        assert (channel, type(reply)) == (1, commands.Channel.OpenOk)


# -- closing ---------------------------------------------------------------------------------------


def test_client_close_gets_close_ok_then_socket_closes(raw):
    """Connection.Close from the client: Close-Ok, then the server closes the socket."""
    raw.handshake()
    raw.open_channel(1)
    raw.send(0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
    assert isinstance(raw.recv_frame()[1], commands.Connection.CloseOk)
    assert _read_frames_until_closed(raw) == []


def test_wrong_protocol_header_gets_ours_and_a_close(raw):
    """An AMQP 0-10 header is answered with AMQP 0-9-1's and the socket closed."""
    raw.send_bytes(b"AMQP\x01\x01\x00\x0a")
    assert raw.read_until_closed() == PROTOCOL_HEADER


def test_refused_login_over_a_socket(raw):
    """A bad password with authentication_failure_close: Close 403; Close-Ok ends the socket."""
    raw.send_bytes(PROTOCOL_HEADER)
    raw.expect(commands.Connection.Start, 0)
    raw.send(0, commands.Connection.StartOk(
        client_properties={"capabilities": {"authentication_failure_close": True}},
        mechanism="PLAIN", response="\0guest\0wrong", locale="en_US"))
    close = raw.expect_connection_close()
    assert (close.reply_code, close.class_id, close.method_id) == (403, 0, 0)
    assert _read_frames_until_closed(raw) == []


def test_refused_login_without_capability_is_silent_and_delayed(raw):
    """Without authentication_failure_close no frame comes and the socket is not closed at once
    (RabbitMQ waits 3 s; only the start of that wait is checked here)."""
    raw.send_bytes(PROTOCOL_HEADER)
    raw.expect(commands.Connection.Start, 0)
    raw.send(0, commands.Connection.StartOk(client_properties={}, mechanism="PLAIN",
                                            response="\0guest\0wrong", locale="en_US"))
    raw.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        raw.recv_frame()


# -- client libraries ------------------------------------------------------------------------------


def test_pika_connects_with_plain(broker):
    """pika logs in with PLAIN and opens a channel."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        assert conn.is_open
        assert conn.channel().is_open
    finally:
        conn.close()
    assert conn.is_closed


def test_aio_pika_connects_with_plain(broker):
    """aio-pika logs in with PLAIN and opens a channel."""
    async def main() -> bool:
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            return not channel.is_closed
    assert asyncio.run(main()) is True


def test_pika_wrong_password_raises_auth_error(broker):
    """pika reports a refused login as its authentication error."""
    url = f"amqp://guest:wrong@127.0.0.1:{broker.port}/"
    with pytest.raises((pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)) as info:
        pika.BlockingConnection(pika.URLParameters(url))
    assert "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN" in str(info.value)


def test_aio_pika_wrong_password_raises_auth_error(broker):
    """aio-pika (aiormq) reports a refused login as ProbableAuthenticationError."""
    url = f"amqp://guest:wrong@127.0.0.1:{broker.port}/"
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError) as info:
        asyncio.run(aio_pika.connect(url))
    assert "ACCESS_REFUSED" in str(info.value)


def test_pika_unknown_vhost(broker):
    """pika gets Close 530 'NOT_ALLOWED - vhost nosuchvhost not found' as ProbableAccessDeniedError."""
    url = f"amqp://guest:guest@127.0.0.1:{broker.port}/nosuchvhost"
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        pika.BlockingConnection(pika.URLParameters(url))
    assert "(530) 'NOT_ALLOWED - vhost nosuchvhost not found'" in str(info.value)


def test_raw_unknown_vhost(raw):
    """Open of an unknown vhost: Close(530, exact text, 10, 40) on channel 0."""
    raw.send_bytes(PROTOCOL_HEADER)
    raw.expect(commands.Connection.Start, 0)
    raw.send(0, commands.Connection.StartOk(client_properties={}, mechanism="PLAIN",
                                            response="\0guest\0guest", locale="en_US"))
    raw.expect(commands.Connection.Tune, 0)
    raw.send(0, commands.Connection.TuneOk(channel_max=10, frame_max=4096, heartbeat=0))
    raw.send(0, commands.Connection.Open(virtual_host="nosuchvhost"))
    close = raw.expect_connection_close()
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        530, "NOT_ALLOWED - vhost nosuchvhost not found", 10, 40)
    assert _read_frames_until_closed(raw) == []


# -- framing over TCP ------------------------------------------------------------------------------


def _get(client: RawClient, queue: str) -> tuple[Any, bytes, list[int]]:
    """Basic.Get: the header frame, the body and the size of each body frame."""
    client.send(1, commands.Basic.Get(queue=queue, no_ack=True))
    client.expect(commands.Basic.GetOk, 1)
    content = client.expect(header.ContentHeader, 1)
    parts: list[bytes] = []
    while sum(map(len, parts)) < content.body_size:
        parts.append(client.expect(body.ContentBody, 1).value)
    return content, b"".join(parts), [len(p) for p in parts]


def test_publish_written_byte_by_byte_arrives_intact(raw):
    """Method, header and body frames sent one byte per TCP write still make one intact message."""
    raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.handshake()
    raw.open_channel(1)
    declare(raw, "bytewise", exclusive=True)
    payload = bytes(range(256)) * 3
    props = commands.Basic.Properties(content_type="application/octet-stream", headers={"k": "v"}, priority=3)
    data = (frame.marshal(commands.Basic.Publish(exchange="", routing_key="bytewise"), 1)
            + frame.marshal(header.ContentHeader(0, len(payload), props), 1)
            + frame.marshal(body.ContentBody(payload), 1))
    for i in range(len(data)):
        raw.sock.sendall(data[i:i + 1])
    content, received, _ = _get(raw, "bytewise")
    assert received == payload
    assert (content.properties.content_type, content.properties.headers, content.properties.priority) == (
        "application/octet-stream", {"k": "v"}, 3)


def test_small_frame_max_client_sends_and_receives_100_kib(raw):
    """With frame_max 4096 a 100 KiB message goes in and comes out in 4088-byte body frames."""
    raw.handshake(frame_max=4096)
    raw.open_channel(1)
    declare(raw, "big", exclusive=True)
    payload = bytes(i % 251 for i in range(100 * 1024))
    data = (frame.marshal(commands.Basic.Publish(exchange="", routing_key="big"), 1)
            + frame.marshal(header.ContentHeader(0, len(payload), commands.Basic.Properties()), 1))
    for start in range(0, len(payload), 4088):
        data += frame.marshal(body.ContentBody(payload[start:start + 4088]), 1)
    raw.send_bytes(data)
    _, received, sizes = _get(raw, "big")
    assert received == payload
    assert max(sizes) == 4088 and len(sizes) == -(-len(payload) // 4088)


def test_pika_with_frame_max_4096_round_trips_100_kib(broker):
    """pika negotiating frame_max 4096 publishes and gets back a 100 KiB body unchanged."""
    params = pika.URLParameters(broker.url)
    params.frame_max = 4096
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        queue = ch.queue_declare("", exclusive=True).method.queue
        payload = bytes(i % 253 for i in range(100 * 1024))
        ch.basic_publish("", queue, payload)
        _, _, received = ch.basic_get(queue, auto_ack=True)
        assert received == payload
    finally:
        conn.close()
