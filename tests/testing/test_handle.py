"""The amqpd fixture's handle against a real broker: peek, restart, publisher block, dropped connections."""

from __future__ import annotations

import pika
import pytest

from amqpd.testing import PeekedMessage, VirtualHostHandle
from tests.testing.blocking import connect, pump_until


def test_peek_shows_ready_messages_in_order_and_leaves_them(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("q")
    channel.exchange_declare("x", "direct")
    channel.queue_bind("q", "x", "k")
    channel.confirm_delivery()
    channel.basic_publish("x", "k", b"first", pika.BasicProperties(content_type="text/plain", headers={"n": 1},
                                                                   delivery_mode=2, type="greeting"))
    channel.basic_publish("", "q", b"\x00second")
    method, _, body = channel.basic_get("q")
    channel.basic_nack(method.delivery_tag, requeue=True)  # back at the head, redelivered
    channel.queue_declare("q", passive=True)  # a round trip: the nack has been handled

    assert amqpd.peek("q") == [
        PeekedMessage(b"first", {"content_type": "text/plain", "headers": {"n": 1}, "delivery_mode": 2,
                                 "type": "greeting"}, "x", "k", True),
        PeekedMessage(b"\x00second", {}, "", "q", False),
    ]
    assert amqpd.peek("q") == amqpd.peek("q")
    assert [channel.basic_get("q", auto_ack=True)[2] for _ in range(2)] == [b"first", b"\x00second"]
    assert amqpd.peek("q") == []
    with pytest.raises(KeyError):
        amqpd.peek("no-such-queue")


def test_restart_keeps_durable_state_and_drops_the_rest(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("kept", durable=True)
    channel.queue_declare("gone")
    channel.basic_publish("", "kept", b"persistent", pika.BasicProperties(delivery_mode=2))
    channel.basic_publish("", "kept", b"transient")
    channel.basic_publish("", "gone", b"lost")

    amqpd.restart()

    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert closed.value.reply_code == 320
    channel = connect(amqp_url).channel()
    assert [m.body for m in amqpd.peek("kept")] == [b"persistent"]
    assert channel.queue_declare("kept", passive=True).method.message_count == 1
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as missing:
        channel.queue_declare("gone", passive=True)
    assert missing.value.reply_code == 404


def test_block_publishers_sends_connection_blocked_and_unblocked(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    blocked: list[object] = []
    unblocked: list[object] = []
    connection.add_on_connection_blocked_callback(lambda conn, frame: blocked.append(frame.method.reason))
    connection.add_on_connection_unblocked_callback(lambda conn, frame: unblocked.append(frame))
    channel = connection.channel()
    channel.queue_declare("q")

    amqpd.block_publishers()
    try:
        channel.basic_publish("", "q", b"first")  # a publisher is blocked when it publishes
        pump_until(connection, blocked)
        assert blocked == ["low on memory"]
        channel.basic_publish("", "q", b"held back")  # not read until the alarm clears
    finally:
        amqpd.unblock_publishers()
    pump_until(connection, unblocked)
    assert unblocked
    channel.queue_declare("q", passive=True)  # a round trip after the held publish
    assert [m.body for m in amqpd.peek("q")] == [b"first", b"held back"]


def test_drop_connections_closes_this_vhost_s_clients_with_320(amqp_url: str, amqpd: VirtualHostHandle,
                                                               amqpd_broker):
    mine = connect(amqp_url)
    other = connect(amqpd_broker.url)  # vhost /: left alone
    assert amqpd.drop_connections() == 1
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        mine.process_data_events(time_limit=2)
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - Closed via amqpd.testing")
    other.channel().queue_declare("", exclusive=True)
    other.close()
