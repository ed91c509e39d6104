"""The connection handshake, sans-IO: every branch RabbitMQ 3.10.8 takes, with its exact frames.

Errors before Tune-Ok is accepted are silent (no frame; the socket closes after 3 s, which the
server reads from Connection.close_plan); after it they are Connection.Close frames.
"""

from __future__ import annotations

from typing import Any

import pytest
from pamqp import commands, encode, frame, heartbeat

from amqpd.broker.node import Node
from amqpd.settings import Settings
from amqpd.protocol.frames import HEARTBEAT_FRAME, PROTOCOL_HEADER
from amqpd.session.connection import AwaitCloseOk, CloseAfterFlush, Connection, ConnectionState

CAPS = {"authentication_failure_close": True, "consumer_cancel_notify": True, "connection.blocked": True}
LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism {}. "
                 "For details see the broker logfile.")


def new_connection(peer: tuple[str, int] = ("127.0.0.1", 5000), **settings: Any) -> Connection:
    return Connection(Node(Settings(**settings)), peer=peer)


def sent(conn: Connection) -> list[tuple[int, Any]]:
    """Every frame in the outbox as (channel, pamqp frame); the outbox is emptied."""
    data, out = bytes(conn.outbox), []
    conn.outbox.clear()
    while data:
        consumed, channel, value = frame.unmarshal(data)
        out.append((channel, value))
        data = data[consumed:]
    return out


def send(conn: Connection, channel: int, method: Any) -> None:
    conn.feed(frame.marshal(method, channel))


def start_ok(user: str = "guest", password: str = "guest", capabilities: dict | None = CAPS,
             mechanism: str = "PLAIN", response: str | None = None) -> commands.Connection.StartOk:
    props: dict[str, Any] = {"product": "test"}
    if capabilities is not None:
        props["capabilities"] = capabilities
    return commands.Connection.StartOk(
        client_properties=props, mechanism=mechanism,
        response=f"\0{user}\0{password}" if response is None else response, locale="en_US")


def started(**kwargs: Any) -> Connection:
    """A connection that got the protocol header and answered Connection.Start."""
    conn = new_connection(**kwargs)
    conn.feed(PROTOCOL_HEADER)
    sent(conn)
    return conn


def tuned(channel_max: int = 2047, frame_max: int = 131072, heartbeat_: int = 0, **kwargs: Any) -> Connection:
    """A connection whose Tune-Ok was accepted (RabbitMQ's state 'opening')."""
    conn = started(**kwargs)
    send(conn, 0, start_ok())
    send(conn, 0, commands.Connection.TuneOk(channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat_))
    sent(conn)
    return conn


def opened(channel_max: int = 2047, frame_max: int = 131072, **kwargs: Any) -> Connection:
    """A connection after Open-Ok."""
    conn = tuned(channel_max, frame_max, **kwargs)
    send(conn, 0, commands.Connection.Open(virtual_host="/"))
    assert [type(f) for _, f in sent(conn)] == [commands.Connection.OpenOk]
    return conn


def assert_silent_close(conn: Connection) -> None:
    """No frame at all; the server closes the socket 3 s later (RabbitMQ's SILENT_CLOSE_DELAY)."""
    assert sent(conn) == []
    assert conn.state is ConnectionState.CLOSED
    assert conn.close_plan == CloseAfterFlush(3.0)


def assert_close(conn: Connection, code: int, text: str, class_id: int, method_id: int) -> None:
    """Exactly one Connection.Close on channel 0 with these values."""
    frames_ = sent(conn)
    assert len(frames_) == 1, frames_
    channel, close = frames_[0]
    assert channel == 0
    assert isinstance(close, commands.Connection.Close)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (code, text, class_id, method_id)


# -- protocol header -------------------------------------------------------------------------------


def test_good_header_gets_connection_start():
    """Connection.Start 0-9 on channel 0: RabbitMQ's capabilities in its order, 'AMQPLAIN PLAIN', en_US."""
    conn = new_connection()
    conn.feed(PROTOCOL_HEADER)
    [(channel, start)] = sent(conn)
    assert channel == 0
    assert isinstance(start, commands.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)
    assert start.mechanisms == "AMQPLAIN PLAIN"
    assert start.locales == "en_US"
    assert list(start.server_properties)[:7] == [
        "capabilities", "cluster_name", "copyright", "information", "platform", "product", "version"]
    caps = start.server_properties["capabilities"]
    assert list(caps)[:8] == ["publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                              "consumer_cancel_notify", "connection.blocked", "consumer_priorities",
                              "authentication_failure_close", "per_consumer_qos"]
    assert all(caps[name] is True for name in list(caps)[:8])
    assert start.server_properties["product"] == "RabbitMQ"
    assert start.server_properties["version"] == "3.10.8"
    assert conn.state is ConnectionState.AWAIT_START_OK


def test_header_arriving_byte_by_byte():
    """The header may come in pieces; Start goes out once all eight bytes are in."""
    conn = new_connection()
    for i in range(7):
        conn.feed(PROTOCOL_HEADER[i:i + 1])
        assert conn.outbox == bytearray()
    conn.feed(PROTOCOL_HEADER[7:])
    assert isinstance(sent(conn)[0][1], commands.Connection.Start)


def test_header_with_extra_bytes_starts_the_next_frame():
    """Bytes after the header are the start of the first frame, as in RabbitMQ."""
    conn = new_connection()
    conn.feed(PROTOCOL_HEADER + HEARTBEAT_FRAME[:3])
    assert isinstance(sent(conn)[0][1], commands.Connection.Start)
    conn.feed(HEARTBEAT_FRAME[3:] + frame.marshal(start_ok(), 0))
    assert isinstance(sent(conn)[0][1], commands.Connection.Tune)


@pytest.mark.parametrize("header", [
    b"AMQP\x01\x01\x00\x0a",  # 0-10
    b"AMQP\x00\x00\x09\x00",  # 0-9
    b"AMQP\x00\x01\x00\x00",  # 1.0
    b"AMQP\x03\x01\x00\x00",  # 1.0 SASL
    b"AMQP\x00\x00\x08\x00",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
])
def test_wrong_header_gets_our_header_and_an_immediate_close(header):
    """Any other header: RabbitMQ answers with its own 0-9-1 header and closes at once."""
    conn = new_connection()
    conn.feed(header)
    assert bytes(conn.outbox) == PROTOCOL_HEADER
    assert conn.state is ConnectionState.CLOSED
    assert conn.close_plan == CloseAfterFlush(0)


# -- authentication --------------------------------------------------------------------------------


def test_plain_login_gets_tune():
    """PLAIN guest/guest from loopback: Connection.Tune(2047, 131072, 60)."""
    conn = started()
    send(conn, 0, start_ok())
    [(channel, tune)] = sent(conn)
    assert channel == 0
    assert isinstance(tune, commands.Connection.Tune)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (2047, 131072, 60)
    assert conn.user == "guest"
    assert conn.state is ConnectionState.AWAIT_TUNE_OK


def test_amqplain_login_gets_tune():
    """AMQPLAIN with a LOGIN/PASSWORD table logs in too."""
    conn = started()
    response = encode.field_table({"LOGIN": "guest", "PASSWORD": "guest"})[4:].decode("latin-1")
    send(conn, 0, start_ok(mechanism="AMQPLAIN", response=response))
    assert isinstance(sent(conn)[0][1], commands.Connection.Tune)


def test_tune_carries_configured_limits():
    """Tune proposes the node's channel_max, frame_max and heartbeat."""
    conn = started(channel_max=10, frame_max=8192, heartbeat=5)
    send(conn, 0, start_ok())
    [(_, tune)] = sent(conn)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (10, 8192, 5)


@pytest.mark.parametrize("user,password", [("guest", "wrong"), ("nobody", "guest")])
def test_refused_login_with_capability_gets_close_403(user, password):
    """With authentication_failure_close: Close(403, exact text, 0, 0); the socket closes at
    Close-Ok or after 3 s."""
    conn = started()
    send(conn, 0, start_ok(user, password))
    assert_close(conn, 403, LOGIN_REFUSED.format("PLAIN"), 0, 0)
    assert conn.state is ConnectionState.AWAIT_CLOSE_OK
    assert conn.close_plan == AwaitCloseOk(3.0)
    send(conn, 0, commands.Connection.CloseOk())
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(0)


def test_refused_amqplain_login_names_the_mechanism():
    """The 403 text names the mechanism used."""
    conn = started()
    response = encode.field_table({"LOGIN": "guest", "PASSWORD": "x"})[4:].decode("latin-1")
    send(conn, 0, start_ok(mechanism="AMQPLAIN", response=response))
    assert_close(conn, 403, LOGIN_REFUSED.format("AMQPLAIN"), 0, 0)


def test_refused_login_without_capability_is_silent():
    """Without authentication_failure_close: no frame, the socket closes after 3 s."""
    conn = started()
    send(conn, 0, start_ok("guest", "wrong", capabilities=None))
    assert_silent_close(conn)


@pytest.mark.parametrize("mechanism,response", [
    ("FOO", "\0guest\0guest"), ("PLAIN", "garbage"), ("PLAIN", ""), ("AMQPLAIN", ""),
])
def test_unusable_mechanism_or_response_is_silent_even_with_capability(mechanism, response):
    """Unknown mechanism or malformed response: no frame, close after 3 s (capability or not)."""
    conn = started()
    send(conn, 0, start_ok(mechanism=mechanism, response=response))
    assert_silent_close(conn)


def test_guest_from_non_loopback_peer_is_refused():
    """guest may only log in from loopback; elsewhere it is a refused login (403 with capability)."""
    conn = started(peer=("10.1.2.3", 40000))
    send(conn, 0, start_ok())
    assert_close(conn, 403, LOGIN_REFUSED.format("PLAIN"), 0, 0)


def test_other_users_may_log_in_from_anywhere():
    """The loopback restriction is guest's alone."""
    conn = started(peer=("10.1.2.3", 40000), users={"alice": "secret"})
    send(conn, 0, start_ok("alice", "secret"))
    assert isinstance(sent(conn)[0][1], commands.Connection.Tune)


# -- tuning ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel_max,frame_max", [
    (2047, 4095), (2047, 0), (2047, 200000), (0, 131072), (5000, 131072), (65535, 131072),
])
def test_tune_ok_outside_limits_is_silent(channel_max, frame_max):
    """frame_max below 4096, 0 or above the server's; channel_max 0 or above 2047: silent close."""
    conn = started()
    send(conn, 0, start_ok())
    sent(conn)
    send(conn, 0, commands.Connection.TuneOk(channel_max=channel_max, frame_max=frame_max, heartbeat=0))
    assert_silent_close(conn)


@pytest.mark.parametrize("channel_max,frame_max,heartbeat_", [
    (2047, 4096, 0), (10, 131072, 0), (2047, 131072, 100), (1, 8192, 5),
])
def test_tune_ok_within_limits_is_adopted(channel_max, frame_max, heartbeat_):
    """Valid Tune-Ok values become the connection's, heartbeat even above the server's proposal."""
    conn = tuned(channel_max, frame_max, heartbeat_)
    assert (conn.channel_max, conn.frame_max, conn.heartbeat) == (channel_max, frame_max, heartbeat_)
    assert conn.reader.frame_max == frame_max
    send(conn, 0, commands.Connection.Open(virtual_host="/"))
    assert [type(f) for _, f in sent(conn)] == [commands.Connection.OpenOk]
    assert conn.state is ConnectionState.OPEN


def test_tune_ok_with_zero_is_allowed_when_the_server_is_unlimited():
    """frame_max 0 and channel_max 0 pass when the node sets no limit either."""
    conn = new_connection(channel_max=0, frame_max=0)
    conn.feed(PROTOCOL_HEADER + frame.marshal(start_ok(), 0))
    send(conn, 0, commands.Connection.TuneOk(channel_max=0, frame_max=0, heartbeat=0))
    assert (conn.channel_max, conn.frame_max, conn.state) == (0, 0, ConnectionState.AWAIT_OPEN)


def test_frame_max_before_tune_ok_is_4096():
    """Until Tune-Ok, a frame with a payload over 4096 bytes ends the connection (silently)."""
    conn = started()
    conn.feed(b"\x01\x00\x00\x00\x00\x10\x01")
    assert_silent_close(conn)


# -- open ------------------------------------------------------------------------------------------


def test_open_gets_open_ok():
    """Open of '/' answers Open-Ok with an empty known_hosts."""
    conn = tuned()
    send(conn, 0, commands.Connection.Open(virtual_host="/"))
    [(channel, ok)] = sent(conn)
    assert channel == 0 and isinstance(ok, commands.Connection.OpenOk)
    assert ok.known_hosts == ""


@pytest.mark.parametrize("vhost", ["nosuchvhost", ""])
def test_open_of_unknown_vhost_gets_close_530(vhost):
    """Close(530, 'NOT_ALLOWED - vhost X not found', 10, 40); Close-Ok then ends the connection."""
    conn = tuned()
    send(conn, 0, commands.Connection.Open(virtual_host=vhost))
    assert_close(conn, 530, f"NOT_ALLOWED - vhost {vhost} not found", 10, 40)
    assert conn.state is ConnectionState.AWAIT_CLOSE_OK
    assert conn.close_plan == AwaitCloseOk(30.0)
    send(conn, 0, commands.Connection.CloseOk())
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(0)


# -- methods out of order --------------------------------------------------------------------------


@pytest.mark.parametrize("method", [
    commands.Connection.Open(virtual_host="/"),
    commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0),
    commands.Queue.Declare(queue="q"),
    commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0),
])
def test_wrong_method_while_starting_is_silent(method):
    """Anything but Start-Ok after Start: no frame, close after 3 s."""
    conn = started()
    send(conn, 0, method)
    assert_silent_close(conn)


@pytest.mark.parametrize("channel,method", [
    (0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)),
    (0, start_ok()),
    (1, commands.Channel.Open()),
])
def test_wrong_method_while_tuning_is_silent(channel, method):
    """Anything but Tune-Ok after Tune, on any channel: no frame, close after 3 s."""
    conn = started()
    send(conn, 0, start_ok())
    sent(conn)
    send(conn, channel, method)
    assert_silent_close(conn)


@pytest.mark.parametrize("method,ids", [
    (start_ok(), (10, 11)),
    (commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0), (10, 31)),
    (commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), (10, 50)),
    (commands.Queue.Declare(queue="q"), (50, 10)),
])
def test_wrong_method_while_opening_gets_close_504(method, ids):
    """After Tune-Ok, a method other than Open: Close(504, '... connection state opening', ids)."""
    conn = tuned()
    send(conn, 0, method)
    assert_close(conn, 504, "CHANNEL_ERROR - unexpected method in connection state opening", *ids)


def test_channel_frame_while_opening_gets_close_505():
    """A frame on a channel before Open: 505 UNEXPECTED_FRAME quoting the frame's octets."""
    conn = tuned()
    send(conn, 1, commands.Channel.Open())
    assert_close(conn, 505, "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,1,48>>", 0, 0)


def test_heartbeats_during_the_handshake_are_accepted():
    """Heartbeat frames on channel 0 are fine in any handshake state."""
    conn = new_connection()
    conn.feed(PROTOCOL_HEADER + HEARTBEAT_FRAME)
    assert isinstance(sent(conn)[0][1], commands.Connection.Start)
    conn.feed(HEARTBEAT_FRAME + frame.marshal(start_ok(), 0) + HEARTBEAT_FRAME)
    assert isinstance(sent(conn)[0][1], commands.Connection.Tune)
    conn.feed(frame.marshal(commands.Connection.TuneOk(channel_max=10, frame_max=4096, heartbeat=0), 0)
              + HEARTBEAT_FRAME + frame.marshal(commands.Connection.Open(virtual_host="/"), 0))
    assert [type(f) for _, f in sent(conn)] == [commands.Connection.OpenOk]


def test_client_close_gets_close_ok_and_ends_the_connection():
    """Connection.Close from the client: Close-Ok on channel 0, then the socket closes at once."""
    conn = opened()
    send(conn, 0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
    [(channel, ok)] = sent(conn)
    assert channel == 0 and isinstance(ok, commands.Connection.CloseOk)
    assert conn.state is ConnectionState.CLOSED and conn.close_plan == CloseAfterFlush(0)


def test_heartbeat_frame_parses_as_pamqp_heartbeat():
    """The heartbeat the server sends is the standard 8-byte frame."""
    assert isinstance(frame.unmarshal(HEARTBEAT_FRAME)[2], heartbeat.Heartbeat)
