"""Quorum queues (x-queue-type: quorum) over pika, as RabbitMQ 3.10.8 behaves (each expectation
was observed on the real broker with the same steps)."""

from __future__ import annotations

import pika
import pytest

from tests.support.blocking import refused

QUORUM = {"x-queue-type": "quorum"}


def filled(connect, *bodies, **arguments):
    """A connection and a confirming channel on it, with quorum queue "q" holding ``bodies``."""
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    declare(ch, "q", **arguments)
    publish(ch, "q", *bodies)
    return conn, ch


def declare(ch, name, **arguments):
    ch.queue_declare(name, durable=True, arguments={**QUORUM, **arguments})


def publish(ch, queue, *bodies, properties=None):
    for body in bodies:
        ch.basic_publish("", queue, body, properties)


def gets(ch, queue):
    """(body, redelivered, x-delivery-count) of each ready message, acked, until the queue is empty."""
    out = []
    while True:
        method, props, body = ch.basic_get(queue)
        if method is None:
            return out
        out.append((body, method.redelivered, (props.headers or {}).get("x-delivery-count")))
        ch.basic_ack(method.delivery_tag)


def consumed(conn, ch, queue, count, no_ack=True):
    """(body, redelivered, headers) of the first `count` deliveries to a new consumer."""
    got = []
    ch.basic_consume(queue, lambda c, m, p, b: got.append((b, m.redelivered, p.headers)), auto_ack=no_ack)
    while len(got) < count:
        conn.process_data_events(0.05)
    return got


@pytest.mark.parametrize("flags, prop", [
    ({"durable": False}, "non-durable"),
    ({"durable": True, "exclusive": True}, "exclusive-owner"),
    ({"durable": True, "auto_delete": True}, "auto-delete"),
])
def test_refused_properties(channel, flags, prop):
    assert refused(channel.queue_declare, "q", arguments=QUORUM, **flags) == (
        406, f"PRECONDITION_FAILED - invalid property '{prop}' for queue 'q' in vhost '/'")


@pytest.mark.parametrize("argument, value", [("x-max-priority", 5), ("x-queue-mode", "lazy"),
                                             ("x-queue-version", 2), ("x-max-age", "1D")])
def test_refused_arguments(channel, argument, value):
    assert refused(channel.queue_declare, "q", durable=True, arguments={**QUORUM, argument: value}) == (
        406, f"PRECONDITION_FAILED - invalid arg '{argument}' for queue 'q' in vhost '/' of queue type "
             "rabbit_quorum_queue")


def test_server_named_refused_before_anything_else(channel):
    assert refused(channel.queue_declare, "", durable=False, arguments={**QUORUM, "x-expires": -1}) == (
        406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue")


def test_inequivalent_redeclare(connect):
    conn = connect()
    ch = conn.channel()
    declare(ch, "q", **{"x-delivery-limit": 3})
    assert refused(ch.queue_declare, "q", durable=True, arguments={**QUORUM, "x-delivery-limit": 4}) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'q' in vhost '/': "
             "received '4' but current is '3'")
    ch = conn.channel()
    assert refused(ch.queue_declare, "q", durable=True, arguments={}) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': "
             "received none but current is the value 'quorum' of type 'longstr'")


def test_delivery_count_on_get_and_requeue_to_the_back(channel):
    """Without a delivery limit a nacked / rejected message goes to the back; every Get-Ok
    carries x-delivery-count, 0 on the first delivery."""
    channel.confirm_delivery()
    declare(channel, "q")
    publish(channel, "q", b"m0", b"m1", b"m2", properties=pika.BasicProperties(headers={"a": 1}))
    method, props, _ = channel.basic_get("q")
    assert props.headers == {"a": 1, "x-delivery-count": 0}
    channel.basic_nack(method.delivery_tag, requeue=True)
    method, _, body = channel.basic_get("q")
    assert body == b"m1"
    channel.basic_reject(method.delivery_tag, requeue=True)
    assert gets(channel, "q") == [(b"m2", False, 0), (b"m0", True, 1), (b"m1", True, 1)]


def test_channel_close_returns_to_the_front_and_counts(connect):
    conn, ch = filled(connect, b"m0", b"m1", b"m2")
    other = conn.channel()
    assert other.basic_get("q")[2] == b"m0"
    other.close()
    assert gets(ch, "q") == [(b"m0", True, 1), (b"m1", False, 0), (b"m2", False, 0)]


def test_connection_close_counts(connect):
    _, ch = filled(connect, b"m0")
    conn2 = connect()
    assert conn2.channel().basic_get("q")[2] == b"m0"
    conn2.close()
    assert gets(ch, "q") == [(b"m0", True, 1)]


def test_consumer_sees_the_header_only_after_a_return(connect):
    conn, ch = filled(connect, b"m0", b"m1", b"m2")
    method, _, _ = ch.basic_get("q")
    ch.basic_nack(method.delivery_tag, requeue=True)
    assert consumed(conn, conn.channel(), "q", 3) == [
        (b"m1", False, None), (b"m2", False, None), (b"m0", True, {"x-delivery-count": 1})]


def test_delivery_limit_dead_letters_after_limit_plus_one_deliveries(channel):
    """x-delivery-limit 2: three deliveries, then dead-lettered with reason delivery_limit (no
    x-delivery-count on the dead-lettered copy); with a limit a nack requeues at the front."""
    channel.confirm_delivery()
    channel.queue_declare("dead")
    declare(channel, "q", **{"x-delivery-limit": 2, "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": "dead"})
    publish(channel, "q", b"m1", b"m2", properties=pika.BasicProperties(headers={"a": 1}))
    seen = []
    for _ in range(3):
        method, props, body = channel.basic_get("q")
        seen.append((body, props.headers["x-delivery-count"]))
        channel.basic_nack(method.delivery_tag, requeue=True)
    assert seen == [(b"m1", 0), (b"m1", 1), (b"m1", 2)]
    method, props, body = channel.basic_get("dead", auto_ack=True)
    assert body == b"m1"
    headers = props.headers
    assert headers["a"] == 1 and "x-delivery-count" not in headers
    assert headers["x-first-death-reason"] == "delivery_limit"
    assert headers["x-first-death-queue"] == "q"
    assert [(d["reason"], d["count"], d["queue"]) for d in headers["x-death"]] == [("delivery_limit", 1, "q")]
    assert gets(channel, "q") == [(b"m2", False, 0)]


def test_delivery_limit_zero_drops_on_channel_close(connect):
    conn, ch = filled(connect, b"m0", **{"x-delivery-limit": 0})
    other = conn.channel()
    assert other.basic_get("q")[2] == b"m0"
    other.close()
    assert gets(ch, "q") == []


def test_delivery_limit_policy(broker, channel):
    """A delivery-limit policy applies to a live quorum queue (the lower of argument and policy)."""
    from amqpd.broker import Policy, PolicyKind

    channel.confirm_delivery()
    declare(channel, "q", **{"x-delivery-limit": 5})
    vhost = broker.node.vhosts["/"]
    broker.call(lambda: vhost.put_policy(PolicyKind.POLICY, Policy.make(
        PolicyKind.POLICY, "/", "limit", "^q$", {"delivery-limit": 0}, 0, "queues")))
    publish(channel, "q", b"m0")
    method, _, _ = channel.basic_get("q")
    channel.basic_nack(method.delivery_tag, requeue=True)
    assert gets(channel, "q") == []


@pytest.mark.parametrize("overflow, acks, left, dead", [
    ("reject-publish", ["ack", "ack", "ack", "nack", "nack"], [b"m0", b"m1", b"m2"], []),
    ("reject-publish-dlx", ["ack"] * 5, [b"m3", b"m4"], [b"m0", b"m1", b"m2"]),
    ("drop-head", ["ack"] * 5, [b"m3", b"m4"], [b"m0", b"m1", b"m2"]),
])
def test_overflow(channel, overflow, acks, left, dead):
    """reject-publish lets the queue go one over its limit; reject-publish-dlx acts as drop-head."""
    channel.confirm_delivery()
    channel.queue_declare("dead")
    declare(channel, "q", **{"x-max-length": 2, "x-overflow": overflow, "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": "dead"})
    outcomes = []
    for i in range(5):
        try:
            channel.basic_publish("", "q", b"m%d" % i)
            outcomes.append("ack")
        except pika.exceptions.NackError:
            outcomes.append("nack")
    assert outcomes == acks
    assert [body for body, _, _ in gets(channel, "q")] == left
    assert [body for body, _, _ in gets(channel, "dead")] == dead


def test_global_qos_refused_at_consume(connect):
    conn = connect()
    ch = conn.channel()
    declare(ch, "q")
    ch.basic_qos(prefetch_count=5, global_qos=True)
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        ch.basic_consume("q", lambda *a: None)
        conn.process_data_events(1)
    assert (info.value.reply_code, info.value.reply_text) == (
        540, "NOT_IMPLEMENTED - queue 'q' in vhost '/' does not support global qos")


def test_global_qos_zero_and_qos_after_consume_allowed(connect):
    conn = connect()
    ch = conn.channel()
    declare(ch, "q")
    ch.basic_qos(prefetch_count=0, global_qos=True)
    ch.basic_consume("q", lambda *a: None)
    ch.basic_qos(prefetch_count=5, global_qos=True)
    assert ch.queue_declare("q", passive=True).method.consumer_count == 1


def test_transient_messages_survive_kill_9(tmp_path):
    """Every message is stored whatever its delivery mode: confirmed ones survive SIGKILL; the
    delivery count is kept, the crash counting as a return of the unacked message."""
    from tests.integration.test_crash import Amqpd

    server = Amqpd(tmp_path)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        ch = conn.channel()
        ch.confirm_delivery()
        declare(ch, "q", **{"x-delivery-limit": 3})
        publish(ch, "q", *(b"m%d" % i for i in range(20)), properties=pika.BasicProperties(delivery_mode=1))
        method, _, _ = ch.basic_get("q")
        ch.basic_nack(method.delivery_tag, requeue=True)  # returned once (to the front: there is a limit)
        assert ch.basic_get("q")[2] == b"m0"  # held, unacked, when the broker dies
        publish(ch, "q", b"last")  # confirmed: the batch after the delivery mark is on disk
        server.kill()
    finally:
        server.stop()
    server = Amqpd(tmp_path)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        ch = conn.channel()
        declare(ch, "q", **{"x-delivery-limit": 3})
        got = gets(ch, "q")
        assert [body for body, _, _ in got] == [b"m%d" % i for i in range(20)] + [b"last"]
        assert got[0] == (b"m0", True, 2)  # returned by the nack and by the crash
        assert not any(redelivered or count for _, redelivered, count in got[1:])
        conn.close()
    finally:
        server.stop()
