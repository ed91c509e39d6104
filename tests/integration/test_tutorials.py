"""The six RabbitMQ tutorials, written as pika programs, run against amqpd.

Each test plays the tutorial's producer and consumers and asserts what the consumers received.
Consumers wait with pika's consume(inactivity_timeout=...) or threading events, never sleeps.
"""

from __future__ import annotations

import threading
import uuid

import pika
import pytest

WAIT = 5.0  # seconds a consumer waits for an expected message before the test fails


def connect(broker) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(broker.url))


def receive(channel, queue: str, count: int, auto_ack: bool = True) -> list[tuple]:
    """Exactly `count` deliveries (method, properties, body) from `queue`, then cancel the consumer."""
    received = []
    for method, properties, body in channel.consume(queue, auto_ack=auto_ack, inactivity_timeout=WAIT):
        assert method is not None, f"timed out after {len(received)} of {count} messages from {queue}"
        received.append((method, properties, body))
        if len(received) == count:
            break
    channel.cancel()
    return received


def message_count(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


@pytest.fixture
def conn(broker):
    connection = connect(broker)
    yield connection
    if connection.is_open:
        connection.close()


def test_hello_world(broker, conn):
    """Tutorial 1: a message sent to a named queue via the default exchange reaches its consumer."""
    send_ch = conn.channel()
    send_ch.queue_declare("hello")
    send_ch.basic_publish(exchange="", routing_key="hello", body=b"Hello World!")

    receiver = connect(broker)
    recv_ch = receiver.channel()
    recv_ch.queue_declare("hello")  # declaring again is idempotent, as the tutorial notes
    [(method, _, body)] = receive(recv_ch, "hello", 1)
    assert body == b"Hello World!"
    assert method.routing_key == "hello"
    assert method.exchange == ""
    assert method.redelivered is False
    assert message_count(recv_ch, "hello") == 0
    receiver.close()


def test_work_queues_fair_dispatch_with_prefetch_one(broker, conn):
    """Tutorial 2: with prefetch 1 and manual acks a busy worker gets no more tasks; the other gets them all."""
    producer = conn.channel()
    producer.queue_declare("task_queue", durable=True)
    busy_conn, free_conn = connect(broker), connect(broker)
    busy, free = busy_conn.channel(), free_conn.channel()
    for ch in (busy, free):
        ch.queue_declare("task_queue", durable=True)
        ch.basic_qos(prefetch_count=1)

    tasks = [f"task {i}{'.' * i}".encode() for i in range(1, 6)]
    for task in tasks:
        producer.basic_publish("", "task_queue", task,
                               pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))

    busy_gen = busy.consume("task_queue", inactivity_timeout=WAIT)
    busy_method, busy_props, busy_body = next(busy_gen)  # held, not acked: this worker is "busy"
    assert busy_body == tasks[0]
    assert busy_props.delivery_mode == 2

    done = []
    for method, props, body in free.consume("task_queue", inactivity_timeout=WAIT):
        assert method is not None, f"free worker timed out after {done}"
        assert props.delivery_mode == 2
        done.append(body)
        free.basic_ack(method.delivery_tag)
        if len(done) == 4:
            break
    free.cancel()
    assert done == tasks[1:]
    assert message_count(producer, "task_queue") == 0

    busy.basic_ack(busy_method.delivery_tag)
    busy.cancel()
    assert message_count(producer, "task_queue") == 0
    busy_conn.close()
    free_conn.close()


def test_work_queues_unacked_task_is_redelivered_when_worker_dies(broker, conn):
    """Tutorial 2: a worker that dies before acking loses nothing; the task goes to another worker."""
    ch = conn.channel()
    ch.queue_declare("task_queue", durable=True)
    ch.basic_publish("", "task_queue", b"important",
                     pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))

    dying = connect(broker)
    dying_ch = dying.channel()
    dying_ch.basic_qos(prefetch_count=1)
    [(_, _, body)] = receive(dying_ch, "task_queue", 1, auto_ack=False)
    assert body == b"important"
    dying.close()  # closed without ack

    [(method, _, body)] = receive(ch, "task_queue", 1, auto_ack=False)
    assert body == b"important"
    assert method.redelivered is True
    ch.basic_ack(method.delivery_tag)


def test_publish_subscribe_fanout(broker, conn):
    """Tutorial 3: every subscriber's exclusive server-named queue gets every log message."""
    emitter = conn.channel()
    emitter.exchange_declare("logs", exchange_type="fanout")

    subscribers = []
    for _ in range(2):
        sub_conn = connect(broker)
        sub_ch = sub_conn.channel()
        sub_ch.exchange_declare("logs", exchange_type="fanout")
        queue = sub_ch.queue_declare("", exclusive=True).method.queue
        assert queue.startswith("amq.gen-")
        sub_ch.queue_bind(queue, "logs")
        subscribers.append((sub_conn, sub_ch, queue))
    assert subscribers[0][2] != subscribers[1][2]

    logs = [b"info: one", b"warning: two", b"error: three"]
    for line in logs:
        emitter.basic_publish("logs", "", line)

    for sub_conn, sub_ch, queue in subscribers:
        received = receive(sub_ch, queue, len(logs))
        assert [body for _, _, body in received] == logs
        assert {method.exchange for method, _, _ in received} == {"logs"}
        sub_conn.close()

    # exclusive queues go away with their connection
    for _, _, queue in subscribers:
        probe = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            probe.queue_declare(queue, passive=True)
        assert info.value.reply_code == 404
        assert info.value.reply_text == f"NOT_FOUND - no queue '{queue}' in vhost '/'"


def test_routing_direct_exchange(broker, conn):
    """Tutorial 4: a direct exchange delivers by exact severity; a queue can bind several keys."""
    emitter = conn.channel()
    emitter.exchange_declare("direct_logs", exchange_type="direct")

    errors_only, everything = conn.channel(), conn.channel()
    q_errors = errors_only.queue_declare("", exclusive=True).method.queue
    errors_only.queue_bind(q_errors, "direct_logs", routing_key="error")
    q_all = everything.queue_declare("", exclusive=True).method.queue
    for severity in ("info", "warning", "error"):
        everything.queue_bind(q_all, "direct_logs", routing_key=severity)

    sent = [("info", b"i1"), ("error", b"e1"), ("warning", b"w1"), ("debug", b"d1"), ("error", b"e2")]
    for severity, body in sent:
        emitter.basic_publish("direct_logs", severity, body)

    got_errors = [(m.routing_key, b) for m, _, b in receive(errors_only, q_errors, 2)]
    got_all = [(m.routing_key, b) for m, _, b in receive(everything, q_all, 4)]
    assert got_errors == [("error", b"e1"), ("error", b"e2")]
    assert got_all == [("info", b"i1"), ("error", b"e1"), ("warning", b"w1"), ("error", b"e2")]
    assert message_count(emitter, q_errors) == 0
    assert message_count(emitter, q_all) == 0  # 'debug' matched no binding and was dropped


def test_topics(broker, conn):
    """Tutorial 5: '*' matches one word, '#' zero or more, exactly as in the tutorial's examples."""
    emitter = conn.channel()
    emitter.exchange_declare("topic_logs", exchange_type="topic")
    q1_ch, q2_ch = conn.channel(), conn.channel()
    q1 = q1_ch.queue_declare("", exclusive=True).method.queue
    q2 = q2_ch.queue_declare("", exclusive=True).method.queue
    q1_ch.queue_bind(q1, "topic_logs", routing_key="*.orange.*")
    q2_ch.queue_bind(q2, "topic_logs", routing_key="*.*.rabbit")
    q2_ch.queue_bind(q2, "topic_logs", routing_key="lazy.#")

    keys = ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox",
            "lazy.pink.rabbit", "quick.brown.fox", "orange", "quick.orange.male.rabbit",
            "lazy.orange.male.rabbit", "lazy"]
    for key in keys:
        emitter.basic_publish("topic_logs", key, key.encode())

    expected_q1 = ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
    expected_q2 = ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit",
                   "lazy.orange.male.rabbit", "lazy"]
    got_q1 = receive(q1_ch, q1, len(expected_q1))
    got_q2 = receive(q2_ch, q2, len(expected_q2))
    assert [m.routing_key for m, _, _ in got_q1] == expected_q1
    assert [b for _, _, b in got_q2] == [k.encode() for k in expected_q2]  # lazy.pink.rabbit only once
    assert message_count(emitter, q1) == 0
    assert message_count(emitter, q2) == 0


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_rpc_reply_matches_correlation_id(broker, conn):
    """Tutorial 6: an RPC server answers on reply_to with the request's correlation_id."""
    requests = [10, 3, 20]
    ready = threading.Event()
    served: list[int] = []
    failure: list[BaseException] = []

    def rpc_server() -> None:
        try:
            server_conn = connect(broker)
            ch = server_conn.channel()
            ch.queue_declare("rpc_queue")
            ch.basic_qos(prefetch_count=1)
            ready.set()
            for method, props, body in ch.consume("rpc_queue", inactivity_timeout=WAIT):
                assert method is not None, "rpc server timed out"
                n = int(body)
                ch.basic_publish("", props.reply_to, str(fib(n)).encode(),
                                 pika.BasicProperties(correlation_id=props.correlation_id))
                ch.basic_ack(method.delivery_tag)
                served.append(n)
                if len(served) == len(requests):
                    break
            ch.cancel()
            server_conn.close()
        except BaseException as exc:  # surfaced to the test thread
            failure.append(exc)
            ready.set()

    server = threading.Thread(target=rpc_server, daemon=True)
    server.start()
    assert ready.wait(WAIT)
    assert not failure

    ch = conn.channel()
    callback_queue = ch.queue_declare("", exclusive=True).method.queue
    ids = {}
    for n in requests:
        corr_id = str(uuid.uuid4())
        ids[corr_id] = n
        ch.basic_publish("", "rpc_queue", str(n).encode(),
                         pika.BasicProperties(reply_to=callback_queue, correlation_id=corr_id))

    replies = receive(ch, callback_queue, len(requests))
    server.join(WAIT)
    assert not failure
    assert served == requests
    answers = {props.correlation_id: int(body) for _, props, body in replies}
    assert answers == {corr_id: fib(n) for corr_id, n in ids.items()}
    assert answers[next(c for c, n in ids.items() if n == 20)] == 6765
