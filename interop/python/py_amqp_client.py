"""Interop client: py-amqp (PyPI package `amqp`, the transport under kombu/Celery).

Usage: py_amqp_client.py URL SCENARIO PREFIX"""
import ssl
import time
import urllib.parse
import uuid

import amqp
import amqp.exceptions

import common
from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, check, check_dead_lettered,
                    check_props, check_streams, deleting, expect_equal, large_body, main,
                    pump, quorum_args, refused, retention_body, stream_body, user_of, wait_until)


def connect(url, heartbeat=0):
    u = urllib.parse.urlsplit(url)
    vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
    conn = amqp.Connection(host=f"{u.hostname}:{u.port or 5672}", userid=urllib.parse.unquote(u.username),
                           password=urllib.parse.unquote(u.password), virtual_host=vhost,
                           heartbeat=heartbeat, connect_timeout=10,
                           # amqps: verified against the default CA paths (SSL_CERT_FILE if set)
                           ssl=ssl.create_default_context() if u.scheme == "amqps" else False)
    conn.connect()
    return conn


def message(body, **props):
    if "headers" in props:
        props["application_headers"] = props.pop("headers")
    return amqp.Message(body, **props)


def consume(ch, queue, **kw):
    # without on_cancel, py-amqp raises ConsumerCancelled when the queue is deleted under a
    # consumer (as the cleanup does)
    kw.setdefault("on_cancel", lambda tag: None)
    return ch.basic_consume(queue, **kw)


def drain(ch, queue):
    out = []
    while (m := ch.basic_get(queue, no_ack=True)) is not None:
        out.append(m.body)
    return out


def count(ch, queue):
    return ch.queue_declare(queue, passive=True).message_count


def declare_queue(ch, name, **kw):   # py-amqp defaults to auto_delete=True; users pass False
    kw.setdefault("auto_delete", False)
    return ch.queue_declare(name, **kw)


def declare_exchange(ch, name, kind, **kw):
    kw.setdefault("auto_delete", False)
    return ch.exchange_declare(name, kind, **kw)


def declared(ch, queues=(), exchanges=()):
    return common.declared(ch, queues, exchanges, auto_delete=False)


def connect_ok(url, p):
    with connect(url) as conn:
        conn.channel().close()
        sp = conn.server_properties
        return f"server {sp.get('product')!r} {sp.get('version')!r}"


def bad_password(url, p):
    return refused(url, connect, amqp.exceptions.AccessRefused)


def declare(url, p):
    kinds = {f"{p}.{kind}": kind for kind in ("direct", "fanout", "topic", "headers")}
    with connect(url) as conn, declared(conn.channel(), exchanges=kinds) as ch, deleting(ch, [f"{p}.q"]):
        args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
        ok = declare_queue(ch, f"{p}.q", arguments=args)
        expect_equal("declare-ok", (ok.queue, ok.message_count), (f"{p}.q", 0))
        declare_queue(ch, f"{p}.q", arguments=args)
        ch.queue_declare(f"{p}.q", passive=True)
        for kind in ("direct", "fanout", "topic"):
            ch.queue_bind(f"{p}.q", f"{p}.{kind}", "k")
        ch.queue_bind(f"{p}.q", f"{p}.headers", arguments={"x-match": "all", "h": "v"})
        ch.basic_publish(message(b"other", headers={"h": "other"}), f"{p}.headers", "")
        ch.basic_publish(message(b"match", headers={"h": "v"}), f"{p}.headers", "")
        expect_equal("routed by the headers exchange", drain(ch, f"{p}.q"), [b"match"])
        anon = ch.queue_declare("", exclusive=True).queue
        check(anon.startswith("amq.gen-"), f"server-named queue {anon!r}")


def roundtrip(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish(message(BODY, user_id=user_of(url), **PROPS), "", q)
        got = []
        consume(ch, q, callback=got.append)
        wait_until(lambda: got, what="delivery", poll=lambda: pump(conn))
        m = got[0]
        expect_equal("body", m.body, BODY)
        props = dict(m.properties)
        props["headers"] = props.pop("application_headers", None)
        if hasattr(props.get("timestamp"), "timestamp"):   # decoded as a naive UTC datetime
            import datetime
            props["timestamp"] = int(props["timestamp"].replace(tzinfo=datetime.timezone.utc).timestamp())
        check_props({k: props.get(k) for k in list(PROPS) + ["user_id"]}, user_of(url))
        di = m.delivery_info
        expect_equal("delivery", (di["exchange"], di["routing_key"], di["redelivered"]), ("", q, False))
        ch.basic_ack(m.delivery_tag)


def topic(url, p):
    with connect(url) as conn, declared(conn.channel(), [f"{p}.q1", f"{p}.q2"], {f"{p}.x": "topic"}) as ch:
        for q, key in ((f"{p}.q1", "orders.*.eu"), (f"{p}.q2", "orders.#")):
            ch.queue_bind(q, f"{p}.x", key)
        for key in TOPIC_KEYS:
            ch.basic_publish(message(key.encode()), f"{p}.x", key)
        expect_equal("q1", [b.decode() for b in drain(ch, f"{p}.q1")], TOPIC_Q1)
        expect_equal("q2", [b.decode() for b in drain(ch, f"{p}.q2")], TOPIC_Q2)


def fanout(url, p):
    queues = [f"{p}.q{i}" for i in range(3)]
    with connect(url) as conn, declared(conn.channel(), queues, {f"{p}.x": "fanout"}) as ch:
        for i, q in enumerate(queues):
            ch.queue_bind(q, f"{p}.x", f"key{i}")
        ch.basic_publish(message(b"to all"), f"{p}.x", "anything")
        for q in queues:
            expect_equal(q, drain(ch, q), [b"to all"])


def work_queue(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        for i in range(10):
            ch.basic_publish(message(str(i).encode()), "", q)
        slow_ch, fast_ch = conn.channel(), conn.channel()
        slow, fast = [], []
        slow_ch.basic_qos(0, 1, False)
        consume(slow_ch, q, callback=slow.append)
        wait_until(lambda: slow, what="first delivery to the slow consumer", poll=lambda: pump(conn))

        def on_fast(m):
            fast.append(m.body)
            fast_ch.basic_ack(m.delivery_tag)
        fast_ch.basic_qos(0, 1, False)
        consume(fast_ch, q, callback=on_fast)
        wait_until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer", poll=lambda: pump(conn))
        pump(conn, 0.2)
        expect_equal("slow consumer (prefetch 1, never acks) got", [m.body for m in slow], [b"0"])
        expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
        slow_ch.basic_ack(slow[0].delivery_tag)
        pump(conn, 0.1)
        expect_equal("left in queue", count(ch, q), 0)


def ack_nack_reject(url, p):
    # py-amqp has no basic_nack (it only receives the broker's nacks in confirm mode): the
    # requeue path uses basic_reject(requeue=True), which is what its users do.
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        for body in (b"ack", b"requeue", b"reject"):
            ch.basic_publish(message(body), "", q)
        cch = conn.channel()
        cch.basic_qos(0, 10, False)
        got = []
        consume(cch, q, callback=got.append)
        poll = lambda: pump(conn)
        wait_until(lambda: len(got) >= 3, what="3 deliveries", poll=poll)
        expect_equal("first deliveries", [m.body for m in got], [b"ack", b"requeue", b"reject"])
        cch.basic_ack(got[0].delivery_tag)
        cch.basic_reject(got[1].delivery_tag, requeue=True)
        cch.basic_reject(got[2].delivery_tag, requeue=False)
        wait_until(lambda: len(got) >= 4, what="redelivery after reject(requeue)", poll=poll)
        expect_equal("redelivery", (got[3].body, got[3].delivery_info["redelivered"]), (b"requeue", True))
        cch.basic_ack(got[3].delivery_tag)
        pump(conn, 0.2)
        expect_equal("deliveries", len(got), 4)
        expect_equal("left in queue", count(ch, q), 0)
    return "partial: py-amqp has no basic_nack; requeue tested with basic_reject(requeue=True)"


def basic_get(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish(message(b"one"), "", q)
        ch.basic_publish(message(b"two"), "", q)
        m = ch.basic_get(q)
        expect_equal("first get", (m.body, m.delivery_info["message_count"], m.delivery_info["redelivered"]),
                     (b"one", 1, False))
        ch.basic_ack(m.delivery_tag)
        m = ch.basic_get(q)
        expect_equal("second get", (m.body, m.delivery_info["message_count"]), (b"two", 0))
        ch.basic_reject(m.delivery_tag, requeue=True)
        m = ch.basic_get(q)
        expect_equal("get after reject", (m.body, m.delivery_info["redelivered"]), (b"two", True))
        ch.basic_ack(m.delivery_tag)
        check(ch.basic_get(q) is None, "get on the empty queue returned a message")


def confirms(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.confirm_select()
        for i in range(50):   # waits for each ack; raises MessageNacked on a nack
            ch.basic_publish_confirm(message(str(i).encode()), "", q, confirm_timeout=10)
        expect_equal("queued", count(ch, q), 50)


def mandatory_return(url, p):
    with connect(url) as conn, declared(conn.channel(), exchanges={f"{p}.x": "direct"}) as ch:
        returned = []
        ch.events["basic_return"].add(lambda exc, exchange, key, msg: returned.append((exc, exchange, key, msg)))
        ch.basic_publish(message(b"bounce"), f"{p}.x", "nowhere", mandatory=True)
        wait_until(lambda: returned, what="basic.return", poll=lambda: pump(conn))
        exc, exchange, key, msg = returned[0]
        expect_equal("return", (exc.reply_code, exc.reply_text, exchange, key, msg.body),
                     (312, "NO_ROUTE", f"{p}.x", "nowhere", b"bounce"))


def rpc(url, p):
    q = f"{p}.requests"
    with connect(url) as conn, declared(conn.channel(), [q]) as server:
        client = conn.channel()

        def serve(m):
            server.basic_publish(message(m.body.upper(), correlation_id=m.properties["correlation_id"]),
                                 "", m.properties["reply_to"])
            server.basic_ack(m.delivery_tag)
        consume(server, q, callback=serve)
        callback = client.queue_declare("", exclusive=True).queue
        replies = {}
        consume(client, callback, no_ack=True,
                             callback=lambda m: replies.__setitem__(m.properties["correlation_id"], m.body))
        want = {}
        for word in ("alpha", "beta", "gamma"):
            cid = str(uuid.uuid4())
            want[cid] = word.upper().encode()
            client.basic_publish(message(word.encode(), reply_to=callback, correlation_id=cid), "", q)
        wait_until(lambda: len(replies) >= 3, what="3 replies", poll=lambda: pump(conn))
        expect_equal("replies by correlation_id", replies, want)


def tx(url, p):
    q = f"{p}.q"
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.tx_select()
        ch.basic_publish(message(b"rolled back"), "", q)
        ch.tx_rollback()
        expect_equal("after rollback", count(ch, q), 0)
        ch.basic_publish(message(b"committed"), "", q)
        expect_equal("before commit", count(ch, q), 0)
        ch.tx_commit()
        expect_equal("after commit", count(ch, q), 1)
        m = ch.basic_get(q)
        expect_equal("body", m.body, b"committed")
        ch.basic_ack(m.delivery_tag)
        ch.tx_commit()
        expect_equal("after acked commit", count(ch, q), 0)


def consumer_cancel(url, p):
    with connect(url) as conn:
        ch, other = conn.channel(), conn.channel()
        q = f"{p}.q"
        declare_queue(ch, q)
        cancelled = []
        tag = consume(ch, q, callback=lambda m: None, on_cancel=cancelled.append)
        other.queue_delete(q)
        wait_until(lambda: cancelled, timeout=5, what="basic.cancel from the server", poll=lambda: pump(conn))
        expect_equal("cancelled consumer tag", cancelled[0], tag)
        check(ch.is_open, "channel closed after the server cancelled its consumer")
        ch.queue_declare("", exclusive=True)


def large_message(url, p):
    q = f"{p}.q"
    body = large_body()
    with connect(url) as conn, declared(conn.channel(), [q]) as ch:
        ch.basic_publish(message(body), "", q)
        got = []
        consume(ch, q, no_ack=True, callback=got.append)
        wait_until(lambda: got, timeout=30, what="the 5 MiB delivery", poll=lambda: pump(conn))
        expect_equal("size", len(got[0].body), LARGE_SIZE)
        check(got[0].body == body, "body differs")


def heartbeat(url, p):
    with connect(url, heartbeat=1) as conn:
        expect_equal("negotiated heartbeat", conn.heartbeat, 1)
        ch = conn.channel()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:     # py-amqp sends heartbeats only from heartbeat_tick()
            conn.heartbeat_tick()
            pump(conn, 0.1)
        q = ch.queue_declare("", exclusive=True).queue
        ch.basic_publish(message(b"still alive"), "", q)
        m = ch.basic_get(q, no_ack=True)
        expect_equal("after idle", m.body, b"still alive")
        return "negotiated 1 s, idle 3 s (heartbeat_tick loop), connection alive"


def channel_error(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        try:
            ch.queue_declare(f"{p}.missing", passive=True)
            raise Fail("passive declare of a missing queue succeeded")
        except amqp.exceptions.NotFound as exc:
            expect_equal("reply code", exc.code, 404)
            detail = f"{exc.code} {exc.message}"
        # py-amqp answers Channel.Close and at once reopens the same channel number ("revive")
        check(conn.connected, "connection closed")
        ch.queue_declare("", exclusive=True)
        conn.channel().queue_declare("", exclusive=True)
        return detail + " (py-amqp reopened the channel)"


def persist_publish(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        declare_exchange(ch, f"{p}.x", "direct", durable=True)
        declare_queue(ch, f"{p}.q", durable=True)
        ch.queue_bind(f"{p}.q", f"{p}.x", "k")
        declare_queue(ch, f"{p}.transient-q", durable=False)
        ch.confirm_select()
        ch.basic_publish_confirm(message(b"persisted", delivery_mode=2), f"{p}.x", "k")
        ch.basic_publish_confirm(message(b"transient", delivery_mode=1), f"{p}.x", "k")


def persist_check(url, p):
    # the cleanup has a channel of its own: a failed check may close the one it uses
    with connect(url) as conn, deleting(conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
        ch = conn.channel()
        expect_equal("messages in the durable queue after restart", count(ch, f"{p}.q"), 1)
        m = ch.basic_get(f"{p}.q")
        expect_equal("message", (m.body, m.properties.get("delivery_mode")), (b"persisted", 2))
        ch.basic_ack(m.delivery_tag)
        ch.basic_publish(message(b"via binding"), f"{p}.x", "k")
        check(ch.basic_get(f"{p}.q", no_ack=True) is not None, "the durable binding did not survive the restart")
        ch2 = conn.channel()
        try:
            ch2.queue_declare(f"{p}.transient-q", passive=True)
            raise Fail("the non-durable queue survived the restart")
        except amqp.exceptions.NotFound:
            pass


def read_stream(conn, name, offset, until):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until."""
    ch = conn.channel()
    ch.basic_qos(0, RETENTION_COUNT, False)
    got = []

    def on(m):
        got.append((m.body, m.headers["x-stream-offset"]))
        ch.basic_ack(m.delivery_tag)
    consume(ch, name, callback=on, arguments={"x-stream-offset": offset})
    wait_until(lambda: got and got[-1][0] == until, what=f"{until!r} from offset {offset!r}",
               poll=lambda: pump(conn))
    ch.close()
    return got


def stream(url, p):
    q, r = f"{p}.s", f"{p}.retention"
    with connect(url) as conn, deleting(conn.channel(), [q, r]) as ch:
        declare_queue(ch, q, durable=True, arguments=STREAM_ARGS)
        declare_queue(ch, r, durable=True, arguments=RETENTION_ARGS)
        ch.confirm_select()
        for i in range(STREAM_COUNT):
            ch.basic_publish_confirm(message(stream_body(i), delivery_mode=2), "", q)
        for i in range(RETENTION_COUNT):
            ch.basic_publish_confirm(message(retention_body(i), delivery_mode=2), "", r)
        return check_streams(lambda queue, offset, until: read_stream(conn, queue, offset, until), q, r)


def quorum(url, p):
    q, dlq = f"{p}.qq", f"{p}.dlq"
    with connect(url) as conn, deleting(conn.channel(), [q, dlq]) as ch:
        declare_queue(ch, dlq)
        declare_queue(ch, q, durable=True, arguments=quorum_args(dlq))
        ch.confirm_select()
        ch.basic_publish_confirm(message(b"poison", delivery_mode=2), "", q)
        cch = conn.channel()
        cch.basic_qos(0, 1, False)
        deliveries = []

        def on(m):
            deliveries.append(m.body)
            cch.basic_reject(m.delivery_tag, requeue=True)
        consume(cch, q, callback=on)
        dead = []
        wait_until(lambda: dead.append(ch.basic_get(dlq, no_ack=True)) or dead[-1] is not None,
                   what="the message in the dead-letter queue", poll=lambda: pump(conn))
        m = dead[-1]
        return check_dead_lettered(len(deliveries), m.body, m.headers.get("x-death"), q)


if __name__ == "__main__":
    main(globals(), {})
