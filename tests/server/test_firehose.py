"""The firehose (rabbitmqctl trace_on / trace_off): copies on amq.rabbitmq.trace with
rabbit_trace's routing keys and headers, consumed from a queue bound to it."""

from __future__ import annotations

import httpx
import pika
import pytest

from tests.server.test_control_socket import over_socket
from tests.support.server import BrokerThread


@pytest.fixture
def broker():
    broker = BrokerThread(node_name="trace@testhost").start()
    yield broker
    broker.stop()


def traced(ch, queue: str, count: int) -> list[tuple[str, dict, bytes]]:
    """The first `count` trace copies in the queue: routing key, headers, body."""
    copies = []
    for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=5):
        assert method is not None, f"only {len(copies)} trace copies arrived"
        copies.append((method.routing_key, props.headers, body))
        if len(copies) == count:
            break
    ch.cancel()
    return copies


def test_trace_on_copies_publishes_and_deliveries(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.queue_declare("firehose")
    ch.queue_bind("firehose", "amq.rabbitmq.trace", "#")
    ch.queue_declare("work")
    with over_socket(broker) as control:
        assert control.put("/control/trace/%2F", json={"on": True}).status_code == 204
        vhost = httpx.get(f"{broker.api}/api/vhosts/%2F", auth=("guest", "guest")).json()
        assert vhost["tracing"] is True
    props = pika.BasicProperties(content_type="text/plain", delivery_mode=2, priority=3, timestamp=1700000000,
                                 headers={"h": "v"})
    ch.basic_publish("", "work", b"payload", props)
    method, _, body = ch.basic_get("work", auto_ack=True)
    assert body == b"payload"
    (pub_key, pub, pub_body), (del_key, dlv, del_body) = traced(ch, "firehose", 2)
    local_port = conn._impl._transport._sock.getsockname()[1]  # noqa: SLF001 - the name RabbitMQ gives
    name = f"127.0.0.1:{local_port} -> 127.0.0.1:{broker.port}"
    assert (pub_key, pub_body) == ("publish.", b"payload")
    assert pub == {"exchange_name": "", "routing_keys": ["work"], "node": "trace@testhost",
                   "properties": {"content_type": "text/plain", "headers": {"h": "v"}, "delivery_mode": 2,
                                  "priority": 3, "timestamp": 1700000000},
                   "vhost": "/", "connection": name, "channel": 1, "user": "guest", "routed_queues": ["work"]}
    assert (del_key, del_body) == ("deliver.work", b"payload")
    assert dlv == {"exchange_name": "", "routing_keys": ["work"], "node": "trace@testhost",
                   "properties": pub["properties"], "redelivered": 0, "vhost": "/", "connection": name,
                   "channel": 1, "user": "guest"}
    conn.close()


def test_trace_off_stops_the_copies(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.queue_declare("firehose")
    ch.queue_bind("firehose", "amq.rabbitmq.trace", "publish.#")
    with over_socket(broker) as control:
        control.put("/control/trace/%2F", json={"on": True})
        ch.basic_publish("amq.direct", "one", b"1")
        assert traced(ch, "firehose", 1)[0][0] == "publish.amq.direct"
        assert control.put("/control/trace/%2F", json={"on": False}).status_code == 204
        ch.basic_publish("amq.direct", "two", b"2")
        ch.basic_publish("amq.topic", "three", b"3")
        control.put("/control/trace/%2F", json={"on": True})
        ch.basic_publish("amq.fanout", "four", b"4")
        assert [key for key, _, _ in traced(ch, "firehose", 1)] == ["publish.amq.fanout"]
        assert ch.queue_declare("firehose", passive=True).method.message_count == 0
        vhost = httpx.get(f"{broker.api}/api/vhosts/%2F", auth=("guest", "guest")).json()
        assert vhost["tracing"] is True
        assert control.put("/control/trace/nope", json={"on": True}).status_code == 404
    conn.close()
