"""Interop client: kombu (messaging library under Celery), pyamqp transport.

Usage: kombu_client.py URL SCENARIO PREFIX"""
import contextlib
import time
import uuid

import amqp.exceptions
from kombu import Connection, Consumer, Exchange, Producer, Queue, binding

from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, STREAM_SAVED, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, check, check_dead_lettered,
                    check_props, check_retention, check_stream_reads, deleting, expect_equal, large_body, main,
                    pump, quorum_args, refused, retention_body, stream_body, user_of, wait_until)


def connect(url, **kw):
    conn = Connection(url, connect_timeout=10, **kw)
    conn.connect()
    return conn


def raw(producer, body, routing_key, **kw):
    """Publish bytes as they are (an explicit content type: kombu serializes nothing)."""
    kw.setdefault("content_type", "application/octet-stream")
    kw.setdefault("content_encoding", "binary")
    producer.publish(body, routing_key=routing_key, retry=False, **kw)


def drain(queue):
    out = []
    while (m := queue.get(no_ack=True)) is not None:
        out.append(m.body)
    return out


def count(ch, name):
    return ch.queue_declare(name, passive=True).message_count


@contextlib.contextmanager
def declared(*entities):
    """Declare kombu entities bound to a channel (a Queue declares its exchange and bindings
    too), run the block, and delete them again in reverse order however it ends."""
    try:
        for entity in entities:
            entity.declare()
        yield
    finally:
        for entity in reversed(entities):
            entity.delete()


def connect_ok(url, p):
    with connect(url) as conn:
        sp = conn.connection.server_properties
        return f"server {sp.get('product')!r} {sp.get('version')!r}"


def bad_password(url, p):
    return refused(url, connect, amqp.exceptions.AccessRefused, close=lambda conn: conn.release())


def declare(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        ex = {kind: Exchange(f"{p}.{kind}", kind, durable=False)(ch)
              for kind in ("direct", "fanout", "topic", "headers")}
        args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
        q = Queue(f"{p}.q", durable=False, queue_arguments=args, bindings=[
            binding(ex["direct"], "k"), binding(ex["fanout"], "k"), binding(ex["topic"], "k"),
            binding(ex["headers"], arguments={"x-match": "all", "h": "v"})])(ch)
        with declared(*ex.values(), q):
            expect_equal("declare-ok", count(ch, q.name), 0)
            Queue(f"{p}.q", durable=False, queue_arguments=args)(ch).declare()   # equivalent redeclare
            producer = Producer(ch, exchange=ex["headers"])
            raw(producer, b"other", "", headers={"h": "other"})
            raw(producer, b"match", "", headers={"h": "v"})
            expect_equal("routed by the headers exchange", drain(q), [b"match"])
            anon = Queue("", exclusive=True)(ch)
            anon.declare()
            check(anon.name.startswith("amq.gen-"), f"server-named queue {anon.name!r}")


def roundtrip(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        with declared(q):
            props = dict(PROPS, user_id=user_of(url))
            props["expiration"] = int(props["expiration"]) / 1000    # kombu takes seconds
            Producer(ch).publish(BODY, routing_key=q.name, retry=False, **props)
            got = []
            with Consumer(ch, [q], on_message=got.append):      # the raw message, not decoded
                wait_until(lambda: got, what="delivery", poll=lambda: pump(conn))
            m = got[0]
            expect_equal("body", m.body, BODY)
            props = dict(m.properties, headers=m.headers, content_type=m.content_type,
                         content_encoding=m.content_encoding)
            if hasattr(props.get("timestamp"), "timestamp"):
                import datetime
                props["timestamp"] = int(props["timestamp"].replace(tzinfo=datetime.timezone.utc).timestamp())
            check_props({k: props.get(k) for k in list(PROPS) + ["user_id"]}, user_of(url))
            di = m.delivery_info
            expect_equal("delivery", (di["exchange"], di["routing_key"], di["redelivered"]), ("", q.name, False))
            m.ack()


def topic(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        x = Exchange(f"{p}.x", "topic", durable=False)(ch)
        q1 = Queue(f"{p}.q1", x, "orders.*.eu", durable=False)(ch)
        q2 = Queue(f"{p}.q2", x, "orders.#", durable=False)(ch)
        with declared(x, q1, q2):
            producer = Producer(ch, exchange=x)
            for key in TOPIC_KEYS:
                raw(producer, key.encode(), key)
            expect_equal("q1", [b.decode() for b in drain(q1)], TOPIC_Q1)
            expect_equal("q2", [b.decode() for b in drain(q2)], TOPIC_Q2)


def fanout(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        x = Exchange(f"{p}.x", "fanout", durable=False)(ch)
        queues = [Queue(f"{p}.q{i}", x, f"key{i}", durable=False)(ch) for i in range(3)]
        with declared(x, *queues):
            raw(Producer(ch, exchange=x), b"to all", "anything")
            for q in queues:
                expect_equal(q.name, drain(q), [b"to all"])


def work_queue(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        with declared(q):
            producer = Producer(ch)
            for i in range(10):
                raw(producer, str(i).encode(), q.name)
            slow, fast = [], []
            poll = lambda: pump(conn)
            slow_c = Consumer(conn.channel(), [q], callbacks=[lambda b, m: slow.append(m)], prefetch_count=1)
            slow_c.consume()
            wait_until(lambda: slow, what="first delivery to the slow consumer", poll=poll)

            def on_fast(body, m):
                fast.append(m.body)
                m.ack()
            fast_c = Consumer(conn.channel(), [q], callbacks=[on_fast], prefetch_count=1)
            fast_c.consume()
            wait_until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer", poll=poll)
            pump(conn, 0.2)
            expect_equal("slow consumer (prefetch 1, never acks) got", [m.body for m in slow], [b"0"])
            expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
            slow[0].ack()
            slow_c.cancel()
            fast_c.cancel()
            expect_equal("left in queue", count(ch, q.name), 0)


def ack_nack_reject(url, p):
    # kombu's Message has ack(), reject(requeue) and requeue() but no nack: requeue() is the
    # requeue path (basic.reject requeue=true)
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        with declared(q):
            producer = Producer(ch)
            for body in (b"ack", b"requeue", b"reject"):
                raw(producer, body, q.name)
            got = []
            poll = lambda: pump(conn)
            with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(m)], prefetch_count=10):
                wait_until(lambda: len(got) >= 3, what="3 deliveries", poll=poll)
                expect_equal("first deliveries", [m.body for m in got], [b"ack", b"requeue", b"reject"])
                got[0].ack()
                got[1].requeue()
                got[2].reject(requeue=False)
                wait_until(lambda: len(got) >= 4, what="redelivery after requeue", poll=poll)
                expect_equal("redelivery", (got[3].body, got[3].delivery_info["redelivered"]), (b"requeue", True))
                got[3].ack()
                pump(conn, 0.2)
                expect_equal("deliveries", len(got), 4)
            expect_equal("left in queue", count(ch, q.name), 0)
    return "partial: kombu has no nack; requeue tested with Message.requeue() (basic.reject requeue=true)"


def basic_get(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        with declared(q):
            producer = Producer(ch)
            raw(producer, b"one", q.name)
            raw(producer, b"two", q.name)
            m = q.get()
            expect_equal("first get", (m.body, m.delivery_info["message_count"], m.delivery_info["redelivered"]),
                         (b"one", 1, False))
            m.ack()
            m = q.get()
            expect_equal("second get", (m.body, m.delivery_info["message_count"]), (b"two", 0))
            m.requeue()
            m = q.get()
            expect_equal("get after requeue", (m.body, m.delivery_info["redelivered"]), (b"two", True))
            m.ack()
            check(q.get() is None, "get on the empty queue returned a message")


def confirms(url, p):
    with connect(url, transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        with declared(q):
            producer = Producer(ch)
            for i in range(50):   # each publish waits for the broker's ack
                raw(producer, str(i).encode(), q.name, confirm_timeout=10)
            expect_equal("queued", count(ch, q.name), 50)


def mandatory_return(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        x = Exchange(f"{p}.x", "direct", durable=False)(ch)
        with declared(x):
            returned = []
            producer = Producer(ch, exchange=x,
                                on_return=lambda exc, exchange, key, msg: returned.append((exc, exchange, key, msg)))
            raw(producer, b"bounce", "nowhere", mandatory=True)
            wait_until(lambda: returned, what="basic.return", poll=lambda: pump(conn))
            exc, exchange, key, msg = returned[0]
            expect_equal("return", (exc.reply_code, exc.reply_text, exchange, key, msg.body),
                         (312, "NO_ROUTE", f"{p}.x", "nowhere", b"bounce"))


def rpc(url, p):
    with connect(url) as conn:
        sch = conn.channel()
        requests = Queue(f"{p}.requests", durable=False)(sch)
        with declared(requests):
            server_producer = Producer(sch)

            def serve(body, m):
                raw(server_producer, m.body.upper(), m.properties["reply_to"],
                    correlation_id=m.properties["correlation_id"])
                m.ack()
            cch = conn.channel()
            callback = Queue("", exclusive=True)     # the Consumer declares it; the server names it
            replies = {}
            with Consumer(sch, [requests], callbacks=[serve]), \
                 Consumer(cch, [callback], no_ack=True,
                          callbacks=[lambda b, m: replies.__setitem__(m.properties["correlation_id"], m.body)]) as cc:
                reply_to = cc.queues[0].name
                want = {}
                client_producer = Producer(cch)
                for word in ("alpha", "beta", "gamma"):
                    cid = str(uuid.uuid4())
                    want[cid] = word.upper().encode()
                    raw(client_producer, word.encode(), requests.name, reply_to=reply_to, correlation_id=cid)
                wait_until(lambda: len(replies) >= 3, what="3 replies", poll=lambda: pump(conn))
            expect_equal("replies by correlation_id", replies, want)


def consumer_cancel(url, p):
    # kombu has no cancel callback: a broker-side cancel surfaces as amqp ConsumerCancelled
    # from drain_events (Celery catches exactly that)
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        q.declare()
        consumer = Consumer(ch, [q], callbacks=[lambda b, m: None])
        consumer.consume()
        try:     # RabbitMQ sends the cancel before queue.delete-ok, so it may surface from either call
            conn.channel().queue_delete(q.name)
            wait_until(lambda: False, timeout=5, what="basic.cancel from the server", poll=lambda: pump(conn))
        except amqp.exceptions.ConsumerCancelled as exc:
            detail = f"ConsumerCancelled: {exc}"
        check(ch.is_open, "channel closed after the server cancelled its consumer")
        Queue("", exclusive=True)(ch).declare()
        return detail


def large_message(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.q", durable=False)(ch)
        body = large_body()
        with declared(q):
            raw(Producer(ch), body, q.name)
            got = []
            with Consumer(ch, [q], callbacks=[lambda b, m: got.append(m.body)], no_ack=True):
                wait_until(lambda: got, timeout=30, what="the 5 MiB delivery", poll=lambda: pump(conn))
            expect_equal("size", len(got[0]), LARGE_SIZE)
            check(got[0] == body, "body differs")


def heartbeat(url, p):
    with connect(url, heartbeat=1) as conn:
        expect_equal("negotiated heartbeat", conn.connection.heartbeat, 1)
        ch = conn.channel()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:     # the kombu idiom: heartbeat_check() from the event loop
            conn.heartbeat_check(rate=2)
            pump(conn, 0.1)
        q = Queue("", exclusive=True)(ch)
        q.declare()
        raw(Producer(ch), b"still alive", q.name)
        expect_equal("after idle", q.get(no_ack=True).body, b"still alive")
        return "negotiated 1 s, idle 3 s (heartbeat_check loop), connection alive"


def channel_error(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        try:
            Queue(f"{p}.missing")(ch).queue_declare(passive=True)
            raise Fail("passive declare of a missing queue succeeded")
        except conn.channel_errors as exc:
            check(isinstance(exc, amqp.exceptions.NotFound), f"unexpected error {exc!r}")
            detail = f"{exc.reply_code} {exc.reply_text}"
        check(conn.connected, "connection closed")
        Queue("", exclusive=True)(conn.channel()).declare()
        return detail


def persist_publish(url, p):
    with connect(url, transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        x = Exchange(f"{p}.x", "direct", durable=True)(ch)
        Queue(f"{p}.q", x, "k", durable=True)(ch).declare()
        Queue(f"{p}.transient-q", durable=False, auto_delete=False)(ch).declare()
        producer = Producer(ch, exchange=x)
        raw(producer, b"persisted", "k", delivery_mode=2)
        raw(producer, b"transient", "k", delivery_mode=1)


def persist_check(url, p):
    # the cleanup has a channel of its own: a failed check may close the one it uses
    with connect(url) as conn, deleting(conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
        ch = conn.channel()
        expect_equal("messages in the durable queue after restart", count(ch, f"{p}.q"), 1)
        q = Queue(f"{p}.q", durable=True)(ch)
        m = q.get()
        expect_equal("message", (m.body, m.properties.get("delivery_mode")), (b"persisted", 2))
        m.ack()
        raw(Producer(ch, exchange=Exchange(f"{p}.x", "direct", durable=True), auto_declare=False),
            b"via binding", "k")
        check(q.get(no_ack=True) is not None, "the durable binding did not survive the restart")
        try:
            Queue(f"{p}.transient-q")(conn.channel()).queue_declare(passive=True)
            raise Fail("the non-durable queue survived the restart")
        except amqp.exceptions.NotFound:
            pass


def read_stream(conn, name, arguments, offset, until):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until."""
    ch = conn.channel()
    q = Queue(name, durable=True, queue_arguments=arguments, consumer_arguments={"x-stream-offset": offset})(ch)
    got = []

    def on(body, m):
        got.append((m.body, m.headers["x-stream-offset"]))
        m.ack()
    with Consumer(ch, [q], callbacks=[on], prefetch_count=RETENTION_COUNT):
        wait_until(lambda: got and got[-1][0] == until, what=f"{until!r} from offset {offset!r}",
                   poll=lambda: pump(conn))
    ch.close()
    return got


def stream(url, p):
    with connect(url, transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        q = Queue(f"{p}.s", durable=True, queue_arguments=STREAM_ARGS)(ch)
        r = Queue(f"{p}.retention", durable=True, queue_arguments=RETENTION_ARGS)(ch)
        with declared(q, r):
            producer = Producer(ch)
            for i in range(STREAM_COUNT):
                raw(producer, stream_body(i), q.name, delivery_mode=2)
            for i in range(RETENTION_COUNT):
                raw(producer, retention_body(i), r.name, delivery_mode=2)
            last = stream_body(STREAM_COUNT - 1)
            first = read_stream(conn, q.name, STREAM_ARGS, "first", last)
            saved = read_stream(conn, q.name, STREAM_ARGS, first[STREAM_SAVED][1], last)
            detail = check_stream_reads(first, [b for b, _ in saved])
            kept = read_stream(conn, r.name, RETENTION_ARGS, "first", retention_body(RETENTION_COUNT - 1))
            return detail + "; " + check_retention([b for b, _ in kept])


def quorum(url, p):
    with connect(url, transport_options={"confirm_publish": True}) as conn:
        ch = conn.channel()
        dlq = Queue(f"{p}.dlq", durable=False)(ch)
        q = Queue(f"{p}.qq", durable=True, queue_arguments=quorum_args(dlq.name))(ch)
        with declared(dlq, q):
            raw(Producer(ch), b"poison", q.name, delivery_mode=2)
            deliveries = []

            def on(body, m):
                deliveries.append(m.body)
                m.requeue()  # basic.reject requeue=true
            dead = []
            with Consumer(conn.channel(), [q], callbacks=[on], prefetch_count=1):
                wait_until(lambda: dead.append(dlq.get(no_ack=True)) or dead[-1] is not None,
                           what="the message in the dead-letter queue", poll=lambda: pump(conn))
            m = dead[-1]
            return check_dead_lettered(len(deliveries), m.body, m.headers.get("x-death"), q.name)


if __name__ == "__main__":
    main(globals(), {
        "tx": "kombu has no transaction API (tx_select exists only on the py-amqp channel under it, "
              "covered by the py-amqp client)",
    })
