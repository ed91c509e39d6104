"""The memory alarm, with RabbitMQ 3.10's semantics (rabbit_reader's publisher throttling).

* While the alarm is on, a connection that publishes is blocked: the broker stops reading from
  it and, if it announced the `connection.blocked` capability, sends Connection.Blocked
  ('low on memory') once.
* Connections that only consume are neither blocked nor notified.
* Clearing the alarm sends Connection.Unblocked to the connections that were sent Blocked and
  resumes reading them: nothing they published is lost.

The alarm is driven through ResourceAlarms.set_limit in the broker's thread, or by what the
broker holds (message bodies in queues, unfinished bodies), never by waiting for its one-second poll.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pika
import pytest
from pamqp import body, commands, header, heartbeat

from amqpd.broker.node import Node
from amqpd.server.alarms import ResourceAlarms
from amqpd.settings import Settings
from tests.support.raw import RawClient

HUGE = 1 << 60
MiB = 1 << 20
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


def accounted(broker) -> int:
    """What the memory alarm weighs: the broker's start-up baseline plus what it holds now."""
    return broker.call(lambda: broker.node.memory.total)


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


def test_alarm_clears_when_the_queued_bytes_go(broker_factory):
    """The alarm follows the message bytes the broker holds, not its resident memory (which stays
    high after a burst): over the limit a publisher is blocked at once, without waiting for the
    poll; a purge brings the bytes back under it and the publisher is unblocked."""
    broker = broker_factory()
    set_limit(broker, accounted(broker) + MiB)
    publisher = RawClient.connect(broker.port)
    declare(publisher, "alarm.burst")
    publisher.expect(commands.Queue.DeclareOk, 1)
    publisher.publish(1, "", "alarm.burst", b"a" * 100_000)
    declare(publisher, "alarm.burst", passive=True)
    assert publisher.expect(commands.Queue.DeclareOk, 1).message_count == 1  # under the limit: not blocked
    for _ in range(12):  # 1.2 MB more, in one go
        publisher.publish(1, "", "alarm.burst", b"b" * 100_000)
    assert publisher.expect(commands.Connection.Blocked, 0).reason == "low on memory"

    other = RawClient.connect(broker.port)
    other.send(1, commands.Queue.Purge(queue="alarm.burst"))
    purged = other.expect(commands.Queue.PurgeOk, 1).message_count
    publisher.expect(commands.Connection.Unblocked, 0)
    declare(publisher, "alarm.burst", passive=True)  # what was read after the block is handled now
    assert purged + publisher.expect(commands.Queue.DeclareOk, 1).message_count == 13
    assert broker.call(lambda: broker.server.alarm.active) is False
    other.close()
    publisher.close()


def test_unacked_bytes_count_until_acked(broker_factory):
    """Delivered messages awaiting their ack still hold memory (RabbitMQ counts them too); acking
    them clears the alarm."""
    broker = broker_factory()
    set_limit(broker, accounted(broker) + MiB)
    publisher = RawClient.connect(broker.port)
    declare(publisher, "alarm.unacked")
    publisher.expect(commands.Queue.DeclareOk, 1)
    consumer = RawClient.connect(broker.port)
    consumer.send(1, commands.Basic.Consume(queue="alarm.unacked", consumer_tag="c"))
    consumer.expect(commands.Basic.ConsumeOk, 1)
    for _ in range(12):
        publisher.publish(1, "", "alarm.unacked", b"u" * 100_000)
    publisher.expect(commands.Connection.Blocked, 0)
    declare(consumer, "alarm.unacked", passive=True)  # its reply follows every delivery made so far
    tags = []
    while not isinstance(frame := consumer.recv_frame()[1], commands.Queue.DeclareOk):
        if isinstance(frame, commands.Basic.Deliver):
            tags.append(frame.delivery_tag)
    assert tags
    assert broker.call(lambda: broker.server.alarm.active) is True
    consumer.send(1, commands.Basic.Ack(delivery_tag=tags[-1], multiple=True))
    publisher.expect(commands.Connection.Unblocked, 0)
    consumer.close()
    publisher.close()


def _unfinished_body(port: int, announced: int, sent: int) -> tuple[RawClient, threading.Thread]:
    """A client that publishes a message announcing `announced` body bytes and sends `sent` of
    them (from a thread: the broker stops reading it), never finishing the body."""
    raw = RawClient.connect(port)
    declare(raw, "alarm.partial")
    raw.expect(commands.Queue.DeclareOk, 1)
    chunk = 131_072 - 8
    frame = struct.pack(">BHI", 3, 1, chunk) + b"p" * chunk + b"\xce"

    def send() -> None:
        try:
            raw.sock.sendall(frame_publish(raw) + frame * (sent // chunk))
        except OSError:
            pass  # the test hung up

    def frame_publish(raw: RawClient) -> bytes:
        from pamqp import frame as pamqp_frame
        return (pamqp_frame.marshal(commands.Basic.Publish(exchange="", routing_key="alarm.partial"), 1)
                + pamqp_frame.marshal(header.ContentHeader(0, announced, commands.Basic.Properties()), 1))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return raw, sender


def test_unfinished_bodies_raise_the_alarm_and_block_their_publisher(broker_factory):
    """Bodies that never complete count toward the alarm: their publisher is blocked (Connection.Blocked,
    no more reads) although it sent no new Basic.Publish, other publishers are blocked too, and when
    the client goes away what it held is released and the alarm clears."""
    broker = broker_factory()
    set_limit(broker, accounted(broker) + 4 * MiB)
    partial, sender = _unfinished_body(broker.port, announced=100 * MiB, sent=24 * MiB)
    assert partial.expect(commands.Connection.Blocked, 0).reason == "low on memory"
    assert broker.call(lambda: broker.server.alarm.active) is True
    held = accounted(broker) - broker.call(lambda: broker.node.memory.baseline)
    assert 4 * MiB < held < 6 * MiB  # reads stopped soon after the limit, not 24 MiB later

    other = RawClient.connect(broker.port)
    other.publish(1, "", "alarm.partial", b"small")
    assert other.expect(commands.Connection.Blocked, 0).reason == "low on memory"
    # the client dies: with bytes still unsent behind a full window its FIN could not reach the
    # broker, so it goes as a dying process's socket does when data is pending, with a reset
    partial.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    partial.sock.shutdown(socket.SHUT_RDWR)  # ends the sender's sendall too
    sender.join(5)
    partial.close()
    other.expect(commands.Connection.Unblocked, 0)
    declare(other, "alarm.partial", passive=True)
    assert other.expect(commands.Queue.DeclareOk, 1).message_count == 1  # only the finished message
    other.close()
