"""Interop client: aio-pika (asyncio).  Usage: aio_pika_client.py URL SCENARIO PREFIX"""
import asyncio
import contextlib
import functools
import uuid

import aio_pika
import aiormq.exceptions
from aio_pika import DeliveryMode, ExchangeType, Message

from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, STREAM_SAVED, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, adeleting, check,
                    check_dead_lettered, check_props, check_retention, check_stream_reads, expect_equal,
                    large_body, main, quorum_args, retention_body, stream_body, user_of, with_heartbeat)
from aiormq_common import gone, refused, until


def scenario(fn):
    @functools.wraps(fn)
    def run(url, p):
        return asyncio.run(asyncio.wait_for(fn(url, p), 60))
    return run


@contextlib.asynccontextmanager
async def declared(ch, queues=(), exchanges=None):
    """Declare the exchanges ({name: ExchangeType}) and then the queues on ch, run the block
    with their Exchange and Queue objects in that order, and delete them again however it ends."""
    exchanges = exchanges or {}
    async with adeleting(ch, queues, exchanges):
        made = [await ch.declare_exchange(name, kind) for name, kind in exchanges.items()]
        yield made + [await ch.declare_queue(name) for name in queues]


async def drain(queue):
    out = []
    while (m := await queue.get(no_ack=True, fail=False)) is not None:
        out.append(m.body)
    return out


async def count(ch, name):
    q = await ch.declare_queue(name, passive=True)
    return q.declaration_result.message_count


@scenario
async def connect_ok(url, p):
    async with await aio_pika.connect(url) as conn:
        await conn.channel()
        server = conn.transport.connection.server_properties
        return f"server {server.get('product')!r} {server.get('version')!r}"


@scenario
async def bad_password(url, p):
    return await refused(url, aio_pika.connect)


@scenario
async def declare(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel(publisher_confirms=False)
        kinds = ExchangeType.DIRECT, ExchangeType.FANOUT, ExchangeType.TOPIC, ExchangeType.HEADERS
        async with declared(ch, exchanges={f"{p}.{kind.value}": kind for kind in kinds}) as made, \
                adeleting(ch, [f"{p}.q"]):
            ex = {kind.value: x for kind, x in zip(kinds, made)}
            args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
            q = await ch.declare_queue(f"{p}.q", arguments=args)
            expect_equal("declare-ok", (q.declaration_result.queue, q.declaration_result.message_count),
                         (f"{p}.q", 0))
            await ch.declare_queue(f"{p}.q", arguments=args)
            await ch.declare_queue(f"{p}.q", passive=True)
            for kind in ("direct", "fanout", "topic"):
                await q.bind(ex[kind], "k")
            await q.bind(ex["headers"], arguments={"x-match": "all", "h": "v"})
            await ex["headers"].publish(Message(b"other", headers={"h": "other"}), "")
            await ex["headers"].publish(Message(b"match", headers={"h": "v"}), "")
            expect_equal("routed by the headers exchange", await drain(q), [b"match"])
            anon = await ch.declare_queue(exclusive=True)
            check(anon.name.startswith("amq.gen-"), f"server-named queue {anon.name!r}")


@scenario
async def roundtrip(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q"]) as (q,):
            props = {k: v for k, v in PROPS.items() if k not in ("cluster_id", "expiration")}
            msg = Message(BODY, user_id=user_of(url), expiration=60, **props)  # expiration in seconds
            await ch.default_exchange.publish(msg, q.name)
            got = []
            await q.consume(got.append)
            await until(lambda: got, what="delivery")
            m = got[0]
            expect_equal("body", m.body, BODY)
            decoded = {k: getattr(m, k) for k in PROPS if k != "cluster_id"}
            decoded["user_id"] = m.user_id
            decoded["delivery_mode"] = int(m.delivery_mode)
            decoded["timestamp"] = int(m.timestamp.timestamp())
            decoded["expiration"] = str(int(m.expiration * 1000))
            check_props(decoded, user_of(url))
            expect_equal("delivery", (m.exchange, m.routing_key, m.redelivered), ("", q.name, False))
            await m.ack()
    return "partial: 13 of 14 properties (aio-pika's Message has no cluster_id)"


@scenario
async def topic(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q1", f"{p}.q2"], {f"{p}.x": ExchangeType.TOPIC}) as (x, q1, q2):
            await q1.bind(x, "orders.*.eu")
            await q2.bind(x, "orders.#")
            for key in TOPIC_KEYS:
                await x.publish(Message(key.encode()), key)
            expect_equal("q1", [b.decode() for b in await drain(q1)], TOPIC_Q1)
            expect_equal("q2", [b.decode() for b in await drain(q2)], TOPIC_Q2)


@scenario
async def fanout(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q{i}" for i in range(3)], {f"{p}.x": ExchangeType.FANOUT}) as (x, *queues):
            for i, q in enumerate(queues):
                await q.bind(x, f"key{i}")
            await x.publish(Message(b"to all"), "anything")
            for q in queues:
                expect_equal(q.name, await drain(q), [b"to all"])


@scenario
async def work_queue(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q"]) as (q,):
            for i in range(10):
                await ch.default_exchange.publish(Message(str(i).encode()), q.name)
            slow_ch, fast_ch = await conn.channel(), await conn.channel()
            await slow_ch.set_qos(prefetch_count=1)
            await fast_ch.set_qos(prefetch_count=1)
            slow, fast = [], []
            await (await slow_ch.get_queue(q.name)).consume(slow.append)
            await until(lambda: slow, what="first delivery to the slow consumer")

            async def on_fast(m):
                fast.append(m.body)
                await m.ack()
            await (await fast_ch.get_queue(q.name)).consume(on_fast)
            await until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer")
            await asyncio.sleep(0.2)
            expect_equal("slow consumer (prefetch 1, never acks) got", [m.body for m in slow], [b"0"])
            expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
            await slow[0].ack()
            await asyncio.sleep(0.1)
            expect_equal("left in queue", await count(ch, q.name), 0)


@scenario
async def ack_nack_reject(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q"]) as (q,):
            for body in (b"ack", b"nack", b"reject"):
                await ch.default_exchange.publish(Message(body), q.name)
            cch = await conn.channel()
            await cch.set_qos(prefetch_count=10)
            got = []
            await (await cch.get_queue(q.name)).consume(got.append)
            await until(lambda: len(got) >= 3, what="3 deliveries")
            expect_equal("first deliveries", [m.body for m in got], [b"ack", b"nack", b"reject"])
            await got[0].ack()
            await got[1].nack(requeue=True)
            await got[2].reject(requeue=False)
            await until(lambda: len(got) >= 4, what="redelivery after nack")
            expect_equal("redelivery", (got[3].body, got[3].redelivered), (b"nack", True))
            await got[3].ack()
            await asyncio.sleep(0.2)
            expect_equal("deliveries", len(got), 4)
            expect_equal("left in queue", await count(ch, q.name), 0)


@scenario
async def basic_get(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, [f"{p}.q"]) as (q,):
            await ch.default_exchange.publish(Message(b"one"), q.name)
            await ch.default_exchange.publish(Message(b"two"), q.name)
            m = await q.get()
            expect_equal("first get", (m.body, m.message_count, m.redelivered), (b"one", 1, False))
            await m.ack()
            m = await q.get()
            expect_equal("second get", (m.body, m.message_count), (b"two", 0))
            await m.reject(requeue=True)
            m = await q.get()
            expect_equal("get after reject", (m.body, m.redelivered), (b"two", True))
            await m.ack()
            check(await q.get(fail=False) is None, "get on the empty queue returned a message")


@scenario
async def confirms(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel(publisher_confirms=True)
        async with declared(ch, [f"{p}.q"]) as (q,):
            results = await asyncio.gather(*[
                ch.default_exchange.publish(Message(str(i).encode()), q.name) for i in range(50)])
            check(all(isinstance(r, aiormq.spec.Basic.Ack) for r in results),
                  f"not all acked: {[type(r).__name__ for r in results]}")
            expect_equal("queued", await count(ch, q.name), 50)


@scenario
async def mandatory_return(url, p):
    # aiormq hands a basic.return to the application only on a confirm channel (aio-pika's
    # default) and for a message with a message_id; on_return_raises turns it into DeliveryError.
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with declared(ch, exchanges={f"{p}.x": ExchangeType.DIRECT}) as (x,):
            returned = []
            ch.return_callbacks.add(lambda channel, message: returned.append(message))
            await x.publish(Message(b"bounce", message_id="m1"), "nowhere", mandatory=True)
            await until(lambda: returned, what="basic.return")
            m = returned[0]
            expect_equal("return", (m.exchange, m.routing_key, m.body), (f"{p}.x", "nowhere", b"bounce"))
            rch = await conn.channel(on_return_raises=True)
            rx = await rch.get_exchange(f"{p}.x")
            try:
                await rx.publish(Message(b"bounce2"), "nowhere", mandatory=True)
                raise Fail("confirmed mandatory publish was not reported as returned")
            except aio_pika.exceptions.DeliveryError as exc:
                frame = exc.frame
                expect_equal("return", (frame.reply_code, frame.reply_text), (312, "NO_ROUTE"))


@scenario
async def rpc(url, p):
    async with await aio_pika.connect(url) as conn:
        sch = await conn.channel()
        async with declared(sch, [f"{p}.requests"]) as (requests,):
            async def serve(m):
                async with m.process():
                    await sch.default_exchange.publish(
                        Message(m.body.upper(), correlation_id=m.correlation_id), m.reply_to)
            await requests.consume(serve)
            cch = await conn.channel()
            callback = await cch.declare_queue(exclusive=True)
            replies = {}
            await callback.consume(lambda m: replies.__setitem__(m.correlation_id, m.body), no_ack=True)
            want = {}
            for word in ("alpha", "beta", "gamma"):
                cid = str(uuid.uuid4())
                want[cid] = word.upper().encode()
                await cch.default_exchange.publish(
                    Message(word.encode(), reply_to=callback.name, correlation_id=cid), requests.name)
            await until(lambda: len(replies) >= 3, what="3 replies")
            expect_equal("replies by correlation_id", replies, want)


@scenario
async def tx(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel(publisher_confirms=False)
        async with declared(ch, [f"{p}.q"]) as (q,):
            t = ch.transaction()
            await t.select()
            await ch.default_exchange.publish(Message(b"rolled back"), q.name)
            await t.rollback()
            expect_equal("after rollback", await count(ch, q.name), 0)
            await ch.default_exchange.publish(Message(b"committed"), q.name)
            expect_equal("before commit", await count(ch, q.name), 0)
            await t.commit()
            expect_equal("after commit", await count(ch, q.name), 1)
            m = await q.get()
            expect_equal("body", m.body, b"committed")
            await m.ack()
            await t.commit()
            expect_equal("after acked commit", await count(ch, q.name), 0)


@scenario
async def consumer_cancel(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        q = await ch.declare_queue(f"{p}.q")
        cancelled = []
        (await ch.get_underlay_channel()).on_consumer_cancel_callbacks.add(
            lambda frame: cancelled.append(frame.consumer_tag))
        tag = await q.consume(lambda m: None)
        other = await conn.channel()
        await other.queue_delete(q.name)
        await until(lambda: cancelled, timeout=5, what="basic.cancel from the server")
        expect_equal("cancelled consumer tag", cancelled[0], tag)
        check(not ch.is_closed, "channel closed after the server cancelled its consumer")
        await ch.declare_queue(exclusive=True)


@scenario
async def large_message(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        body = large_body()
        async with declared(ch, [f"{p}.q"]) as (q,):
            await ch.default_exchange.publish(Message(body), q.name)
            got = []
            await q.consume(got.append, no_ack=True)
            await until(lambda: got, timeout=30, what="the 5 MiB delivery")
            expect_equal("size", len(got[0].body), LARGE_SIZE)
            check(got[0].body == body, "body differs")


@scenario
async def heartbeat(url, p):
    async with await aio_pika.connect(with_heartbeat(url, 1)) as conn:
        expect_equal("negotiated heartbeat", conn.transport.connection.connection_tune.heartbeat, 1)
        ch = await conn.channel()
        await asyncio.sleep(3.0)
        q = await ch.declare_queue(exclusive=True)
        await ch.default_exchange.publish(Message(b"still alive"), q.name)
        m = await q.get(no_ack=True)
        expect_equal("after idle", m.body, b"still alive")
        return "negotiated 1 s, idle 3 s, connection alive"


@scenario
async def channel_error(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        try:
            await ch.declare_queue(f"{p}.missing", passive=True)
            raise Fail("passive declare of a missing queue succeeded")
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            detail = str(exc)
        check(ch.is_closed, "channel still open")
        check(not conn.is_closed, "connection closed")
        ch2 = await conn.channel()
        await ch2.declare_queue(exclusive=True)
        return detail


@scenario
async def persist_publish(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel(publisher_confirms=True)
        x = await ch.declare_exchange(f"{p}.x", ExchangeType.DIRECT, durable=True)
        q = await ch.declare_queue(f"{p}.q", durable=True)
        await q.bind(x, "k")
        await ch.declare_queue(f"{p}.transient-q", durable=False)
        await x.publish(Message(b"persisted", delivery_mode=DeliveryMode.PERSISTENT), "k")
        await x.publish(Message(b"transient", delivery_mode=DeliveryMode.NOT_PERSISTENT), "k")


@scenario
async def persist_check(url, p):
    async with await aio_pika.connect(url) as conn:
        # the cleanup has a channel of its own: a failed check may close the one it uses
        async with adeleting(await conn.channel(), [f"{p}.q", f"{p}.transient-q"], [f"{p}.x"]):
            ch = await conn.channel()
            expect_equal("messages in the durable queue after restart", await count(ch, f"{p}.q"), 1)
            q = await ch.get_queue(f"{p}.q")
            m = await q.get()
            expect_equal("message", (m.body, m.delivery_mode), (b"persisted", DeliveryMode.PERSISTENT))
            await m.ack()
            x = await ch.get_exchange(f"{p}.x")
            await x.publish(Message(b"via binding"), "k")
            check(await q.get(no_ack=True, fail=False) is not None,
                  "the durable binding did not survive the restart")
            ch2 = await conn.channel()
            await gone(lambda: ch2.declare_queue(f"{p}.transient-q", passive=True),
                       "the non-durable queue survived the restart")


async def read_stream(conn, name, offset, until_body):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until_body."""
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=RETENTION_COUNT)
    got = []

    async def on(m):
        got.append((m.body, m.headers["x-stream-offset"]))
        await m.ack()
    await (await ch.get_queue(name)).consume(on, arguments={"x-stream-offset": offset})
    await until(lambda: got and got[-1][0] == until_body, what=f"{until_body!r} from offset {offset!r}")
    await ch.close()
    return got


@scenario
async def stream(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with adeleting(ch, [f"{p}.s", f"{p}.retention"]):
            q = await ch.declare_queue(f"{p}.s", durable=True, arguments=STREAM_ARGS)
            r = await ch.declare_queue(f"{p}.retention", durable=True, arguments=RETENTION_ARGS)
            for i in range(STREAM_COUNT):
                await ch.default_exchange.publish(Message(stream_body(i), delivery_mode=DeliveryMode.PERSISTENT), q.name)
            for i in range(RETENTION_COUNT):
                await ch.default_exchange.publish(Message(retention_body(i), delivery_mode=DeliveryMode.PERSISTENT),
                                                  r.name)
            last = stream_body(STREAM_COUNT - 1)
            first = await read_stream(conn, q.name, "first", last)
            saved = await read_stream(conn, q.name, first[STREAM_SAVED][1], last)
            detail = check_stream_reads(first, [b for b, _ in saved])
            kept = await read_stream(conn, r.name, "first", retention_body(RETENTION_COUNT - 1))
            return detail + "; " + check_retention([b for b, _ in kept])


@scenario
async def quorum(url, p):
    async with await aio_pika.connect(url) as conn:
        ch = await conn.channel()
        async with adeleting(ch, [f"{p}.qq", f"{p}.dlq"]):
            dlq = await ch.declare_queue(f"{p}.dlq")
            q = await ch.declare_queue(f"{p}.qq", durable=True, arguments=quorum_args(dlq.name))
            await ch.default_exchange.publish(Message(b"poison", delivery_mode=DeliveryMode.PERSISTENT), q.name)
            cch = await conn.channel()
            await cch.set_qos(prefetch_count=1)
            deliveries = []

            async def on(m):
                deliveries.append(m.body)
                await m.reject(requeue=True)
            await (await cch.get_queue(q.name)).consume(on)
            dead = None
            for _ in range(500):
                dead = await dlq.get(no_ack=True, fail=False)
                if dead is not None:
                    break
                await asyncio.sleep(0.02)
            check(dead is not None, "the message did not reach the dead-letter queue")
            return check_dead_lettered(len(deliveries), dead.body, dead.headers.get("x-death"), q.name)


if __name__ == "__main__":
    main(globals(), {})
