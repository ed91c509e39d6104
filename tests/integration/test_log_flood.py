"""Failing connections cannot fill the disk with log lines: client faults log one line each, no
traceback, at most LINES_PER_INTERVAL per kind and interval; our own bugs log a bounded traceback,
rate-limited too."""

from __future__ import annotations

import threading

import pytest
from pamqp import commands
from structlog.testing import capture_logs

from amqpd import compiled, logs
from amqpd.logs import LINES_PER_INTERVAL, LogLimiter
from amqpd.session.connection import Connection
from tests.support.raw import RawClient

FAILURES = 3 * LINES_PER_INTERVAL


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(broker) -> Clock:
    """The broker's log limiter on a clock the test moves (the limiter runs in the broker's thread)."""
    clock = Clock()
    broker.node.log_limiter = LogLimiter(clock=clock)
    return clock


def fail_login(port: int) -> None:
    """A wrong password; returns once the broker's Connection.Close 403 arrived (it logs first)."""
    with RawClient(port) as raw:
        raw.send_bytes(b"AMQP\x00\x00\x09\x01")
        raw.expect(commands.Connection.Start, 0)
        raw.send(0, commands.Connection.StartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN", response="\0guest\0wrong", locale="en_US"))
        assert raw.expect_connection_close().reply_code == 403
        assert raw.read_until_closed() == b""


def fail_after_open(port: int, code: int) -> None:
    """An opened connection sends Channel.Open on channel 0; returns once the Connection.Close arrived."""
    with RawClient(port) as raw:
        raw.handshake()
        raw.send(0, commands.Channel.Open())
        assert raw.expect_connection_close().reply_code == code
        assert raw.read_until_closed() == b""


def test_failed_logins_log_a_bounded_number_of_lines(broker, clock):
    """30 failed logins: 10 'authentication failed' lines and nothing else, none with a traceback;
    after the interval the next failure is preceded by 'suppressed 20 similar messages'."""
    with capture_logs(processors=[logs.format_exc_info]) as captured:
        for _ in range(FAILURES):
            fail_login(broker.port)
        assert [entry["event"] for entry in captured] == ["authentication failed"] * LINES_PER_INTERVAL
        clock.now += logs.INTERVAL
        fail_login(broker.port)
    assert [(entry["event"], entry.get("like")) for entry in captured[LINES_PER_INTERVAL:]] == [
        (f"suppressed {FAILURES - LINES_PER_INTERVAL} similar messages", "authentication failed"),
        ("authentication failed", None)]
    assert not any("exception" in entry or "exc_info" in entry for entry in captured)


def test_connection_errors_are_limited_per_reply_code(broker, clock):
    """30 connections closed with 504 after opening: 10 'connection error' lines, one line each, no traceback."""
    with capture_logs(processors=[logs.format_exc_info]) as captured:
        for _ in range(FAILURES):
            fail_after_open(broker.port, 504)
    errors = [entry for entry in captured if entry["log_level"] != "info"]
    assert [(entry["event"], entry["code"]) for entry in errors] == [("connection error", 504)] * LINES_PER_INTERVAL
    assert not any("exception" in entry or "exc_info" in entry for entry in captured)


@pytest.mark.skipif(compiled(), reason="patches a method of Connection, which is immutable when compiled (scripts/build-accelerated)")
def test_internal_errors_log_a_bounded_traceback_a_bounded_number_of_times(broker, clock, monkeypatch):
    """A bug that recurses without end on Channel.Open: each connection gets 541, the log gets at
    most 10 'internal error' lines, each with a traceback of a few kilobytes."""
    def runaway(self, *args):
        return runaway(self, *args)

    monkeypatch.setattr(Connection, "_on_frame_for_new_channel", runaway)
    with capture_logs(processors=[logs.format_exc_info]) as captured:
        for _ in range(FAILURES):
            with RawClient(broker.port) as raw:
                raw.handshake()
                raw.send(1, commands.Channel.Open())
                close = raw.expect_connection_close()
                assert (close.reply_code, close.reply_text) == (541, "INTERNAL_ERROR - internal error")
    internal = [entry for entry in captured if entry["event"] == "internal error while handling a frame"]
    assert len(internal) == LINES_PER_INTERVAL
    for entry in internal:
        assert entry["exception"].endswith("RecursionError: maximum recursion depth exceeded")
        assert "frames left out" in entry["exception"]
        assert len(entry["exception"]) <= logs.TRACEBACK_CHARS
    assert len([entry for entry in captured if entry["event"] == "connection error"]) == LINES_PER_INTERVAL


def test_a_bug_while_releasing_a_connection_costs_that_connection_only(broker, clock, monkeypatch):
    """Connection.lost raising (a bug) is logged with its traceback; the listener goes on
    accepting and serving other connections."""
    lost, failed = Connection.lost, threading.Event()

    def failing_lost(self):
        lost(self)
        failed.set()
        raise RuntimeError("bug in lost")

    monkeypatch.setattr(Connection, "lost", failing_lost)
    with capture_logs(processors=[logs.format_exc_info]) as captured:
        with RawClient(broker.port) as raw:
            raw.handshake()
        assert failed.wait(10)
        monkeypatch.setattr(Connection, "lost", lost)
        broker.call(lambda: None)  # the broker thread has gone past the session's end
        with RawClient(broker.port) as raw:  # the listener still serves
            raw.handshake()
            raw.send(1, commands.Channel.Open())
            raw.expect(commands.Channel.OpenOk, 1)
    [entry] = [entry for entry in captured if entry["event"] == "internal error in a connection's tasks"]
    assert "RuntimeError: bug in lost" in entry["exception"]
