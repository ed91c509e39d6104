"""The plugin's fixtures from a sync test: amqp_url is a vhost of this test's own."""

from __future__ import annotations

import urllib.parse

import pika

from amqpd.testing import Broker, VirtualHostHandle


def vhost_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlparse(url).path[1:]) or "/"


def test_amqp_url_is_a_fresh_vhost_guest_may_use(amqp_url: str, amqpd: VirtualHostHandle, amqpd_broker: Broker):
    assert vhost_of(amqp_url) == amqpd.name != "/"
    assert amqp_url == amqpd_broker.url_for(amqpd.name)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    assert channel.queue_declare("work").method.message_count == 0
    channel.basic_publish("", "work", b"hello")
    channel.queue_declare("sync").method  # a round trip: the publish has been routed
    assert [m.body for m in amqpd.peek("work")] == [b"hello"]
    connection.close()

