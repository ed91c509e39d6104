"""Interop client: AMQPStorm (thread-safe client with its own I/O thread).

Usage: amqpstorm_client.py URL SCENARIO PREFIX"""
import datetime
import time
import uuid

from amqpstorm import AMQPChannelError, AMQPConnectionError, AMQPMessageError, UriConnection

import common
from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, check, check_dead_lettered,
                    check_props, check_streams, expect_equal, large_body, main, quorum_args,
                    refused, retention_body, stream_body, user_of, wait_until, with_heartbeat)


def connect(url):
    return UriConnection(url)


class Spelled:
    """An AMQPStorm channel (ch.queue.declare, ch.exchange.delete, ...) in the spelling that
    common.declared and common.deleting call."""
    def __init__(self, ch):
        self.ch = ch

    def exchange_declare(self, name, kind):
        self.ch.exchange.declare(name, kind)

    def queue_declare(self, name):
        self.ch.queue.declare(name)

    def queue_delete(self, name):
        self.ch.queue.delete(name)

    def exchange_delete(self, name):
        self.ch.exchange.delete(name)


def declared(ch, queues=(), exchanges=()):
    return common.declared(Spelled(ch), queues, exchanges)


def deleting(ch, queues=(), exchanges=()):
    return common.deleting(Spelled(ch), queues, exchanges)


def body_of(m):
    """AMQPStorm decodes UTF-8 bodies to str by default (auto_decode); compare as bytes."""
    return m.body if isinstance(m.body, bytes) else m.body.encode()


def props(**kw):
    kw.pop("cluster_id", None)      # pamqp refuses to send it ("cluster_id must be empty")
    if "type" in kw:
        kw["message_type"] = kw.pop("type")
    if "timestamp" in kw:
        kw["timestamp"] = datetime.datetime.fromtimestamp(kw["timestamp"], datetime.timezone.utc)
    return kw


def pump(ch):
    ch.process_data_events()
    time.sleep(0.01)


def drain(ch, queue):
    out = []
    while (m := ch.basic.get(queue, no_ack=True)) is not None:
        out.append(body_of(m))
    return out


def count(ch, queue):
    return ch.queue.declare(queue, passive=True)["message_count"]


def connect_ok(url, p):
    with connect(url) as conn:
        conn.channel().close()
        sp = conn.server_properties
        return f"server {sp.get('product')!r} {sp.get('version')!r}"


def bad_password(url, p):
    return refused(url, connect, AMQPConnectionError,
                   accept=lambda exc: "403" in str(exc) or "ACCESS_REFUSED" in str(exc))


def declare(url, p):
    kinds = {f"{p}.{kind}": kind for kind in ("direct", "fanout", "topic", "headers")}
    with connect(url) as conn, conn.channel() as ch, declared(ch, exchanges=kinds), deleting(ch, [f"{p}.q"]):
        args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
        ok = ch.queue.declare(f"{p}.q", arguments=args)
        expect_equal("declare-ok", (ok["queue"], ok["message_count"]), (f"{p}.q", 0))
        ch.queue.declare(f"{p}.q", arguments=args)
        ch.queue.declare(f"{p}.q", passive=True)
        for kind in ("direct", "fanout", "topic"):
            ch.queue.bind(f"{p}.q", f"{p}.{kind}", "k")
        ch.queue.bind(f"{p}.q", f"{p}.headers", arguments={"x-match": "all", "h": "v"})
        ch.basic.publish(b"other", "", f"{p}.headers", props(headers={"h": "other"}))
        ch.basic.publish(b"match", "", f"{p}.headers", props(headers={"h": "v"}))
        expect_equal("routed by the headers exchange", drain(ch, f"{p}.q"), [b"match"])
        anon = ch.queue.declare("", exclusive=True)["queue"]
        check(anon.startswith("amq.gen-"), f"server-named queue {anon!r}")


def roundtrip(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        ch.basic.publish(BODY, q, "", props(user_id=user_of(url), **PROPS))
        got = []
        ch.basic.consume(got.append, q)
        wait_until(lambda: got, what="delivery", poll=lambda: pump(ch))
        m = got[0]
        expect_equal("body", body_of(m), BODY)
        pr = dict(m.properties)
        pr["type"] = pr.pop("message_type", None)
        if isinstance(pr.get("timestamp"), datetime.datetime):
            pr["timestamp"] = int(pr["timestamp"].replace(tzinfo=datetime.timezone.utc).timestamp())
        check_props({k: pr.get(k) for k in list(PROPS) + ["user_id"] if k != "cluster_id"}, user_of(url))
        expect_equal("delivery", (m.method["exchange"], m.method["routing_key"], m.redelivered), ("", q, False))
        m.ack()
    return "partial: 13 of 14 properties (pamqp, which AMQPStorm uses, refuses to send cluster_id)"


def topic(url, p):
    with connect(url) as conn, conn.channel() as ch, declared(ch, [f"{p}.q1", f"{p}.q2"], {f"{p}.x": "topic"}):
        for q, key in ((f"{p}.q1", "orders.*.eu"), (f"{p}.q2", "orders.#")):
            ch.queue.bind(q, f"{p}.x", key)
        for key in TOPIC_KEYS:
            ch.basic.publish(key.encode(), key, f"{p}.x")
        expect_equal("q1", [b.decode() for b in drain(ch, f"{p}.q1")], TOPIC_Q1)
        expect_equal("q2", [b.decode() for b in drain(ch, f"{p}.q2")], TOPIC_Q2)


def fanout(url, p):
    queues = [f"{p}.q{i}" for i in range(3)]
    with connect(url) as conn, conn.channel() as ch, declared(ch, queues, {f"{p}.x": "fanout"}):
        for i, q in enumerate(queues):
            ch.queue.bind(q, f"{p}.x", f"key{i}")
        ch.basic.publish(b"to all", "anything", f"{p}.x")
        for q in queues:
            expect_equal(q, drain(ch, q), [b"to all"])


def work_queue(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        for i in range(10):
            ch.basic.publish(str(i).encode(), q)
        slow_ch, fast_ch = conn.channel(), conn.channel()
        slow, fast = [], []
        poll = lambda: (slow_ch.process_data_events(), fast_ch.consumer_tags and fast_ch.process_data_events(),
                        time.sleep(0.01))
        slow_ch.basic.qos(prefetch_count=1)
        slow_ch.basic.consume(slow.append, q)
        wait_until(lambda: slow, what="first delivery to the slow consumer", poll=poll)

        def on_fast(m):
            fast.append(body_of(m))
            m.ack()
        fast_ch.basic.qos(prefetch_count=1)
        fast_ch.basic.consume(on_fast, q)
        wait_until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer", poll=poll)
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            poll()
        expect_equal("slow consumer (prefetch 1, never acks) got", [body_of(m) for m in slow], [b"0"])
        expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
        slow[0].ack()
        expect_equal("left in queue", count(ch, q), 0)


def ack_nack_reject(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        for body in (b"ack", b"nack", b"reject"):
            ch.basic.publish(body, q)
        cch = conn.channel()
        cch.basic.qos(prefetch_count=10)
        got = []
        cch.basic.consume(got.append, q)
        poll = lambda: pump(cch)
        wait_until(lambda: len(got) >= 3, what="3 deliveries", poll=poll)
        expect_equal("first deliveries", [body_of(m) for m in got], [b"ack", b"nack", b"reject"])
        got[0].ack()
        got[1].nack(requeue=True)
        got[2].reject(requeue=False)
        wait_until(lambda: len(got) >= 4, what="redelivery after nack", poll=poll)
        expect_equal("redelivery", (body_of(got[3]), got[3].redelivered), (b"nack", True))
        got[3].ack()
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            poll()
        expect_equal("deliveries", len(got), 4)
        expect_equal("left in queue", count(ch, q), 0)


def basic_get(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        ch.basic.publish(b"one", q)
        ch.basic.publish(b"two", q)
        m = ch.basic.get(q)
        expect_equal("first get", (body_of(m), m.method["message_count"], m.redelivered), (b"one", 1, False))
        m.ack()
        m = ch.basic.get(q)
        expect_equal("second get", (body_of(m), m.method["message_count"]), (b"two", 0))
        m.reject(requeue=True)
        m = ch.basic.get(q)
        expect_equal("get after reject", (body_of(m), m.redelivered), (b"two", True))
        m.ack()
        check(ch.basic.get(q) is None, "get on the empty queue returned a message")


def confirms(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        ch.confirm_deliveries()
        results = [ch.basic.publish(str(i).encode(), q) for i in range(50)]   # True = acked
        check(all(r is True for r in results), f"not all acked: {results}")
        expect_equal("queued", count(ch, q), 50)


def mandatory_return(url, p):
    # AMQPStorm turns basic.return into an AMQPMessageError raised by the channel's next call
    with connect(url) as conn, conn.channel() as ch, declared(ch, exchanges={f"{p}.x": "direct"}):
        ch.basic.publish(b"bounce", "nowhere", f"{p}.x", mandatory=True)
        try:
            wait_until(lambda: False, timeout=5, what="basic.return",
                   poll=lambda: (ch.check_for_errors(), time.sleep(0.01)))
        except AMQPMessageError as exc:
            expect_equal("reply code", exc.error_code, 312)
            check("NO_ROUTE" in str(exc), f"reply text in {exc}")
            return f"AMQPMessageError: {exc}"


def rpc(url, p):
    q = f"{p}.requests"
    with connect(url) as conn, conn.channel() as sch, declared(sch, [q]):
        cch = conn.channel()

        def serve(m):
            sch.basic.publish(body_of(m).upper(), m.reply_to, properties=props(correlation_id=m.correlation_id))
            m.ack()
        sch.basic.consume(serve, q)
        callback = cch.queue.declare("", exclusive=True)["queue"]
        replies = {}
        cch.basic.consume(lambda m: replies.__setitem__(m.correlation_id, body_of(m)), callback, no_ack=True)
        want = {}
        for word in ("alpha", "beta", "gamma"):
            cid = str(uuid.uuid4())
            want[cid] = word.upper().encode()
            cch.basic.publish(word.encode(), q, properties=props(reply_to=callback, correlation_id=cid))
        wait_until(lambda: len(replies) >= 3, what="3 replies",
                   poll=lambda: (sch.process_data_events(), cch.process_data_events(), time.sleep(0.01)))
        expect_equal("replies by correlation_id", replies, want)


def tx(url, p):
    q = f"{p}.q"
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        ch.tx.select()
        ch.basic.publish(b"rolled back", q)
        ch.tx.rollback()
        expect_equal("after rollback", count(ch, q), 0)
        ch.basic.publish(b"committed", q)
        expect_equal("before commit", count(ch, q), 0)
        ch.tx.commit()
        expect_equal("after commit", count(ch, q), 1)
        m = ch.basic.get(q)
        expect_equal("body", body_of(m), b"committed")
        m.ack()
        ch.tx.commit()
        expect_equal("after acked commit", count(ch, q), 0)


def consumer_cancel(url, p):
    # AMQPStorm handles a server basic.cancel by dropping the tag from channel.consumer_tags
    with connect(url) as conn, conn.channel() as ch:
        q = f"{p}.q"
        ch.queue.declare(q)
        tag = ch.basic.consume(lambda m: None, q)
        check(tag in ch.consumer_tags, "consumer not registered")
        conn.channel().queue.delete(q)
        wait_until(lambda: tag not in ch.consumer_tags, timeout=5, what="basic.cancel from the server",
                   poll=lambda: time.sleep(0.01))
        check(ch.is_open, "channel closed after the server cancelled its consumer")
        ch.queue.declare("", exclusive=True)


def large_message(url, p):
    q = f"{p}.q"
    body = large_body()
    with connect(url) as conn, conn.channel() as ch, declared(ch, [q]):
        ch.basic.publish(body, q)
        got = []
        ch.basic.consume(got.append, q, no_ack=True)
        wait_until(lambda: got, timeout=30, what="the 5 MiB delivery", poll=lambda: pump(ch))
        expect_equal("size", len(body_of(got[0])), LARGE_SIZE)
        check(body_of(got[0]) == body, "body differs")


def heartbeat(url, p):
    with connect(with_heartbeat(url, 1)) as conn, conn.channel() as ch:
        expect_equal("heartbeat sent in Tune-Ok", conn.parameters["heartbeat"], 1)
        time.sleep(3.0)                  # AMQPStorm's heartbeat timer thread keeps it alive
        check(conn.is_open, "connection closed while idle")
        q = ch.queue.declare("", exclusive=True)["queue"]
        ch.basic.publish(b"still alive", q)
        expect_equal("after idle", body_of(ch.basic.get(q, no_ack=True)), b"still alive")
        return "heartbeat 1 s, idle 3 s, connection alive"


def channel_error(url, p):
    with connect(url) as conn:
        ch = conn.channel()
        try:
            ch.queue.declare(f"{p}.missing", passive=True)
            raise Fail("passive declare of a missing queue succeeded")
        except AMQPChannelError as exc:
            expect_equal("reply code", exc.error_code, 404)
            detail = str(exc)
        check(not ch.is_open, "channel still open")
        check(conn.is_open, "connection closed")
        conn.channel().queue.declare("", exclusive=True)
        return detail


def persist_publish(url, p):
    with connect(url) as conn, conn.channel() as ch:
        ch.exchange.declare(f"{p}.x", "direct", durable=True)
        ch.queue.declare(f"{p}.q", durable=True)
        ch.queue.bind(f"{p}.q", f"{p}.x", "k")
        ch.queue.declare(f"{p}.transient-q", durable=False)
        ch.confirm_deliveries()
        check(ch.basic.publish(b"persisted", "k", f"{p}.x", props(delivery_mode=2)), "not confirmed")
        check(ch.basic.publish(b"transient", "k", f"{p}.x", props(delivery_mode=1)), "not confirmed")


def persist_check(url, p):
    # the cleanup has a channel of its own: a failed check may close the one it uses
    with connect(url) as conn, deleting(conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
        ch = conn.channel()
        expect_equal("messages in the durable queue after restart", count(ch, f"{p}.q"), 1)
        m = ch.basic.get(f"{p}.q")
        expect_equal("message", (body_of(m), m.properties.get("delivery_mode")), (b"persisted", 2))
        m.ack()
        ch.basic.publish(b"via binding", "k", f"{p}.x")
        check(ch.basic.get(f"{p}.q", no_ack=True) is not None, "the durable binding did not survive the restart")
        try:
            conn.channel().queue.declare(f"{p}.transient-q", passive=True)
            raise Fail("the non-durable queue survived the restart")
        except AMQPChannelError as exc:
            expect_equal("passive declare of the non-durable queue", exc.error_code, 404)


def read_stream(conn, name, offset, until):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until."""
    ch = conn.channel()
    ch.basic.qos(prefetch_count=RETENTION_COUNT)
    got = []

    def on(m):
        got.append((body_of(m), m.properties["headers"]["x-stream-offset"]))
        m.ack()
    ch.basic.consume(on, name, arguments={"x-stream-offset": offset})
    wait_until(lambda: got and got[-1][0] == until, what=f"{until!r} from offset {offset!r}", poll=lambda: pump(ch))
    ch.close()
    return got


def stream(url, p):
    q, r = f"{p}.s", f"{p}.retention"
    with connect(url) as conn, conn.channel() as ch, deleting(ch, [q, r]):
        ch.queue.declare(q, durable=True, arguments=STREAM_ARGS)
        ch.queue.declare(r, durable=True, arguments=RETENTION_ARGS)
        ch.confirm_deliveries()
        for i in range(STREAM_COUNT):
            check(ch.basic.publish(stream_body(i), q, properties=props(delivery_mode=2)), "not confirmed")
        for i in range(RETENTION_COUNT):
            check(ch.basic.publish(retention_body(i), r, properties=props(delivery_mode=2)), "not confirmed")
        return check_streams(lambda queue, offset, until: read_stream(conn, queue, offset, until), q, r)


def quorum(url, p):
    q, dlq = f"{p}.qq", f"{p}.dlq"
    with connect(url) as conn, conn.channel() as ch, deleting(ch, [q, dlq]):
        ch.queue.declare(dlq)
        ch.queue.declare(q, durable=True, arguments=quorum_args(dlq))
        ch.confirm_deliveries()
        check(ch.basic.publish(b"poison", q, properties=props(delivery_mode=2)), "not confirmed")
        cch = conn.channel()
        cch.basic.qos(prefetch_count=1)
        deliveries = []

        def on(m):
            deliveries.append(body_of(m))
            m.reject(requeue=True)
        cch.basic.consume(on, q)
        dead = []
        wait_until(lambda: dead.append(ch.basic.get(dlq, no_ack=True)) or dead[-1] is not None,
                   what="the message in the dead-letter queue", poll=lambda: pump(cch))
        m = dead[-1]
        return check_dead_lettered(len(deliveries), body_of(m), (m.properties.get("headers") or {}).get("x-death"), q)


if __name__ == "__main__":
    main(globals(), {})
