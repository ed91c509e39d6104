"""The contract between Connection and the server, sans-IO: what feed reports, how the output is
handed over and accounted for, and the state names the logs print."""

from __future__ import annotations

from pamqp import body, commands, frame, header
from structlog.testing import capture_logs

from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.session.connection import ConnectionState, FeedResult
from tests.session.test_handshake import new_connection, opened, send, sent, start_ok


def channel_one():
    conn = opened()
    send(conn, 1, commands.Channel.Open())
    conn.data_to_send()
    conn.output_sent()
    return conn


def test_feed_reports_a_publish_and_nothing_else():
    """``published`` is set by a Basic.Publish among the frames fed, not by other methods nor by
    the content frames that complete an earlier publish; ``assembling`` covers the gap."""
    conn = channel_one()
    assert conn.feed(frame.marshal(commands.Queue.Declare(queue="q"), 1)) == FeedResult(published=False, more=False)
    result = conn.feed(frame.marshal(commands.Basic.Publish(routing_key="q"), 1))
    assert result == FeedResult(published=True, more=False)
    assert conn.assembling
    content = (frame.marshal(header.ContentHeader(0, 2, commands.Basic.Properties()), 1)
               + frame.marshal(body.ContentBody(b"hi"), 1))
    assert conn.feed(content) == FeedResult(published=False, more=False)
    assert not conn.assembling


def test_feed_reports_frames_left_for_the_next_turn():
    conn = channel_one()
    gets = frame.marshal(commands.Basic.Get(queue="nowhere-yet"), 1) * 3
    send(conn, 1, commands.Queue.Declare(queue="nowhere-yet"))
    assert conn.feed(gets, max_frames=2) == FeedResult(published=False, more=True)
    assert conn.feed(b"", max_frames=2) == FeedResult(published=False, more=False)
    assert [type(f) for _, f in sent(conn)] == [commands.Queue.DeclareOk] + [commands.Basic.GetEmpty] * 3


def test_data_to_send_hands_the_output_over_once_and_accounts_for_it_until_sent():
    conn = channel_one()
    ledger = conn.node.memory
    assert ledger.buffered == 0
    send(conn, 1, commands.Queue.Declare(queue="q"))
    data = conn.data_to_send()
    assert frame.unmarshal(data)[0] == len(data)  # one whole frame: Queue.Declare-Ok
    assert conn.data_to_send() == b""
    assert ledger.buffered == len(data)  # on its way to the client
    conn.output_sent()
    assert ledger.buffered == 0


def test_log_lines_print_the_state_names_they_always_printed():
    conn = new_connection()
    conn.feed(PROTOCOL_HEADER)
    with capture_logs() as logs:
        send(conn, 0, start_ok(response="no-nul-at-all"))
    assert conn.state is ConnectionState.CLOSED
    assert [e["state"] for e in logs if e["event"] == "connection error"] == ["start-ok"]
    fresh = new_connection()
    with capture_logs() as logs:
        fresh.lost()
    assert [e["state"] for e in logs if e["event"] == "connection lost"] == ["header"]
