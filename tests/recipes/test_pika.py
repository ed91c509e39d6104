"""pika: the code under test publishes an order; the test consumes it from the queue."""

import json

import pika


def place_order(channel, order):
    """The code under test: a persistent JSON message on the durable queue "orders"."""
    channel.queue_declare("orders", durable=True)
    channel.basic_publish("", "orders", json.dumps(order).encode(),
                          pika.BasicProperties(content_type="application/json", delivery_mode=2))


def test_an_order_reaches_the_queue(amqp_url, amqpd):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()

    place_order(channel, {"id": 7, "items": ["tea"]})

    channel.queue_declare("orders", passive=True)  # one round trip: the publish has been routed
    assert [m.properties["delivery_mode"] for m in amqpd.peek("orders")] == [2]
    method, properties, body = next(channel.consume("orders", inactivity_timeout=5))
    channel.basic_ack(method.delivery_tag)
    assert json.loads(body) == {"id": 7, "items": ["tea"]}
    assert properties.content_type == "application/json"
    connection.close()
