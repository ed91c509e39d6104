"""The first round trip: pika publishes and consumes through a real amqpd."""

import pika


def test_publish_and_get_round_trip(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"hello", pika.BasicProperties(content_type="text/plain", headers={"a": {"b": [1, 2]}}))
    method, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"hello"
    assert props.content_type == "text/plain"
    assert props.headers == {"a": {"b": [1, 2]}}
    assert method.message_count == 0
    conn.close()
