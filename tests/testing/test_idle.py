"""amqpd.wait_until_idle: returns once the vhost's traffic has settled, or says what has not."""

from __future__ import annotations

import pika
import pytest

from amqpd.testing import NotIdle, VirtualHostHandle
from tests.testing.blocking import connect, pump_until


def test_messages_waiting_without_a_consumer_are_idle(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("parked")
    channel.basic_publish("", "parked", b"waits")
    assert amqpd.wait_until_idle(timeout=5) is None
    assert [m.body for m in amqpd.peek("parked")] == [b"waits"]


def test_an_unacked_delivery_is_in_flight_until_acked(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.queue_declare("jobs")
    got: list[int] = []
    channel.basic_consume("jobs", lambda ch, method, props, body: got.append(method.delivery_tag))
    channel.basic_publish("", "jobs", b"work")
    pump_until(connection, got)

    with pytest.raises(NotIdle, match=r"not idle after 0.05 s: queue 'jobs': 1 unacknowledged") as waited:
        amqpd.wait_until_idle(timeout=0.05)
    assert isinstance(waited.value, TimeoutError)
    channel.basic_ack(got[0])
    amqpd.wait_until_idle()
    assert amqpd.peek("jobs") == []


def test_ready_messages_with_a_consumer_able_to_take_them_are_in_flight(amqp_url: str, amqpd: VirtualHostHandle):
    """With prefetch 1 the consumer holds one; once it acks, the next goes out: still in flight."""
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.queue_declare("jobs")
    channel.basic_qos(prefetch_count=1)
    got: list[int] = []
    channel.basic_consume("jobs", lambda ch, method, props, body: got.append(method.delivery_tag))
    for n in range(3):
        channel.basic_publish("", "jobs", b"%d" % n)
    pump_until(connection, got)
    with pytest.raises(NotIdle, match=r"queue 'jobs': 1 unacknowledged"):
        amqpd.wait_until_idle(timeout=0.05)
    channel.basic_ack(got[0])
    with pytest.raises(NotIdle, match=r"queue 'jobs': 1 unacknowledged"):  # the next one went out
        amqpd.wait_until_idle(timeout=0.05)


def test_bytes_the_broker_has_not_read_are_in_flight(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    blocked: list[object] = []
    connection.add_on_connection_blocked_callback(lambda conn, frame: blocked.append(frame))
    channel = connection.channel()
    channel.queue_declare("q")
    amqpd.block_publishers()
    try:
        channel.basic_publish("", "q", b"blocks the connection")
        pump_until(connection, blocked)
        channel.basic_publish("", "q", b"unread")  # sits in the socket until the alarm clears
        with pytest.raises(NotIdle, match=r"connection '127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+': \d+ bytes unread"):
            amqpd.wait_until_idle(timeout=0.05)
    finally:
        amqpd.unblock_publishers()
    amqpd.wait_until_idle()
    assert [m.body for m in amqpd.peek("q")] == [b"blocks the connection", b"unread"]


async def test_awaited_from_a_trio_test_without_blocking_the_loop(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("parked")
    channel.basic_publish("", "parked", b"waits")
    await amqpd.wait_until_idle()
    assert [m.body for m in amqpd.peek("parked")] == [b"waits"]
    connection = connect(amqp_url)
    busy = connection.channel()
    got: list[int] = []
    busy.basic_consume("parked", lambda ch, method, props, body: got.append(method.delivery_tag))
    pump_until(connection, got)
    with pytest.raises(NotIdle):
        await amqpd.wait_until_idle(timeout=0.05)
