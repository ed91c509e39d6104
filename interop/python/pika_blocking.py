"""Interop client: pika's BlockingConnection.  Usage: pika_blocking.py URL SCENARIO PREFIX"""
import uuid

import pika
import pika.exceptions

from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, check, check_dead_lettered,
                    check_props, check_streams, declared, deleting, expect_equal,
                    large_body, main, quorum_args, refused, retention_body, stream_body, user_of, wait_until,
                    with_heartbeat)


def connect(url):
    return pika.BlockingConnection(pika.URLParameters(url))


def props_dict(p):
    return {k: getattr(p, k) for k in list(PROPS) + ["user_id"]}


def drain(ch, queue):
    """basic.get until empty; returns the bodies."""
    out = []
    while True:
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body)


def connect_ok(url, p):
    conn = connect(url)
    ch = conn.channel()
    server = conn._impl.server_properties
    ch.close()
    conn.close()
    return f"server {server.get('product', b'?')!r} {server.get('version', b'?')!r}"


def bad_password(url, p):
    return refused(url, connect, (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError))


def declare(url, p):
    kinds = {f"{p}.{kind}": kind for kind in ("direct", "fanout", "topic", "headers")}
    with connect(url) as conn, declared(conn.channel(), exchanges=kinds) as ch, deleting(ch, [f"{p}.q"]):
        args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
        ok = ch.queue_declare(f"{p}.q", arguments=args)
        expect_equal("declare-ok queue", ok.method.queue, f"{p}.q")
        expect_equal("declare-ok message_count", ok.method.message_count, 0)
        ch.queue_declare(f"{p}.q", arguments=args)          # equivalent redeclare
        ch.queue_declare(f"{p}.q", passive=True)
        for kind in ("direct", "fanout", "topic"):
            ch.queue_bind(f"{p}.q", f"{p}.{kind}", routing_key="k")
        ch.queue_bind(f"{p}.q", f"{p}.headers", arguments={"x-match": "all", "h": "v"})
        ch.basic_publish(f"{p}.headers", "", b"other", pika.BasicProperties(headers={"h": "other"}))
        ch.basic_publish(f"{p}.headers", "", b"match", pika.BasicProperties(headers={"h": "v"}))
        expect_equal("routed by the headers exchange", drain(ch, f"{p}.q"), [b"match"])
        anon = ch.queue_declare("", exclusive=True).method.queue
        check(anon.startswith("amq.gen-"), f"server-named queue {anon!r}")


def roundtrip(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish("", q, BODY, pika.BasicProperties(user_id=user_of(url), **PROPS))
        got = []
        ch.basic_consume(q, lambda c, m, pr, b: got.append((m, pr, b)))
        wait_until(lambda: got, what="delivery", poll=lambda: conn.process_data_events(0.05))
        method, props, body = got[0]
        expect_equal("body", body, BODY)
        check_props(props_dict(props), user_of(url))
        expect_equal("exchange", method.exchange, "")
        expect_equal("routing_key", method.routing_key, q)
        expect_equal("redelivered", method.redelivered, False)
        ch.basic_ack(method.delivery_tag)


def topic(url, p):
    with connect(url) as conn, declared(conn.channel(), [f"{p}.q1", f"{p}.q2"], {f"{p}.x": "topic"}) as ch:
        ch.queue_bind(f"{p}.q1", f"{p}.x", "orders.*.eu")
        ch.queue_bind(f"{p}.q2", f"{p}.x", "orders.#")
        for key in TOPIC_KEYS:
            ch.basic_publish(f"{p}.x", key, key.encode())
        expect_equal("q1", [b.decode() for b in drain(ch, f"{p}.q1")], TOPIC_Q1)
        expect_equal("q2", [b.decode() for b in drain(ch, f"{p}.q2")], TOPIC_Q2)


def fanout(url, p):
    queues = [f"{p}.q{i}" for i in range(3)]
    with connect(url) as conn, declared(conn.channel(), queues, {f"{p}.x": "fanout"}) as ch:
        for i, q in enumerate(queues):
            ch.queue_bind(q, f"{p}.x", f"key{i}")
        ch.basic_publish(f"{p}.x", "anything", b"to all")
        for q in queues:
            expect_equal(q, drain(ch, q), [b"to all"])


def work_queue(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        pump = lambda: conn.process_data_events(0.05)
        for i in range(10):
            ch.basic_publish("", q, str(i).encode())
        slow_ch, fast_ch = conn.channel(), conn.channel()
        slow, fast = [], []
        slow_ch.basic_qos(prefetch_count=1)
        slow_ch.basic_consume(q, lambda c, m, pr, b: slow.append((m.delivery_tag, b)))
        wait_until(lambda: slow, what="first delivery to the slow consumer", poll=pump)

        def on_fast(c, m, pr, b):
            fast.append(b)
            c.basic_ack(m.delivery_tag)
        fast_ch.basic_qos(prefetch_count=1)
        fast_ch.basic_consume(q, on_fast)
        wait_until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer", poll=pump)
        conn.process_data_events(0.2)
        expect_equal("slow consumer (prefetch 1, never acks) got", [b for _, b in slow], [b"0"])
        expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
        slow_ch.basic_ack(slow[0][0])
        conn.process_data_events(0.1)
        expect_equal("left in queue", ch.queue_declare(q, passive=True).method.message_count, 0)


def ack_nack_reject(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        for body in (b"ack", b"nack", b"reject"):
            ch.basic_publish("", q, body)
        got = []
        cch = conn.channel()
        cch.basic_qos(prefetch_count=10)
        cch.basic_consume(q, lambda c, m, pr, b: got.append((m, b)))
        pump = lambda: conn.process_data_events(0.05)
        wait_until(lambda: len(got) >= 3, what="3 deliveries", poll=pump)
        expect_equal("first deliveries", [b for _, b in got], [b"ack", b"nack", b"reject"])
        cch.basic_ack(got[0][0].delivery_tag)
        cch.basic_nack(got[1][0].delivery_tag, requeue=True)
        cch.basic_reject(got[2][0].delivery_tag, requeue=False)
        wait_until(lambda: len(got) >= 4, what="redelivery after nack", poll=pump)
        m, b = got[3]
        expect_equal("redelivered body", b, b"nack")
        expect_equal("redelivered flag", m.redelivered, True)
        cch.basic_ack(m.delivery_tag)
        conn.process_data_events(0.2)
        expect_equal("deliveries", len(got), 4)
        expect_equal("left in queue", ch.queue_declare(q, passive=True).method.message_count, 0)


def basic_get(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish("", q, b"one")
        ch.basic_publish("", q, b"two")
        m, _, b = ch.basic_get(q)
        expect_equal("first get", (b, m.message_count, m.redelivered), (b"one", 1, False))
        ch.basic_ack(m.delivery_tag)
        m, _, b = ch.basic_get(q)
        expect_equal("second get", (b, m.message_count), (b"two", 0))
        ch.basic_reject(m.delivery_tag, requeue=True)
        m, _, b = ch.basic_get(q)
        expect_equal("get after reject", (b, m.redelivered), (b"two", True))
        ch.basic_ack(m.delivery_tag)
        m, _, b = ch.basic_get(q)
        check(m is None, f"get on the empty queue returned {b!r}")


def confirms(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.confirm_delivery()
        for i in range(50):   # with confirms on, each basic_publish waits for its ack (NackError otherwise)
            ch.basic_publish("", q, str(i).encode())
        expect_equal("queued", ch.queue_declare(q, passive=True).method.message_count, 50)


def mandatory_return(url, p):
    with connect(url) as conn, declared(conn.channel(), exchanges={f"{p}.x": "direct"}) as ch:
        returned = []
        ch.add_on_return_callback(lambda c, m, pr, b: returned.append((m, b)))
        ch.basic_publish(f"{p}.x", "nowhere", b"bounce", mandatory=True)
        wait_until(lambda: returned, what="basic.return", poll=lambda: conn.process_data_events(0.05))
        m, b = returned[0]
        expect_equal("return", (m.reply_code, m.reply_text, m.exchange, m.routing_key, b),
                     (312, "NO_ROUTE", f"{p}.x", "nowhere", b"bounce"))
        # and with confirms on, pika raises UnroutableError for the returned message
        ch.confirm_delivery()
        try:
            ch.basic_publish(f"{p}.x", "nowhere", b"bounce2", mandatory=True)
            raise Fail("confirmed mandatory publish was not reported unroutable")
        except pika.exceptions.UnroutableError:
            pass


def rpc(url, p):
    q = f"{p}.requests"
    with connect(url) as conn, declared(conn.channel(), [q]) as server:
        client = conn.channel()

        def serve(c, m, props, body):
            c.basic_publish("", props.reply_to, body.upper(),
                            pika.BasicProperties(correlation_id=props.correlation_id))
            c.basic_ack(m.delivery_tag)
        server.basic_consume(q, serve)
        callback = client.queue_declare("", exclusive=True).method.queue
        replies = {}
        client.basic_consume(callback, lambda c, m, pr, b: replies.__setitem__(pr.correlation_id, b),
                             auto_ack=True)
        want = {}
        for word in ("alpha", "beta", "gamma"):
            cid = str(uuid.uuid4())
            want[cid] = word.upper().encode()
            client.basic_publish("", q, word.encode(),
                                 pika.BasicProperties(reply_to=callback, correlation_id=cid))
        wait_until(lambda: len(replies) >= 3, what="3 replies", poll=lambda: conn.process_data_events(0.05))
        expect_equal("replies by correlation_id", replies, want)


def tx(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        count = lambda: ch.queue_declare(q, passive=True).method.message_count
        ch.tx_select()
        ch.basic_publish("", q, b"rolled back")
        ch.tx_rollback()
        expect_equal("after rollback", count(), 0)
        ch.basic_publish("", q, b"committed")
        expect_equal("before commit", count(), 0)
        ch.tx_commit()
        expect_equal("after commit", count(), 1)
        m, _, b = ch.basic_get(q)
        expect_equal("body", b, b"committed")
        ch.basic_ack(m.delivery_tag)
        ch.tx_commit()
        expect_equal("after acked commit", count(), 0)


def consumer_cancel(url, p):
    conn = connect(url)
    ch = conn.channel()
    other = conn.channel()
    q = f"{p}.q"
    ch.queue_declare(q)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None)
    other.queue_delete(q)
    wait_until(lambda: cancelled, timeout=5, what="basic.cancel from the server",
               poll=lambda: conn.process_data_events(0.05))
    expect_equal("cancelled consumer tag", cancelled[0], tag)
    check(ch.is_open, "channel closed after the server cancelled its consumer")
    ch.queue_declare("", exclusive=True)     # the channel still works
    conn.close()


def large_message(url, p):
    q = f"{p}.q"
    body = large_body()
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish("", q, body)
        got = []
        ch.basic_consume(q, lambda c, m, pr, b: got.append(b), auto_ack=True)
        wait_until(lambda: got, timeout=30, what="the 5 MiB delivery",
                   poll=lambda: conn.process_data_events(0.05))
        expect_equal("size", len(got[0]), LARGE_SIZE)
        check(got[0] == body, "body differs")


def heartbeat(url, p):
    conn = connect(with_heartbeat(url, 1))
    expect_equal("negotiated heartbeat", conn._impl.params.heartbeat, 1)
    ch = conn.channel()
    conn.sleep(3.0)                            # idle, pika's I/O loop sends heartbeats
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"still alive")
    m, _, b = ch.basic_get(q, auto_ack=True)
    expect_equal("after idle", b, b"still alive")
    conn.close()
    return "negotiated 1 s, idle 3 s, connection alive"


def channel_error(url, p):
    conn = connect(url)
    ch = conn.channel()
    try:
        ch.queue_declare(f"{p}.missing", passive=True)
        raise Fail("passive declare of a missing queue succeeded")
    except pika.exceptions.ChannelClosedByBroker as exc:
        expect_equal("reply code", exc.reply_code, 404)
        detail = f"{exc.reply_code} {exc.reply_text}"
    check(not ch.is_open, "channel still open")
    check(conn.is_open, "connection closed")
    ch2 = conn.channel()
    ch2.queue_declare("", exclusive=True)
    conn.close()
    return detail


def persist_publish(url, p):
    conn = connect(url)
    ch = conn.channel()
    ch.exchange_declare(f"{p}.x", "direct", durable=True)
    ch.queue_declare(f"{p}.q", durable=True)
    ch.queue_bind(f"{p}.q", f"{p}.x", "k")
    ch.queue_declare(f"{p}.transient-q", durable=False)
    ch.confirm_delivery()
    ch.basic_publish(f"{p}.x", "k", b"persisted", pika.BasicProperties(delivery_mode=2))
    ch.basic_publish(f"{p}.x", "k", b"transient", pika.BasicProperties(delivery_mode=1))
    conn.close()


def persist_check(url, p):
    # the cleanup has a channel of its own: a failed check may close the one it used
    with connect(url) as conn, deleting(conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
        ch = conn.channel()
        expect_equal("messages in the durable queue after restart",
                     ch.queue_declare(f"{p}.q", passive=True).method.message_count, 1)
        m, props, b = ch.basic_get(f"{p}.q")
        expect_equal("message", (b, props.delivery_mode), (b"persisted", 2))
        ch.basic_ack(m.delivery_tag)
        ch.basic_publish(f"{p}.x", "k", b"via binding")
        m, props, b = ch.basic_get(f"{p}.q", auto_ack=True)
        check(m is not None, "the durable binding did not survive the restart")
        ch2 = conn.channel()
        try:
            ch2.queue_declare(f"{p}.transient-q", passive=True)
            raise Fail("the non-durable queue survived the restart")
        except pika.exceptions.ChannelClosedByBroker as exc:
            expect_equal("passive declare of the non-durable queue", exc.reply_code, 404)


def read_stream(conn, q, offset, until):
    """Consume q from x-stream-offset with prefetch; (body, offset header) up to body `until`."""
    ch = conn.channel()
    ch.basic_qos(prefetch_count=RETENTION_COUNT)
    got = []

    def on(c, m, pr, b):
        got.append((b, pr.headers["x-stream-offset"]))
        c.basic_ack(m.delivery_tag)
    ch.basic_consume(q, on, arguments={"x-stream-offset": offset})
    wait_until(lambda: got and got[-1][0] == until, what=f"{until!r} from offset {offset!r}",
               poll=lambda: conn.process_data_events(0.05))
    ch.close()
    return got


def stream(url, p):
    q, r = f"{p}.s", f"{p}.retention"
    with connect(url) as conn, deleting(conn.channel(), [q, r]) as ch:
        ch.queue_declare(q, durable=True, arguments=STREAM_ARGS)
        ch.queue_declare(r, durable=True, arguments=RETENTION_ARGS)
        ch.confirm_delivery()
        for i in range(STREAM_COUNT):
            ch.basic_publish("", q, stream_body(i), pika.BasicProperties(delivery_mode=2))
        for i in range(RETENTION_COUNT):
            ch.basic_publish("", r, retention_body(i), pika.BasicProperties(delivery_mode=2))
        return check_streams(lambda queue, offset, until: read_stream(conn, queue, offset, until), q, r)


def quorum(url, p):
    q, dlq = f"{p}.qq", f"{p}.dlq"
    with connect(url) as conn, deleting(conn.channel(), [q, dlq]) as ch:
        ch.queue_declare(dlq)
        ch.queue_declare(q, durable=True, arguments=quorum_args(dlq))
        ch.confirm_delivery()
        ch.basic_publish("", q, b"poison", pika.BasicProperties(delivery_mode=2))
        cch = conn.channel()
        cch.basic_qos(prefetch_count=1)
        deliveries = []

        def on(c, m, pr, b):
            deliveries.append(b)
            c.basic_reject(m.delivery_tag, requeue=True)
        cch.basic_consume(q, on)
        dead = []
        wait_until(lambda: dead.append(ch.basic_get(dlq, auto_ack=True)) or dead[-1][0] is not None,
                   what="the message in the dead-letter queue", poll=lambda: conn.process_data_events(0.05))
        _, props, body = dead[-1]
        return check_dead_lettered(len(deliveries), body, (props.headers or {}).get("x-death"), q)


if __name__ == "__main__":
    main(globals(), {})
