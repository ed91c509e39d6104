"""Interop client: aiormq, the low-level asyncio client under aio-pika.

Usage: aiormq_client.py URL SCENARIO PREFIX"""
import asyncio
import contextlib
import datetime
import functools
import uuid

import aiormq
import aiormq.exceptions
from aiormq import spec

from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, STREAM_SAVED, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, adeleting, check,
                    check_dead_lettered, check_props, check_retention, check_stream_reads, expect_equal,
                    large_body, main, quorum_args, retention_body, stream_body, user_of, with_heartbeat)
from aiormq_common import gone, refused, until


def scenario(fn):
    @functools.wraps(fn)
    def run(url, p):
        async def body():
            conn = await aiormq.connect(url)
            try:
                return await fn(conn, url, p)
            finally:
                await conn.close()
        return asyncio.run(asyncio.wait_for(body(), 60))
    return run


@contextlib.asynccontextmanager
async def declared(ch, queues=(), exchanges=None):
    """Declare the exchanges ({name: type}) and then the queues on ch, run the block, and
    delete them again however it ends."""
    exchanges = exchanges or {}
    async with adeleting(ch, queues, exchanges):
        for name, kind in exchanges.items():
            await ch.exchange_declare(name, exchange_type=kind)
        for name in queues:
            await ch.queue_declare(name)
        yield ch


def empty(message):
    return isinstance(message.delivery, spec.Basic.GetEmpty)


async def drain(ch, queue):
    out = []
    while not empty(m := await ch.basic_get(queue, no_ack=True)):
        out.append(m.body)
    return out


async def count(ch, queue):
    return (await ch.queue_declare(queue, passive=True)).message_count


@scenario
async def connect_ok(conn, url, p):
    await conn.channel()
    server = conn.server_properties
    return f"server {server.get('product')!r} {server.get('version')!r}"


def bad_password(url, p):
    return asyncio.run(asyncio.wait_for(refused(url, aiormq.connect), 30))


@scenario
async def declare(conn, url, p):
    ch = await conn.channel(publisher_confirms=False)
    kinds = {f"{p}.{kind}": kind for kind in ("direct", "fanout", "topic", "headers")}
    async with declared(ch, exchanges=kinds), adeleting(ch, [f"{p}.q"]):
        args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
        ok = await ch.queue_declare(f"{p}.q", arguments=args)
        expect_equal("declare-ok", (ok.queue, ok.message_count), (f"{p}.q", 0))
        await ch.queue_declare(f"{p}.q", arguments=args)
        await ch.queue_declare(f"{p}.q", passive=True)
        for kind in ("direct", "fanout", "topic"):
            await ch.queue_bind(f"{p}.q", f"{p}.{kind}", routing_key="k")
        await ch.queue_bind(f"{p}.q", f"{p}.headers", arguments={"x-match": "all", "h": "v"})
        for h, body in (("other", b"other"), ("v", b"match")):
            await ch.basic_publish(body, exchange=f"{p}.headers",
                                   properties=spec.Basic.Properties(headers={"h": h}))
        expect_equal("routed by the headers exchange", await drain(ch, f"{p}.q"), [b"match"])
        anon = (await ch.queue_declare("", exclusive=True)).queue
        check(anon.startswith("amq.gen-"), f"server-named queue {anon!r}")


def to_pamqp(props):
    props = dict(props)
    del props["cluster_id"]          # pamqp refuses to send it ("cluster_id must be empty")
    props["message_type"] = props.pop("type")
    props["timestamp"] = datetime.datetime.fromtimestamp(props["timestamp"], datetime.timezone.utc)
    return spec.Basic.Properties(**props)


@scenario
async def roundtrip(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    async with declared(ch, [q]):
        await ch.basic_publish(BODY, routing_key=q, properties=to_pamqp(dict(PROPS, user_id=user_of(url))))
        got = []
        await ch.basic_consume(q, got.append)
        await until(lambda: got, what="delivery")
        m = got[0]
        expect_equal("body", m.body, BODY)
        pr = m.header.properties
        decoded = {k: getattr(pr, k) for k in list(PROPS) + ["user_id"]
                   if k not in ("type", "timestamp", "cluster_id")}
        decoded["type"] = pr.message_type
        decoded["timestamp"] = int(pr.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp())
        check_props(decoded, user_of(url))
        d = m.delivery
        expect_equal("delivery", (d.exchange, d.routing_key, d.redelivered), ("", q, False))
        await ch.basic_ack(d.delivery_tag)
    return "partial: 13 of 14 properties (pamqp refuses to send cluster_id)"


@scenario
async def topic(conn, url, p):
    ch = await conn.channel()
    async with declared(ch, [f"{p}.q1", f"{p}.q2"], {f"{p}.x": "topic"}):
        for q, key in ((f"{p}.q1", "orders.*.eu"), (f"{p}.q2", "orders.#")):
            await ch.queue_bind(q, f"{p}.x", routing_key=key)
        for key in TOPIC_KEYS:
            await ch.basic_publish(key.encode(), exchange=f"{p}.x", routing_key=key)
        expect_equal("q1", [b.decode() for b in await drain(ch, f"{p}.q1")], TOPIC_Q1)
        expect_equal("q2", [b.decode() for b in await drain(ch, f"{p}.q2")], TOPIC_Q2)


@scenario
async def fanout(conn, url, p):
    ch = await conn.channel()
    queues = [f"{p}.q{i}" for i in range(3)]
    async with declared(ch, queues, {f"{p}.x": "fanout"}):
        for i, q in enumerate(queues):
            await ch.queue_bind(q, f"{p}.x", routing_key=f"key{i}")
        await ch.basic_publish(b"to all", exchange=f"{p}.x", routing_key="anything")
        for q in queues:
            expect_equal(q, await drain(ch, q), [b"to all"])


@scenario
async def work_queue(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    async with declared(ch, [q]):
        for i in range(10):
            await ch.basic_publish(str(i).encode(), routing_key=q)
        slow_ch, fast_ch = await conn.channel(), await conn.channel()
        await slow_ch.basic_qos(prefetch_count=1)
        await fast_ch.basic_qos(prefetch_count=1)
        slow, fast = [], []
        await slow_ch.basic_consume(q, slow.append)
        await until(lambda: slow, what="first delivery to the slow consumer")

        async def on_fast(m):
            fast.append(m.body)
            await fast_ch.basic_ack(m.delivery.delivery_tag)
        await fast_ch.basic_consume(q, on_fast)
        await until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer")
        await asyncio.sleep(0.2)
        expect_equal("slow consumer (prefetch 1, never acks) got", [m.body for m in slow], [b"0"])
        expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
        await slow_ch.basic_ack(slow[0].delivery.delivery_tag)
        await asyncio.sleep(0.1)
        expect_equal("left in queue", await count(ch, q), 0)


@scenario
async def ack_nack_reject(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    async with declared(ch, [q]):
        for body in (b"ack", b"nack", b"reject"):
            await ch.basic_publish(body, routing_key=q)
        cch = await conn.channel()
        await cch.basic_qos(prefetch_count=10)
        got = []
        await cch.basic_consume(q, got.append)
        await until(lambda: len(got) >= 3, what="3 deliveries")
        expect_equal("first deliveries", [m.body for m in got], [b"ack", b"nack", b"reject"])
        await cch.basic_ack(got[0].delivery.delivery_tag)
        await cch.basic_nack(got[1].delivery.delivery_tag, requeue=True)
        await cch.basic_reject(got[2].delivery.delivery_tag, requeue=False)
        await until(lambda: len(got) >= 4, what="redelivery after nack")
        expect_equal("redelivery", (got[3].body, got[3].delivery.redelivered), (b"nack", True))
        await cch.basic_ack(got[3].delivery.delivery_tag)
        await asyncio.sleep(0.2)
        expect_equal("deliveries", len(got), 4)
        expect_equal("left in queue", await count(ch, q), 0)


@scenario
async def basic_get(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    async with declared(ch, [q]):
        await ch.basic_publish(b"one", routing_key=q)
        await ch.basic_publish(b"two", routing_key=q)
        m = await ch.basic_get(q)
        expect_equal("first get", (m.body, m.delivery.message_count, m.delivery.redelivered), (b"one", 1, False))
        await ch.basic_ack(m.delivery.delivery_tag)
        m = await ch.basic_get(q)
        expect_equal("second get", (m.body, m.delivery.message_count), (b"two", 0))
        await ch.basic_reject(m.delivery.delivery_tag, requeue=True)
        m = await ch.basic_get(q)
        expect_equal("get after reject", (m.body, m.delivery.redelivered), (b"two", True))
        await ch.basic_ack(m.delivery.delivery_tag)
        check(empty(await ch.basic_get(q)), "get on the empty queue returned a message")


@scenario
async def confirms(conn, url, p):
    ch = await conn.channel(publisher_confirms=True)
    q = f"{p}.q"
    async with declared(ch, [q]):
        results = await asyncio.gather(*[ch.basic_publish(str(i).encode(), routing_key=q) for i in range(50)])
        check(all(isinstance(r, spec.Basic.Ack) for r in results),
              f"not all acked: {[type(r).__name__ for r in results]}")
        expect_equal("queued", await count(ch, q), 50)


@scenario
async def mandatory_return(conn, url, p):
    # aiormq reports a basic.return only on a confirm channel, for a message with a message_id
    ch = await conn.channel(publisher_confirms=True, on_return_raises=True)
    async with declared(ch, exchanges={f"{p}.x": "direct"}):
        try:
            await ch.basic_publish(b"bounce", exchange=f"{p}.x", routing_key="nowhere", mandatory=True,
                                   properties=spec.Basic.Properties(message_id="m1"))
            raise Fail("mandatory publish was not returned")
        except aiormq.exceptions.PublishError as exc:
            frame, msg = exc.message.delivery, exc.message
            expect_equal("return", (frame.reply_code, frame.reply_text, frame.exchange, frame.routing_key, msg.body),
                         (312, "NO_ROUTE", f"{p}.x", "nowhere", b"bounce"))


@scenario
async def rpc(conn, url, p):
    sch = await conn.channel()
    q = f"{p}.requests"
    async with declared(sch, [q]):

        async def serve(m):
            pr = m.header.properties
            await sch.basic_publish(m.body.upper(), routing_key=pr.reply_to,
                                    properties=spec.Basic.Properties(correlation_id=pr.correlation_id))
            await sch.basic_ack(m.delivery.delivery_tag)
        await sch.basic_consume(q, serve)
        cch = await conn.channel()
        callback = (await cch.queue_declare("", exclusive=True)).queue
        replies = {}
        await cch.basic_consume(callback, lambda m: replies.__setitem__(m.header.properties.correlation_id, m.body),
                                no_ack=True)
        want = {}
        for word in ("alpha", "beta", "gamma"):
            cid = str(uuid.uuid4())
            want[cid] = word.upper().encode()
            await cch.basic_publish(word.encode(), routing_key=q,
                                    properties=spec.Basic.Properties(reply_to=callback, correlation_id=cid))
        await until(lambda: len(replies) >= 3, what="3 replies")
        expect_equal("replies by correlation_id", replies, want)


@scenario
async def tx(conn, url, p):
    ch = await conn.channel(publisher_confirms=False)
    q = f"{p}.q"
    async with declared(ch, [q]):
        await ch.tx_select()
        await ch.basic_publish(b"rolled back", routing_key=q)
        await ch.tx_rollback()
        expect_equal("after rollback", await count(ch, q), 0)
        await ch.basic_publish(b"committed", routing_key=q)
        expect_equal("before commit", await count(ch, q), 0)
        await ch.tx_commit()
        expect_equal("after commit", await count(ch, q), 1)
        m = await ch.basic_get(q)
        expect_equal("body", m.body, b"committed")
        await ch.basic_ack(m.delivery.delivery_tag)
        await ch.tx_commit()
        expect_equal("after acked commit", await count(ch, q), 0)


@scenario
async def consumer_cancel(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    await ch.queue_declare(q)
    cancelled = []
    ch.on_consumer_cancel_callbacks.add(lambda frame: cancelled.append(frame.consumer_tag))
    ok = await ch.basic_consume(q, lambda m: None)
    other = await conn.channel()
    await other.queue_delete(q)
    await until(lambda: cancelled, timeout=5, what="basic.cancel from the server")
    expect_equal("cancelled consumer tag", cancelled[0], ok.consumer_tag)
    check(not ch.is_closed, "channel closed after the server cancelled its consumer")
    await ch.queue_declare("", exclusive=True)


@scenario
async def large_message(conn, url, p):
    ch = await conn.channel()
    q = f"{p}.q"
    body = large_body()
    async with declared(ch, [q]):
        await ch.basic_publish(body, routing_key=q)
        got = []
        await ch.basic_consume(q, got.append, no_ack=True)
        await until(lambda: got, timeout=30, what="the 5 MiB delivery")
        expect_equal("size", len(got[0].body), LARGE_SIZE)
        check(got[0].body == body, "body differs")


def heartbeat(url, p):
    @scenario
    async def run(conn, url, p):
        expect_equal("negotiated heartbeat", conn.connection_tune.heartbeat, 1)
        ch = await conn.channel()
        await asyncio.sleep(3.0)
        q = (await ch.queue_declare("", exclusive=True)).queue
        await ch.basic_publish(b"still alive", routing_key=q)
        m = await ch.basic_get(q, no_ack=True)
        expect_equal("after idle", m.body, b"still alive")
        return "negotiated 1 s, idle 3 s, connection alive"
    return run(with_heartbeat(url, 1), p)


@scenario
async def channel_error(conn, url, p):
    ch = await conn.channel()
    try:
        await ch.queue_declare(f"{p}.missing", passive=True)
        raise Fail("passive declare of a missing queue succeeded")
    except aiormq.exceptions.ChannelNotFoundEntity as exc:
        detail = str(exc)
    check(ch.is_closed, "channel still open")
    check(not conn.is_closed, "connection closed")
    ch2 = await conn.channel()
    await ch2.queue_declare("", exclusive=True)
    return detail


@scenario
async def persist_publish(conn, url, p):
    ch = await conn.channel(publisher_confirms=True)
    await ch.exchange_declare(f"{p}.x", exchange_type="direct", durable=True)
    await ch.queue_declare(f"{p}.q", durable=True)
    await ch.queue_bind(f"{p}.q", f"{p}.x", routing_key="k")
    await ch.queue_declare(f"{p}.transient-q", durable=False)
    await ch.basic_publish(b"persisted", exchange=f"{p}.x", routing_key="k",
                           properties=spec.Basic.Properties(delivery_mode=2))
    await ch.basic_publish(b"transient", exchange=f"{p}.x", routing_key="k",
                           properties=spec.Basic.Properties(delivery_mode=1))


@scenario
async def persist_check(conn, url, p):
    # the cleanup has a channel of its own: a failed check may close the one it uses
    async with adeleting(await conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
        ch = await conn.channel()
        expect_equal("messages in the durable queue after restart", await count(ch, f"{p}.q"), 1)
        m = await ch.basic_get(f"{p}.q")
        expect_equal("message", (m.body, m.header.properties.delivery_mode), (b"persisted", 2))
        await ch.basic_ack(m.delivery.delivery_tag)
        await ch.basic_publish(b"via binding", exchange=f"{p}.x", routing_key="k")
        check(not empty(await ch.basic_get(f"{p}.q", no_ack=True)), "the durable binding did not survive the restart")
        ch2 = await conn.channel()
        await gone(lambda: ch2.queue_declare(f"{p}.transient-q", passive=True),
                   "the non-durable queue survived the restart")


PERSISTENT = spec.Basic.Properties(delivery_mode=2)


async def read_stream(conn, name, offset, until_body):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until_body."""
    ch = await conn.channel()
    await ch.basic_qos(prefetch_count=RETENTION_COUNT)
    got = []

    async def on(m):
        got.append((m.body, m.header.properties.headers["x-stream-offset"]))
        await ch.basic_ack(m.delivery.delivery_tag)
    await ch.basic_consume(name, on, arguments={"x-stream-offset": offset})
    await until(lambda: got and got[-1][0] == until_body, what=f"{until_body!r} from offset {offset!r}")
    await ch.close()
    return got


@scenario
async def stream(conn, url, p):
    ch = await conn.channel(publisher_confirms=True)
    q, r = f"{p}.s", f"{p}.retention"
    async with adeleting(ch, [q, r]):
        await ch.queue_declare(q, durable=True, arguments=STREAM_ARGS)
        await ch.queue_declare(r, durable=True, arguments=RETENTION_ARGS)
        for i in range(STREAM_COUNT):
            await ch.basic_publish(stream_body(i), routing_key=q, properties=PERSISTENT)
        for i in range(RETENTION_COUNT):
            await ch.basic_publish(retention_body(i), routing_key=r, properties=PERSISTENT)
        last = stream_body(STREAM_COUNT - 1)
        first = await read_stream(conn, q, "first", last)
        saved = await read_stream(conn, q, first[STREAM_SAVED][1], last)
        detail = check_stream_reads(first, [b for b, _ in saved])
        kept = await read_stream(conn, r, "first", retention_body(RETENTION_COUNT - 1))
        return detail + "; " + check_retention([b for b, _ in kept])


@scenario
async def quorum(conn, url, p):
    ch = await conn.channel(publisher_confirms=True)
    q, dlq = f"{p}.qq", f"{p}.dlq"
    async with adeleting(ch, [q, dlq]):
        await ch.queue_declare(dlq)
        await ch.queue_declare(q, durable=True, arguments=quorum_args(dlq))
        await ch.basic_publish(b"poison", routing_key=q, properties=PERSISTENT)
        cch = await conn.channel()
        await cch.basic_qos(prefetch_count=1)
        deliveries = []

        async def on(m):
            deliveries.append(m.body)
            await cch.basic_reject(m.delivery.delivery_tag, requeue=True)
        await cch.basic_consume(q, on)
        for _ in range(500):
            dead = await ch.basic_get(dlq, no_ack=True)
            if isinstance(dead.delivery, spec.Basic.GetOk):
                break
            await asyncio.sleep(0.02)
        check(isinstance(dead.delivery, spec.Basic.GetOk), "the message did not reach the dead-letter queue")
        headers = dead.header.properties.headers or {}
        return check_dead_lettered(len(deliveries), dead.body, headers.get("x-death"), q)


if __name__ == "__main__":
    main(globals(), {})
