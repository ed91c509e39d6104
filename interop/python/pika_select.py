"""Interop client: pika's SelectConnection (callback API, pika's own I/O loop).

Usage: pika_select.py URL SCENARIO PREFIX

Each scenario is a generator that yields "steps": functions taking the callback pika calls
when the step is done; the driver (Flow) resumes the generator with the callback's argument.
This keeps the scenarios readable while every operation goes through SelectConnection's
asynchronous callbacks."""
import functools
import uuid

import pika
import pika.exceptions
from pika import spec

from common import (BODY, LARGE_SIZE, PROPS, QUEUE_ARGS, RETENTION_ARGS, RETENTION_COUNT, STREAM_ARGS,
                    STREAM_COUNT, STREAM_SAVED, TOPIC_KEYS, TOPIC_Q1, TOPIC_Q2, Fail, check, check_dead_lettered,
                    check_props, check_retention, check_stream_reads, expect_equal, large_body, main, quorum_args,
                    refused, retention_body, stream_body, user_of, with_heartbeat)


class Flow:
    def __init__(self, url, scenario, timeout=30.0):
        self.scenario = scenario
        self.result = self.error = None
        self.gen = None
        self.closing = False
        self.conn = pika.SelectConnection(
            pika.URLParameters(url), on_open_callback=self._opened,
            on_open_error_callback=self._open_failed, on_close_callback=self._closed)
        self.conn.ioloop.call_later(timeout, self._timeout)

    def run(self):
        self.conn.ioloop.start()
        if self.error is not None:
            raise self.error
        return self.result

    # --- driver
    def _opened(self, conn):
        self.gen = self.scenario(self)
        self._resume(None)

    def _open_failed(self, conn, exc):
        self.error = exc
        self.conn.ioloop.stop()

    def _closed(self, conn, reason):
        if not self.closing and self.error is None:
            self.error = reason
        self.conn.ioloop.stop()

    def _timeout(self):
        self._fail(Fail("timed out"))

    def _fail(self, exc):
        if self.gen is None:
            self.error = exc
            self.conn.ioloop.stop()
            return
        self._resume(None, exc)

    def _resume(self, value, exc=None):
        try:
            step = self.gen.throw(exc) if exc is not None else self.gen.send(value)
        except StopIteration as stop:
            self.result = stop.value
            self._finish()
            return
        except BaseException as e:
            self.error = e
            self._finish()
            return
        fired = []

        def callback(*args):
            if fired:
                return
            fired.append(True)
            self.conn.ioloop.add_callback_threadsafe(
                lambda: self._resume(args[0] if len(args) == 1 else args))
        step(callback)

    def _finish(self):
        self.closing = True
        if self.conn.is_open:
            self.conn.close()
        elif not self.conn.is_closing:
            self.conn.ioloop.stop()

    # --- steps the scenarios yield
    def channel(self):
        """A channel whose closure by the broker is thrown into the scenario."""
        def step(cb):
            def opened(ch):
                ch.add_on_close_callback(self._channel_closed)
                cb(ch)
            self.conn.channel(on_open_callback=opened)
        return step

    def _channel_closed(self, ch, reason):
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker) and not self.closing:
            self.conn.ioloop.add_callback_threadsafe(lambda: self._resume(None, reason))

    def sleep(self, seconds):
        return lambda cb: self.conn.ioloop.call_later(seconds, lambda: cb(None))

    def until(self, cond, timeout=10.0, what="condition"):
        def step(cb):
            deadline = [timeout]

            def poll():
                if cond():
                    cb(None)
                elif deadline[0] <= 0:
                    self._resume(None, Fail(f"timed out waiting for {what}"))
                else:
                    deadline[0] -= 0.01
                    self.conn.ioloop.call_later(0.01, poll)
            poll()
        return step

    @staticmethod
    def get(ch, queue, auto_ack=False):
        """basic.get; resumes with (method, props, body) or None on get-empty."""
        def step(cb):
            ch.add_callback(lambda frame: cb(None), [spec.Basic.GetEmpty], one_shot=True)
            ch.basic_get(queue, lambda c, m, p, b: cb((m, p, b)), auto_ack=auto_ack)
        return step

    @staticmethod
    def call(fn, *args, **kwargs):
        """A pika method that takes callback=..."""
        return lambda cb: fn(*args, callback=cb, **kwargs)


def scenario(fn):
    @functools.wraps(fn)
    def run(url, p):
        return Flow(url, lambda flow: fn(flow, url, p)).run()
    return run


def declares(queues=(), exchanges=None, deletes=(), deletes_exchanges=()):
    """A scenario that runs as fn(f, ch, url, p) on a channel of its own, after that channel
    declared the exchanges ({suffix: type}) and then the queues (suffixes), all named
    PREFIX.suffix; however the scenario ends, those queues and the queues in deletes, then
    those exchanges and the exchanges in deletes_exchanges (what the scenario declares itself)
    are deleted."""
    def wrap(fn):
        def flow(f, url, p):
            ch = yield f.channel()
            xs = {f"{p}.{x}": kind for x, kind in (exchanges or {}).items()}
            qs = [f"{p}.{q}" for q in queues]
            try:
                for name, kind in xs.items():
                    yield f.call(ch.exchange_declare, name, kind)
                for name in qs:
                    yield f.call(ch.queue_declare, name)
                return (yield from fn(f, ch, url, p))
            finally:
                for name in qs + [f"{p}.{q}" for q in deletes]:
                    yield f.call(ch.queue_delete, name)
                for name in [*xs, *(f"{p}.{x}" for x in deletes_exchanges)]:
                    yield f.call(ch.exchange_delete, name)
        return scenario(functools.wraps(fn)(flow))
    return wrap


def drain(f, ch, queue):
    out = []
    while True:
        got = yield f.get(ch, queue, auto_ack=True)
        if got is None:
            return out
        out.append(got[2])


def count(f, ch, queue):
    ok = yield f.call(ch.queue_declare, queue, passive=True)
    return ok.method.message_count


@scenario
def connect_ok(f, url, p):
    ch = yield f.channel()
    yield lambda cb: ch.close() or cb(None)
    server = f.conn.server_properties
    return f"server {server.get('product')!r} {server.get('version')!r}"


def bad_password(url, p):
    def nothing(f):
        return
        yield
    return refused(url, lambda wrong: Flow(wrong, nothing).run(),
                   (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError),
                   close=lambda result: None)


@declares(exchanges={kind: kind for kind in ("direct", "fanout", "topic", "headers")}, deletes=["q"])
def declare(f, ch, url, p):
    args = dict(QUEUE_ARGS, **{"x-dead-letter-exchange": f"{p}.fanout"})
    ok = yield f.call(ch.queue_declare, f"{p}.q", arguments=args)
    expect_equal("declare-ok", (ok.method.queue, ok.method.message_count), (f"{p}.q", 0))
    yield f.call(ch.queue_declare, f"{p}.q", arguments=args)
    yield f.call(ch.queue_declare, f"{p}.q", passive=True)
    for kind in ("direct", "fanout", "topic"):
        yield f.call(ch.queue_bind, f"{p}.q", f"{p}.{kind}", routing_key="k")
    yield f.call(ch.queue_bind, f"{p}.q", f"{p}.headers", arguments={"x-match": "all", "h": "v"})
    ch.basic_publish(f"{p}.headers", "", b"other", pika.BasicProperties(headers={"h": "other"}))
    ch.basic_publish(f"{p}.headers", "", b"match", pika.BasicProperties(headers={"h": "v"}))
    expect_equal("routed by the headers exchange", (yield from drain(f, ch, f"{p}.q")), [b"match"])
    ok = yield f.call(ch.queue_declare, "", exclusive=True)
    check(ok.method.queue.startswith("amq.gen-"), f"server-named queue {ok.method.queue!r}")


@declares(["q"])
def roundtrip(f, ch, url, p):
    q = f"{p}.q"
    ch.basic_publish("", q, BODY, pika.BasicProperties(user_id=user_of(url), **PROPS))
    got = []
    ch.basic_consume(q, lambda c, m, pr, b: got.append((m, pr, b)))
    yield f.until(lambda: got, what="delivery")
    method, props, body = got[0]
    expect_equal("body", body, BODY)
    check_props({k: getattr(props, k) for k in list(PROPS) + ["user_id"]}, user_of(url))
    expect_equal("delivery", (method.exchange, method.routing_key, method.redelivered), ("", q, False))
    ch.basic_ack(method.delivery_tag)


@declares(["q1", "q2"], {"x": "topic"})
def topic(f, ch, url, p):
    for q, key in ((f"{p}.q1", "orders.*.eu"), (f"{p}.q2", "orders.#")):
        yield f.call(ch.queue_bind, q, f"{p}.x", key)
    for key in TOPIC_KEYS:
        ch.basic_publish(f"{p}.x", key, key.encode())
    expect_equal("q1", [b.decode() for b in (yield from drain(f, ch, f"{p}.q1"))], TOPIC_Q1)
    expect_equal("q2", [b.decode() for b in (yield from drain(f, ch, f"{p}.q2"))], TOPIC_Q2)


@declares(["q0", "q1", "q2"], {"x": "fanout"})
def fanout(f, ch, url, p):
    queues = [f"{p}.q{i}" for i in range(3)]
    for i, q in enumerate(queues):
        yield f.call(ch.queue_bind, q, f"{p}.x", f"key{i}")
    ch.basic_publish(f"{p}.x", "anything", b"to all")
    for q in queues:
        expect_equal(q, (yield from drain(f, ch, q)), [b"to all"])


@declares(["q"])
def work_queue(f, ch, url, p):
    q = f"{p}.q"
    for i in range(10):
        ch.basic_publish("", q, str(i).encode())
    slow_ch = yield f.channel()
    fast_ch = yield f.channel()
    slow, fast = [], []
    yield f.call(slow_ch.basic_qos, prefetch_count=1)
    slow_ch.basic_consume(q, lambda c, m, pr, b: slow.append((m.delivery_tag, b)))
    yield f.until(lambda: slow, what="first delivery to the slow consumer")

    def on_fast(c, m, pr, b):
        fast.append(b)
        c.basic_ack(m.delivery_tag)
    yield f.call(fast_ch.basic_qos, prefetch_count=1)
    fast_ch.basic_consume(q, on_fast)
    yield f.until(lambda: len(fast) >= 9, what="9 deliveries to the fast consumer")
    yield f.sleep(0.2)
    expect_equal("slow consumer (prefetch 1, never acks) got", [b for _, b in slow], [b"0"])
    expect_equal("fast consumer got", fast, [str(i).encode() for i in range(1, 10)])
    slow_ch.basic_ack(slow[0][0])
    yield f.sleep(0.1)
    expect_equal("left in queue", (yield from count(f, ch, q)), 0)


@declares(["q"])
def ack_nack_reject(f, ch, url, p):
    q = f"{p}.q"
    for body in (b"ack", b"nack", b"reject"):
        ch.basic_publish("", q, body)
    got = []
    cch = yield f.channel()
    yield f.call(cch.basic_qos, prefetch_count=10)
    cch.basic_consume(q, lambda c, m, pr, b: got.append((m, b)))
    yield f.until(lambda: len(got) >= 3, what="3 deliveries")
    expect_equal("first deliveries", [b for _, b in got], [b"ack", b"nack", b"reject"])
    cch.basic_ack(got[0][0].delivery_tag)
    cch.basic_nack(got[1][0].delivery_tag, requeue=True)
    cch.basic_reject(got[2][0].delivery_tag, requeue=False)
    yield f.until(lambda: len(got) >= 4, what="redelivery after nack")
    m, b = got[3]
    expect_equal("redelivery", (b, m.redelivered), (b"nack", True))
    cch.basic_ack(m.delivery_tag)
    yield f.sleep(0.2)
    expect_equal("deliveries", len(got), 4)
    expect_equal("left in queue", (yield from count(f, ch, q)), 0)


@declares(["q"])
def basic_get(f, ch, url, p):
    q = f"{p}.q"
    ch.basic_publish("", q, b"one")
    ch.basic_publish("", q, b"two")
    m, _, b = yield f.get(ch, q)
    expect_equal("first get", (b, m.message_count, m.redelivered), (b"one", 1, False))
    ch.basic_ack(m.delivery_tag)
    m, _, b = yield f.get(ch, q)
    expect_equal("second get", (b, m.message_count), (b"two", 0))
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, _, b = yield f.get(ch, q)
    expect_equal("get after reject", (b, m.redelivered), (b"two", True))
    ch.basic_ack(m.delivery_tag)
    check((yield f.get(ch, q)) is None, "get on the empty queue returned a message")


@declares(["q"])
def confirms(f, ch, url, p):
    q = f"{p}.q"
    acked, nacked = set(), set()

    def on_confirm(frame):
        tags = acked if isinstance(frame.method, spec.Basic.Ack) else nacked
        last = frame.method.delivery_tag
        if frame.method.multiple:
            tags.update(range(1, last + 1))
        else:
            tags.add(last)
    yield lambda cb: ch.confirm_delivery(on_confirm, callback=cb)
    for i in range(50):
        ch.basic_publish("", q, str(i).encode())
    yield f.until(lambda: len(acked | nacked) >= 50, what="50 confirms")
    expect_equal("acked", (len(acked), len(nacked)), (50, 0))
    expect_equal("queued", (yield from count(f, ch, q)), 50)


@declares(exchanges={"x": "direct"})
def mandatory_return(f, ch, url, p):
    returned = []
    ch.add_on_return_callback(lambda c, m, pr, b: returned.append((m, b)))
    ch.basic_publish(f"{p}.x", "nowhere", b"bounce", mandatory=True)
    yield f.until(lambda: returned, what="basic.return")
    m, b = returned[0]
    expect_equal("return", (m.reply_code, m.reply_text, m.exchange, m.routing_key, b),
                 (312, "NO_ROUTE", f"{p}.x", "nowhere", b"bounce"))


@declares(["requests"])
def rpc(f, server, url, p):
    client = yield f.channel()
    q = f"{p}.requests"

    def serve(c, m, props, body):
        c.basic_publish("", props.reply_to, body.upper(),
                        pika.BasicProperties(correlation_id=props.correlation_id))
        c.basic_ack(m.delivery_tag)
    server.basic_consume(q, serve)
    ok = yield f.call(client.queue_declare, "", exclusive=True)
    callback = ok.method.queue
    replies = {}
    yield lambda cb: client.basic_consume(
        callback, lambda c, m, pr, b: replies.__setitem__(pr.correlation_id, b), auto_ack=True,
        callback=cb)
    want = {}
    for word in ("alpha", "beta", "gamma"):
        cid = str(uuid.uuid4())
        want[cid] = word.upper().encode()
        client.basic_publish("", q, word.encode(), pika.BasicProperties(reply_to=callback, correlation_id=cid))
    yield f.until(lambda: len(replies) >= 3, what="3 replies")
    expect_equal("replies by correlation_id", replies, want)


@declares(["q"])
def tx(f, ch, url, p):
    q = f"{p}.q"
    yield lambda cb: ch.tx_select(cb)
    ch.basic_publish("", q, b"rolled back")
    yield lambda cb: ch.tx_rollback(cb)
    expect_equal("after rollback", (yield from count(f, ch, q)), 0)
    ch.basic_publish("", q, b"committed")
    expect_equal("before commit", (yield from count(f, ch, q)), 0)
    yield lambda cb: ch.tx_commit(cb)
    expect_equal("after commit", (yield from count(f, ch, q)), 1)
    m, _, b = yield f.get(ch, q)
    expect_equal("body", b, b"committed")
    ch.basic_ack(m.delivery_tag)
    yield lambda cb: ch.tx_commit(cb)
    expect_equal("after acked commit", (yield from count(f, ch, q)), 0)


@scenario
def consumer_cancel(f, url, p):
    ch = yield f.channel()
    other = yield f.channel()
    q = f"{p}.q"
    yield f.call(ch.queue_declare, q)
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = yield lambda cb: cb(ch.basic_consume(q, lambda *a: None))
    yield f.call(other.queue_delete, q)
    yield f.until(lambda: cancelled, timeout=5, what="basic.cancel from the server")
    expect_equal("cancelled consumer tag", cancelled[0], tag)
    check(ch.is_open, "channel closed after the server cancelled its consumer")
    yield f.call(ch.queue_declare, "", exclusive=True)


@declares(["q"])
def large_message(f, ch, url, p):
    q = f"{p}.q"
    body = large_body()
    ch.basic_publish("", q, body)
    got = []
    ch.basic_consume(q, lambda c, m, pr, b: got.append(b), auto_ack=True)
    yield f.until(lambda: got, timeout=30, what="the 5 MiB delivery")
    expect_equal("size", len(got[0]), LARGE_SIZE)
    check(got[0] == body, "body differs")


def heartbeat(url, p):
    def flow(f):
        expect_equal("negotiated heartbeat", f.conn.params.heartbeat, 1)
        ch = yield f.channel()
        yield f.sleep(3.0)
        ok = yield f.call(ch.queue_declare, "", exclusive=True)
        ch.basic_publish("", ok.method.queue, b"still alive")
        m, _, b = yield f.get(ch, ok.method.queue, auto_ack=True)
        expect_equal("after idle", b, b"still alive")
        return "negotiated 1 s, idle 3 s, connection alive"
    return Flow(with_heartbeat(url, 1), flow).run()


@scenario
def channel_error(f, url, p):
    ch = yield f.channel()
    try:
        yield f.call(ch.queue_declare, f"{p}.missing", passive=True)
        raise Fail("passive declare of a missing queue succeeded")
    except pika.exceptions.ChannelClosedByBroker as exc:
        expect_equal("reply code", exc.reply_code, 404)
        detail = f"{exc.reply_code} {exc.reply_text}"
    check(f.conn.is_open, "connection closed")
    ch2 = yield f.channel()
    yield f.call(ch2.queue_declare, "", exclusive=True)
    return detail


@scenario
def persist_publish(f, url, p):
    ch = yield f.channel()
    yield f.call(ch.exchange_declare, f"{p}.x", "direct", durable=True)
    yield f.call(ch.queue_declare, f"{p}.q", durable=True)
    yield f.call(ch.queue_bind, f"{p}.q", f"{p}.x", "k")
    yield f.call(ch.queue_declare, f"{p}.transient-q", durable=False)
    acked = set()

    def on_confirm(frame):      # confirms may come out of order, and cover several (multiple)
        check(isinstance(frame.method, spec.Basic.Ack), f"nacked: {frame.method}")
        tag = frame.method.delivery_tag
        acked.update(range(1, tag + 1) if frame.method.multiple else [tag])
    yield lambda cb: ch.confirm_delivery(on_confirm, callback=cb)
    ch.basic_publish(f"{p}.x", "k", b"persisted", pika.BasicProperties(delivery_mode=2))
    ch.basic_publish(f"{p}.x", "k", b"transient", pika.BasicProperties(delivery_mode=1))
    yield f.until(lambda: acked >= {1, 2}, what="confirms")


@declares(deletes=["q", "transient-q"], deletes_exchanges=["x"])
def persist_check(f, cleanup, url, p):
    # the cleanup has a channel of its own: a failed check may close the one it uses
    ch = yield f.channel()
    expect_equal("messages in the durable queue after restart", (yield from count(f, ch, f"{p}.q")), 1)
    m, props, b = yield f.get(ch, f"{p}.q")
    expect_equal("message", (b, props.delivery_mode), (b"persisted", 2))
    ch.basic_ack(m.delivery_tag)
    ch.basic_publish(f"{p}.x", "k", b"via binding")
    check((yield f.get(ch, f"{p}.q", auto_ack=True)) is not None,
          "the durable binding did not survive the restart")
    ch2 = yield f.channel()
    try:
        yield f.call(ch2.queue_declare, f"{p}.transient-q", passive=True)
        raise Fail("the non-durable queue survived the restart")
    except pika.exceptions.ChannelClosedByBroker as exc:
        expect_equal("passive declare of the non-durable queue", exc.reply_code, 404)


def publish_confirmed(f, ch, messages):
    """Publish (routing key, body) pairs persistent on a confirm-mode channel, each after the
    previous one's ack (as the other clients do: a stream makes a chunk of what arrives together,
    and retention drops whole segments)."""
    acked = set()

    def on_confirm(frame):
        last = frame.method.delivery_tag
        check(isinstance(frame.method, spec.Basic.Ack), f"publish {last} nacked")
        acked.update(range(1, last + 1) if frame.method.multiple else [last])
    yield lambda cb: ch.confirm_delivery(on_confirm, callback=cb)
    for i, (key, body) in enumerate(messages, 1):
        ch.basic_publish("", key, body, pika.BasicProperties(delivery_mode=2))
        yield f.until(lambda: len(acked) >= i, what=f"confirm {i}")


def read_stream(f, name, offset, until):
    """Consume the stream from x-stream-offset with prefetch; (body, offset header) up to until."""
    ch = yield f.channel()
    yield f.call(ch.basic_qos, prefetch_count=RETENTION_COUNT)
    got = []

    def on(c, m, pr, b):
        got.append((b, pr.headers["x-stream-offset"]))
        c.basic_ack(m.delivery_tag)
    ch.basic_consume(name, on, arguments={"x-stream-offset": offset})
    yield f.until(lambda: got and got[-1][0] == until, what=f"{until!r} from offset {offset!r}")
    yield lambda cb: ch.close() or cb(None)
    return got


@declares(deletes=["s", "retention"])
def stream(f, ch, url, p):
    q, r = f"{p}.s", f"{p}.retention"
    yield f.call(ch.queue_declare, q, durable=True, arguments=STREAM_ARGS)
    yield f.call(ch.queue_declare, r, durable=True, arguments=RETENTION_ARGS)
    pch = yield f.channel()
    yield from publish_confirmed(f, pch, [(q, stream_body(i)) for i in range(STREAM_COUNT)]
                                 + [(r, retention_body(i)) for i in range(RETENTION_COUNT)])
    last = stream_body(STREAM_COUNT - 1)
    first = yield from read_stream(f, q, "first", last)
    saved = yield from read_stream(f, q, first[STREAM_SAVED][1], last)
    detail = check_stream_reads(first, [b for b, _ in saved])
    kept = yield from read_stream(f, r, "first", retention_body(RETENTION_COUNT - 1))
    return detail + "; " + check_retention([b for b, _ in kept])


@declares(["dlq"], deletes=["qq"])
def quorum(f, ch, url, p):
    q, dlq = f"{p}.qq", f"{p}.dlq"
    yield f.call(ch.queue_declare, q, durable=True, arguments=quorum_args(dlq))
    pch = yield f.channel()
    yield from publish_confirmed(f, pch, [(q, b"poison")])
    cch = yield f.channel()
    yield f.call(cch.basic_qos, prefetch_count=1)
    deliveries = []

    def on(c, m, pr, b):
        deliveries.append(b)
        c.basic_reject(m.delivery_tag, requeue=True)
    cch.basic_consume(q, on)
    for _ in range(500):
        dead = yield f.get(ch, dlq, auto_ack=True)
        if dead is not None:
            break
        yield f.sleep(0.02)
    check(dead is not None, "the message did not reach the dead-letter queue")
    _, props, body = dead
    return check_dead_lettered(len(deliveries), body, (props.headers or {}).get("x-death"), q)


if __name__ == "__main__":
    main(globals(), {})
