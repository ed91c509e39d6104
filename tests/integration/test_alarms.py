"""The memory alarm, with RabbitMQ 3.10's semantics (rabbit_reader's publisher throttling).

* While the alarm is on, a connection that publishes is blocked: the broker stops reading from
  it and, if it announced the `connection.blocked` capability, sends Connection.Blocked
  ('low on memory') once.
* Connections that only consume are neither blocked nor notified.
* Clearing the alarm sends Connection.Unblocked to the connections that were sent Blocked and
  resumes reading them: nothing they published is lost.

The alarm is driven through ResourceAlarms.set_limit in the broker's thread, never by waiting
for its one-second poll.
"""

from __future__ import annotations

import socket
import time

import pika
import pytest
from pamqp import body, commands, header, heartbeat

from amqpd.broker.node import Node
from amqpd.config import Settings
from amqpd.server.alarms import ResourceAlarms
from tests.support.raw import RawClient

HUGE = 1 << 60
SILENCE = 0.3  # how long "no reply" is awaited to show that the broker stopped reading


def set_limit(broker, limit: int) -> None:
    broker.call(broker.server.alarm.set_limit, limit)


@pytest.fixture
def alarmed(broker_factory):
    """A broker whose memory limit is tiny, so its memory alarm is on."""
    broker = broker_factory(memory_limit=1)
    set_limit(broker, 1)
    assert broker.call(lambda: broker.server.alarm.active) is True
    return broker


def declare(raw: RawClient, queue: str, passive: bool = False) -> None:
    raw.send(1, commands.Queue.Declare(queue=queue, passive=passive))


def assert_silent(raw: RawClient) -> None:
    """No frame (other than heartbeats) arrives for SILENCE seconds."""
    raw.sock.settimeout(SILENCE)
    try:
        while True:
            _, value = raw.recv_frame()
            assert isinstance(value, heartbeat.Heartbeat), f"expected silence, got {value!r}"
    except socket.timeout:
        pass
    finally:
        raw.sock.settimeout(5)


def test_publisher_is_blocked_then_unblocked_and_nothing_is_lost(alarmed):
    """Publishing under the alarm: Connection.Blocked('low on memory'), reads stop; clearing it: Unblocked, all routed."""
    raw = RawClient.connect(alarmed.port)
    declare(raw, "alarm.q")
    raw.expect(commands.Queue.DeclareOk, 1)

    raw.publish(1, "", "alarm.q", b"m1")
    blocked = raw.expect(commands.Connection.Blocked, 0)
    assert blocked.reason == "low on memory"
    raw.publish(1, "", "alarm.q", b"m2")
    raw.publish(1, "", "alarm.q", b"m3")
    declare(raw, "alarm.q", passive=True)
    assert_silent(raw)  # the broker is not reading this connection

    set_limit(alarmed, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)
    ok = raw.expect(commands.Queue.DeclareOk, 1)
    assert ok.message_count == 3
    bodies = []
    for _ in range(3):
        raw.send(1, commands.Basic.Get(queue="alarm.q", no_ack=True))
        raw.expect(commands.Basic.GetOk, 1)
        raw.expect(header.ContentHeader, 1)
        bodies.append(raw.expect(body.ContentBody, 1).value)
    assert bodies == [b"m1", b"m2", b"m3"]
    raw.close()


def test_consuming_connection_is_neither_blocked_nor_notified(alarmed):
    """A connection that only consumes keeps getting deliveries and replies under the alarm, with no Blocked frame."""
    set_limit(alarmed, HUGE)
    producer = pika.BlockingConnection(pika.URLParameters(alarmed.url))
    ch = producer.channel()
    ch.queue_declare("alarm.work")
    for i in range(3):
        ch.basic_publish("", "alarm.work", f"w{i}".encode())
    producer.close()
    set_limit(alarmed, 1)

    raw = RawClient.connect(alarmed.port)
    raw.send(1, commands.Basic.Qos(prefetch_count=10))
    raw.expect(commands.Basic.QosOk, 1)
    raw.send(1, commands.Basic.Consume(queue="alarm.work", consumer_tag="c1"))
    raw.expect(commands.Basic.ConsumeOk, 1)
    for i in range(3):
        deliver = raw.expect(commands.Basic.Deliver, 1)
        raw.expect(header.ContentHeader, 1)
        assert raw.expect(body.ContentBody, 1).value == f"w{i}".encode()
        raw.send(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
    declare(raw, "alarm.work", passive=True)
    ok = raw.expect(commands.Queue.DeclareOk, 1)  # next frame: not Connection.Blocked
    assert (ok.message_count, ok.consumer_count) == (0, 1)

    set_limit(alarmed, HUGE)
    declare(raw, "alarm.work", passive=True)
    raw.expect(commands.Queue.DeclareOk, 1)  # and no Connection.Unblocked either
    raw.close()


def test_earlier_publisher_is_blocked_only_when_it_publishes_again(alarmed):
    """RabbitMQ's should_block is set by a publish *during* the alarm: a connection that published
    before it keeps working (declare, get) unblocked until its next publish."""
    set_limit(alarmed, HUGE)
    raw = RawClient.connect(alarmed.port)
    declare(raw, "alarm.before")
    raw.expect(commands.Queue.DeclareOk, 1)
    raw.publish(1, "", "alarm.before", b"early")
    declare(raw, "alarm.before", passive=True)
    raw.expect(commands.Queue.DeclareOk, 1)  # the publish has been processed before the alarm goes on
    set_limit(alarmed, 1)

    declare(raw, "alarm.before", passive=True)
    assert raw.expect(commands.Queue.DeclareOk, 1).message_count == 1
    raw.send(1, commands.Basic.Get(queue="alarm.before", no_ack=True))
    raw.expect(commands.Basic.GetOk, 1)
    raw.expect(header.ContentHeader, 1)
    assert raw.expect(body.ContentBody, 1).value == b"early"

    raw.publish(1, "", "alarm.before", b"late")
    raw.expect(commands.Connection.Blocked, 0)
    set_limit(alarmed, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)
    raw.close()


def test_client_without_the_capability_is_blocked_silently(alarmed):
    """Without capabilities.connection.blocked the publisher is still blocked, but gets no Blocked/Unblocked."""
    raw = RawClient.connect(alarmed.port, capabilities={"authentication_failure_close": True})
    declare(raw, "alarm.silent")
    raw.expect(commands.Queue.DeclareOk, 1)
    raw.publish(1, "", "alarm.silent", b"x")
    declare(raw, "alarm.silent", passive=True)
    assert_silent(raw)

    set_limit(alarmed, HUGE)
    ok = raw.expect(commands.Queue.DeclareOk, 1)
    assert ok.message_count == 1
    raw.close()


def test_alarm_set_before_connecting_blocks_the_first_publish(alarmed):
    """A connection opened during the alarm is blocked at its first publish, like any other."""
    raw = RawClient.connect(alarmed.port)
    raw.publish(1, "amq.fanout", "", b"first")
    assert raw.expect(commands.Connection.Blocked, 0).reason == "low on memory"
    set_limit(alarmed, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)
    raw.close()


def test_blocked_is_sent_once_per_alarm(alarmed):
    """Several publishes under one alarm produce a single Connection.Blocked; a new alarm a new one."""
    raw = RawClient.connect(alarmed.port)
    raw.publish(1, "amq.fanout", "", b"a")
    raw.expect(commands.Connection.Blocked, 0)
    raw.publish(1, "amq.fanout", "", b"b")
    set_limit(alarmed, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)  # not a second Blocked

    set_limit(alarmed, 1)
    raw.publish(1, "amq.fanout", "", b"c")
    raw.expect(commands.Connection.Blocked, 0)
    set_limit(alarmed, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)
    declare(raw, "", passive=False)
    raw.expect(commands.Queue.DeclareOk, 1)  # still serving after two alarms
    raw.close()


def test_pika_blocked_callbacks_and_no_message_lost(alarmed):
    """pika's add_on_connection_blocked_callback / unblocked callback fire; every message arrives afterwards."""
    conn = pika.BlockingConnection(pika.URLParameters(alarmed.url))
    events = []
    conn.add_on_connection_blocked_callback(lambda c, frame: events.append(("blocked", frame.method.reason)))
    conn.add_on_connection_unblocked_callback(lambda c, frame: events.append(("unblocked", None)))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(5):
        ch.basic_publish("", q, f"p{i}".encode())
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert events == [("blocked", "low on memory")]

    set_limit(alarmed, HUGE)
    deadline = time.monotonic() + 5
    while len(events) < 2 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert events == [("blocked", "low on memory"), ("unblocked", None)]
    assert ch.queue_declare(q, passive=True).method.message_count == 5
    got = [ch.basic_get(q, auto_ack=True)[2] for _ in range(5)]
    assert got == [f"p{i}".encode() for i in range(5)]
    conn.close()


def test_blocked_connection_is_not_dropped_for_missed_heartbeats(broker_factory):
    """RabbitMQ pauses the heartbeat monitor of a blocked connection: it survives past 2x the heartbeat."""
    broker = broker_factory(memory_limit=1, heartbeat=1)
    set_limit(broker, 1)
    raw = RawClient.connect(broker.port, heartbeat_=1)
    raw.publish(1, "amq.fanout", "", b"x")
    raw.expect(commands.Connection.Blocked, 0)
    deadline = time.monotonic() + 3.5  # heartbeat timeout would fire after 2-3 s
    raw.sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            _, value = raw.recv_frame()
        except socket.timeout:
            continue
        except (EOFError, ConnectionResetError):
            pytest.fail("blocked connection was closed for missed heartbeats")
        assert isinstance(value, heartbeat.Heartbeat)
    raw.sock.settimeout(5)
    set_limit(broker, HUGE)
    raw.expect(commands.Connection.Unblocked, 0)
    raw.close()


class FakeConnection:
    def __init__(self, blocked: bool) -> None:
        self.blocked = blocked
        self.calls: list[bool] = []

    def set_blocked(self, blocked: bool) -> None:
        self.calls.append(blocked)
        self.blocked = blocked


def test_alarm_transitions():
    """update(): setting the alarm notifies no connection; clearing it unblocks them all (set_blocked is a no-op
    for a connection that was not blocked, so only blocked ones get Connection.Unblocked)."""
    node = Node(Settings(memory_limit=100))
    alarm = ResourceAlarms(node)
    was_blocked, never_blocked = FakeConnection(False), FakeConnection(False)
    node.connections.update({was_blocked, never_blocked})

    alarm.update(50)
    assert alarm.active is False
    alarm.update(101)
    assert alarm.active is True
    assert was_blocked.calls == never_blocked.calls == []
    alarm.update(200)  # still over: no transition
    alarm.update(100)  # at the limit is not over it
    assert alarm.active is False
    assert was_blocked.calls == [False]
    assert never_blocked.calls == [False]


def test_zero_limit_blocks_all_publishing():
    """memory_limit 0 keeps the alarm on (RabbitMQ's vm_memory_high_watermark 0 disables publishing)."""
    node = Node(Settings(memory_limit=0))
    alarm = ResourceAlarms(node)
    alarm.update(1)
    assert alarm.active is True
