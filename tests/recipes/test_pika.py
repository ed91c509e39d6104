"""pika: the code under test publishes an order; the test looks at it in the broker and takes it."""

import json

import pika


def place_order(channel, order):
    """The code under test: a persistent JSON message on the durable queue "orders"."""
    channel.queue_declare("orders", durable=True)
    channel.basic_publish("", "orders", json.dumps(order).encode(),
                          pika.BasicProperties(content_type="application/json", delivery_mode=2))


def test_an_order_reaches_the_queue(amqp_url, amqpd):
    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()

        place_order(channel, {"id": 7, "items": ["tea"]})

        amqpd.wait_until_idle()  # the publish has been routed
        assert [(m.routing_key, m.queues) for m in amqpd.published] == [("orders", ["orders"])]
        assert [m.properties["delivery_mode"] for m in amqpd.peek("orders")] == [2]
        method, properties, body = next(channel.consume("orders", inactivity_timeout=5))
        channel.basic_ack(method.delivery_tag)
    assert json.loads(body) == {"id": 7, "items": ["tea"]}
    assert properties.content_type == "application/json"
