"""kombu (and Celery on top of it) against amqpd: QoS semantics exactly as on RabbitMQ 3.10.8.

amqpd announces product RabbitMQ 3.10.8, so kombu concludes that basic.qos global=true means
"shared by the whole channel" (RabbitMQ's reinterpretation) and Celery relies on it.
"""

from __future__ import annotations

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

WAIT = 5.0


@pytest.fixture
def conn(broker):
    with Connection(broker.url) as connection:
        connection.connect()
        yield connection


def test_qos_semantics_match_rabbitmq_3_10(conn):
    """kombu sees RabbitMQ 3.10.8 and so decides global QoS is per channel (not per spec)."""
    props = conn.connection.server_properties
    assert props["product"] == "RabbitMQ"
    assert props["version"] == "3.10.8"
    assert conn.transport.qos_semantics_matches_spec(conn.connection) is False
    assert conn.qos_semantics_matches_spec is False


def fill(conn, names: list[str], per_queue: int) -> list[Queue]:
    """Declare the queues and put `per_queue` messages in each."""
    channel = conn.channel()
    queues = [Queue(name, Exchange(""), routing_key=name, channel=channel) for name in names]
    for queue in queues:
        queue.declare()
    producer = Producer(channel)
    for queue in queues:
        for i in range(per_queue):
            producer.publish({"queue": queue.name, "n": i}, routing_key=queue.name, serializer="json")
    return queues


def ready_counts(conn, names: list[str]) -> list[int]:
    """Ready (undelivered) message counts; a synchronous round trip on a separate channel."""
    channel = conn.channel()
    counts = [channel.queue_declare(name, passive=True).message_count for name in names]
    channel.close()
    return counts


def consume_unacked(conn, names: list[str], prefetch: int, apply_global: bool):
    """A Consumer on both queues that never acks; returns (channel, consumer, received messages)."""
    channel = conn.channel()
    received = []
    consumer = Consumer(channel, queues=[Queue(n, channel=channel) for n in names],
                        callbacks=[lambda body, message: received.append((body, message))],
                        accept=["json"])
    consumer.qos(prefetch_count=prefetch, apply_global=apply_global)
    consumer.consume()
    return channel, consumer, received


def drain_until(conn, received: list, count: int) -> None:
    while len(received) < count:
        conn.drain_events(timeout=WAIT)


def test_global_qos_is_shared_by_all_consumers_of_the_channel(conn):
    """prefetch_count=3 global: at most 3 unacked messages in total across both queues."""
    names = ["kombu.global.a", "kombu.global.b"]
    fill(conn, names, 5)
    channel, consumer, received = consume_unacked(conn, names, 3, apply_global=True)
    drain_until(conn, received, 3)
    channel.queue_declare(names[0], passive=True)  # round trip: any 4th delivery would precede its reply
    assert len(received) == 3
    assert sum(ready_counts(conn, names)) == 10 - 3

    received[0][1].ack()
    drain_until(conn, received, 4)
    channel.queue_declare(names[0], passive=True)
    assert len(received) == 4
    assert sum(ready_counts(conn, names)) == 10 - 4
    consumer.cancel()


def test_per_consumer_qos_limits_each_consumer(conn):
    """prefetch_count=2 non-global: each of the two consumers gets up to 2 (4 in all)."""
    names = ["kombu.local.a", "kombu.local.b"]
    fill(conn, names, 5)
    channel, consumer, received = consume_unacked(conn, names, 2, apply_global=False)
    drain_until(conn, received, 4)
    channel.queue_declare(names[0], passive=True)
    assert len(received) == 4
    assert sorted(body["queue"] for body, _ in received) == [names[0]] * 2 + [names[1]] * 2
    assert ready_counts(conn, names) == [3, 3]

    next(message for body, message in received if body["queue"] == names[1]).ack()
    drain_until(conn, received, 5)
    channel.queue_declare(names[0], passive=True)
    assert len(received) == 5
    assert received[-1][0] == {"queue": names[1], "n": 2}
    assert ready_counts(conn, names) == [3, 2]
    consumer.cancel()


def consume_with_two_qos(conn, names: list[str], first_global: bool) -> tuple:
    """A consumer on both queues after basic.qos(3, global) and basic.qos(2, per consumer), in some order."""
    channel = conn.channel()
    limits = [(3, True), (2, False)] if first_global else [(2, False), (3, True)]
    for count, is_global in limits:
        channel.basic_qos(0, count, is_global)
    received = []
    consumer = Consumer(channel, queues=[Queue(n, channel=channel) for n in names],
                        callbacks=[lambda body, message: received.append(body)], accept=["json"])
    consumer.consume()
    return channel, consumer, received


def test_global_and_per_consumer_limits_combine(conn):
    """Per-consumer 2 then channel-wide 3: both limits apply, 3 deliveries in all."""
    names = ["kombu.both.a", "kombu.both.b"]
    fill(conn, names, 5)
    channel, consumer, received = consume_with_two_qos(conn, names, first_global=False)
    drain_until(conn, received, 3)
    channel.queue_declare(names[0], passive=True)
    assert len(received) == 3
    per_queue = [sum(1 for body in received if body["queue"] == name) for name in names]
    assert per_queue == [2, 1]
    assert ready_counts(conn, names) == [3, 4]
    consumer.cancel()


def test_per_consumer_qos_after_global_qos_lifts_the_channel_limit(conn):
    """RabbitMQ 3.10 quirk: basic.qos global=false unlimits the channel's prefetch (rabbit_limiter:unlimit_prefetch).

    So channel-wide 3 then per-consumer 2 delivers 2 per consumer, 4 in all.
    """
    names = ["kombu.both.a", "kombu.both.b"]
    fill(conn, names, 5)
    channel, consumer, received = consume_with_two_qos(conn, names, first_global=True)
    drain_until(conn, received, 4)
    channel.queue_declare(names[0], passive=True)
    assert len(received) == 4
    assert ready_counts(conn, names) == [3, 3]
    consumer.cancel()


def test_producer_consumer_round_trip(conn):
    """A kombu Producer's message arrives with its body, headers and properties intact."""
    exchange = Exchange("kombu.direct", type="direct", durable=False)
    queue = Queue("kombu.rt", exchange, routing_key="rt", durable=False)
    channel = conn.channel()
    producer = Producer(channel, exchange=exchange)
    producer.publish({"hello": ["world", 1]}, routing_key="rt", serializer="json", declare=[queue],
                     headers={"x-trace": "abc"}, priority=3, correlation_id="c-1")
    received = []
    with Consumer(conn.channel(), queues=[queue], accept=["json"],
                  callbacks=[lambda body, message: (received.append((body, message)), message.ack())]):
        drain_until(conn, received, 1)
    body, message = received[0]
    assert body == {"hello": ["world", 1]}
    assert message.headers == {"x-trace": "abc"}
    assert message.properties["priority"] == 3
    assert message.properties["correlation_id"] == "c-1"
    assert message.content_type == "application/json"
    assert message.delivery_info["routing_key"] == "rt"
    assert message.delivery_info["exchange"] == "kombu.direct"


def test_simple_queue_round_trip(conn):
    """kombu's SimpleQueue: put, get, ack, and Empty once drained."""
    queue = conn.SimpleQueue("kombu.simple")
    queue.put({"n": 1})
    queue.put("text")
    first = queue.get(block=True, timeout=WAIT)
    second = queue.get(block=True, timeout=WAIT)
    assert first.payload == {"n": 1}
    assert second.payload == "text"
    first.ack()
    second.ack()
    assert queue.qsize() == 0
    with pytest.raises(queue.Empty):
        queue.get(block=False)
    queue.close()


def test_celery_worker_runs_a_task_and_returns_its_result(broker):
    """A real Celery worker (solo pool, in-process) consumes a task from amqpd and replies via rpc://."""
    from celery import Celery
    from celery.contrib.testing.worker import start_worker
    from celery.worker import state

    app = Celery("amqpd_test", broker=broker.url, backend="rpc://")
    app.conf.update(broker_connection_retry_on_startup=False, worker_hijack_root_logger=False)

    @app.task(name="amqpd_test.add")
    def add(x, y):
        return x + y

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=WAIT) as worker:
        result = add.delay(2, 40)
        assert result.get(timeout=WAIT) == 42
        assert result.status == "SUCCESS"
        prefetch = worker.consumer.qos.value
        assert prefetch == app.conf.worker_prefetch_multiplier  # one solo process
        # kombu saw RabbitMQ 3.10.8, so Celery set its prefetch with global=true (channel-wide)
        global_limits = broker.call(lambda: [ch.global_prefetch for conn in broker.node.connections
                                             for ch in conn.channels.values()])
        assert prefetch in global_limits
        # The worker's event loop sleeps up to 10 s between socket events; ask it to stop and wake it.
        state.should_terminate = 0
        app.control.broadcast("ping", reply=False)
