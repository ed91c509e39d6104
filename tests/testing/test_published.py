"""amqpd.published: every message a client published into the test's vhost, where it went."""

from __future__ import annotations

import pika
import pytest

from amqpd.testing import PublishedMessage, VirtualHostHandle
from tests.testing.blocking import connect


def test_published_lists_each_publish_with_the_queues_it_reached(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.exchange_declare("fan", "fanout")
    for name in ("one", "two"):
        channel.queue_declare(name)
        channel.queue_bind(name, "fan")
    channel.confirm_delivery()
    channel.basic_publish("fan", "any", b"to both", pika.BasicProperties(content_type="text/plain",
                                                                      headers={"attempt": 1}))
    channel.basic_publish("", "two", b"direct")
    channel.basic_publish("", "nowhere", b"lost")
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish("", "nowhere", b"returned", mandatory=True)

    assert amqpd.published == [
        PublishedMessage("fan", "any", ["one", "two"], b"to both", {"content_type": "text/plain",
                                                                    "headers": {"attempt": 1}}),
        PublishedMessage("", "two", ["two"], b"direct", {}),
        PublishedMessage("", "nowhere", [], b"lost", {}),
        PublishedMessage("", "nowhere", [], b"returned", {}),
    ]


def test_refused_publishes_and_dead_lettering_are_not_publishes(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"rejected")
    method, _, _ = channel.basic_get("work")
    channel.basic_reject(method.delivery_tag, requeue=False)
    channel.queue_declare("work", passive=True)  # a round trip: the reject has been handled
    assert [m.body for m in amqpd.peek("dead")] == [b"rejected"]
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.basic_publish("no-such-exchange", "k", b"refused")
        channel.queue_declare("work", passive=True)
    assert refused.value.reply_code == 404

    assert amqpd.published == [PublishedMessage("", "work", ["work"], b"rejected", {})]  # no x-death added


def test_a_transaction_s_messages_appear_at_commit(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("q")
    channel.tx_select()
    channel.basic_publish("", "q", b"pending")
    channel.queue_declare("q", passive=True)  # a round trip: the publish has been read
    assert amqpd.published == []
    channel.tx_commit()
    assert amqpd.published == [PublishedMessage("", "q", ["q"], b"pending", {})]


def test_each_vhost_records_its_own(amqp_url: str, amqpd: VirtualHostHandle, amqpd_broker):
    other = amqpd_broker.add_vhost("published-elsewhere")
    try:
        connect(other.url).channel().basic_publish("", "x", b"elsewhere")
        channel = connect(amqp_url).channel()
        channel.basic_publish("", "y", b"here")
        channel.queue_declare("", exclusive=True)  # a round trip
        assert [m.body for m in amqpd.published] == [b"here"]
        assert [m.body for m in other.published] == [b"elsewhere"]
        assert amqpd_broker.vhost("published-elsewhere") is other
    finally:
        amqpd_broker.delete_vhost("published-elsewhere")


def test_published_keeps_recording_across_a_restart(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("kept", durable=True)
    channel.basic_publish("", "kept", b"before")
    channel.queue_declare("kept", passive=True)
    amqpd.restart()
    channel = connect(amqp_url).channel()
    channel.basic_publish("", "kept", b"after")
    channel.queue_declare("kept", passive=True)
    assert [(m.body, m.queues) for m in amqpd.published] == [(b"before", ["kept"]), (b"after", ["kept"])]
