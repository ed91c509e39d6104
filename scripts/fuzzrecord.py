"""Recording the fuzz corpus: real client libraries talk to amqpd through a proxy that keeps the
bytes each client connection sends (scripts/fuzz --record writes them to scripts/fuzzdata/).

Every queue a scenario declares is named "fz.*" and is non-durable except fz.durable, so the
fuzzer can delete them between batches; server-named queues are avoided because a replay gets
other names.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Callable


class RecordingProxy:
    """A TCP proxy on an ephemeral port; keeps the client-to-server bytes of each connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.streams: list[bytearray] = []
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            recorded = bytearray()
            self.streams.append(recorded)
            for src, dst, keep in ((client, upstream, recorded), (upstream, client, None)):
                t = threading.Thread(target=self._pipe, args=(src, dst, keep), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if keep is not None:
                    keep += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def take(self) -> list[bytes]:
        """The streams of the connections so far, once their pipes have ended."""
        for t in self.threads:
            t.join(5)
        out = [bytes(s) for s in self.streams]
        self.streams.clear()
        self.threads.clear()
        return out

    def close(self) -> None:
        self.listener.close()


def pika_session(port: int) -> None:
    """Handshake, declares with arguments, binds, publishes with properties and confirms, consume,
    get, ack / nack / reject, tx, purge, unbind, deletes, close."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/?heartbeat=0"))
    ch = conn.channel()
    ch.exchange_declare("fz.dlx", "fanout")
    ch.exchange_declare("fz.topic", "topic", arguments={"alternate-exchange": "fz.dlx"})
    ch.queue_declare("fz.q1", arguments={"x-message-ttl": 60000, "x-max-length": 1000,
                                         "x-dead-letter-exchange": "fz.dlx", "x-max-priority": 5})
    ch.queue_declare("fz.dead")
    ch.queue_declare("fz.durable", durable=True)
    ch.queue_bind("fz.dead", "fz.dlx")
    ch.queue_bind("fz.q1", "fz.topic", "a.*.c", arguments={"note": "bound"})
    ch.exchange_bind("fz.dlx", "fz.topic", "#")
    ch.confirm_delivery()
    props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 headers={"n": 1, "s": "v", "nested": {"list": [1, "x"], "t": True}},
                                 delivery_mode=2, priority=3, correlation_id="c1", reply_to="fz.dead",
                                 expiration="60000", message_id="m1", timestamp=1700000000, type="t",
                                 user_id="guest", app_id="fuzz")
    ch.basic_publish("fz.topic", "a.b.c", b'{"k": "v"}', props, mandatory=True)
    ch.basic_publish("", "fz.durable", b"persistent", pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("", "fz.q1", b"x" * 300)
    ch.basic_get("fz.q1", auto_ack=False)
    m, _, _ = ch.basic_get("fz.q1")
    if m:
        ch.basic_nack(m.delivery_tag, requeue=True)
    m, _, _ = ch.basic_get("fz.q1")
    if m:
        ch.basic_reject(m.delivery_tag, requeue=False)
    ch.basic_qos(prefetch_count=10)
    seen: list[bytes] = []
    tag = ch.basic_consume("fz.durable", lambda c, mth, p, b: (seen.append(b), c.basic_ack(mth.delivery_tag)),
                           arguments={"x-priority": 2})
    deadline = time.monotonic() + 2
    while not seen and time.monotonic() < deadline:
        conn.process_data_events(0.05)
    ch.basic_cancel(tag)
    tx = conn.channel()
    tx.tx_select()
    tx.basic_publish("", "fz.q1", b"in tx")
    tx.tx_commit()
    tx.basic_publish("", "fz.q1", b"rolled back")
    tx.tx_rollback()
    tx.close()
    ch.queue_purge("fz.q1")
    ch.queue_unbind("fz.q1", "fz.topic", "a.*.c", arguments={"note": "bound"})
    ch.exchange_unbind("fz.dlx", "fz.topic", "#")
    ch.queue_delete("fz.dead")
    ch.exchange_delete("fz.topic")
    ch.close()
    conn.close()


def pika_headers(port: int) -> None:
    """A headers exchange: bindings with each x-match mode, publishes with header tables."""
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/?heartbeat=0"))
    ch = conn.channel()
    ch.exchange_declare("fz.headers", "headers")
    ch.queue_declare("fz.h", exclusive=True)
    ch.queue_bind("fz.h", "fz.headers", arguments={"x-match": "all", "a": 1, "b": "two"})
    ch.queue_bind("fz.h", "fz.headers", arguments={"x-match": "any-with-x", "x-k": "v", "c": None})
    ch.basic_publish("fz.headers", "", b"h1", pika.BasicProperties(headers={"a": 1, "b": "two", "x-k": "v"}))
    ch.basic_get("fz.h", auto_ack=True)
    ch.queue_unbind("fz.h", "fz.headers", arguments={"x-match": "all", "a": 1, "b": "two"})
    ch.exchange_delete("fz.headers")
    conn.close()


def pyamqp_session(port: int) -> None:
    """py-amqp (what kombu and Celery use): declare, publish with confirms, consume, ack."""
    import amqp
    with amqp.Connection(f"127.0.0.1:{port}", confirm_publish=True) as conn:
        ch = conn.channel()
        ch.exchange_declare("fz.direct", "direct", auto_delete=True)
        ch.queue_declare("fz.amqp", auto_delete=True, arguments={"x-expires": 60000})
        ch.queue_bind("fz.amqp", "fz.direct", "rk")
        ch.basic_publish(amqp.Message(b"py-amqp", content_type="text/plain", application_headers={"h": [1, "a"]},
                                      delivery_mode=1), exchange="fz.direct", routing_key="rk")
        got: list[amqp.Message] = []
        ch.basic_qos(0, 5, False)
        ch.basic_consume("fz.amqp", callback=got.append)
        deadline = time.monotonic() + 2
        while not got and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass
        for m in got:
            ch.basic_ack(m.delivery_tag)
        msg = ch.basic_get("fz.amqp")
        if msg is not None:
            ch.basic_reject(msg.delivery_tag, requeue=False)
        ch.queue_delete("fz.amqp")
        ch.close()


def aio_pika_session(port: int) -> None:
    """aio-pika: robust connection, publisher confirms, iterator consume, nack."""
    import aio_pika

    async def run() -> None:
        conn = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/")
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            await ch.set_qos(prefetch_count=3)
            x = await ch.declare_exchange("fz.aio", aio_pika.ExchangeType.TOPIC, auto_delete=True)
            q = await ch.declare_queue("fz.aioq", auto_delete=True, arguments={"x-max-length-bytes": 100000,
                                                                               "x-overflow": "reject-publish"})
            await q.bind(x, "k.#")
            for i in range(3):
                await x.publish(aio_pika.Message(b"aio %d" % i, headers={"i": i, "when": "now"},
                                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                 correlation_id=str(i)), routing_key="k.%d" % i)
            n = 0
            async with q.iterator() as it:
                async for message in it:
                    if n == 0:
                        await message.nack(requeue=False)
                    else:
                        await message.ack()
                    n += 1
                    if n == 3:
                        break
            await q.unbind(x, "k.#")
            await q.delete(if_unused=False, if_empty=False)

    asyncio.run(run())


def kombu_session(port: int) -> None:
    """kombu: Producer / Consumer over py-amqp as Celery uses them, and a SimpleQueue."""
    import kombu
    with kombu.Connection(f"amqp://guest:guest@127.0.0.1:{port}//") as conn:
        exchange = kombu.Exchange("fz.kombu", "direct", durable=False)
        queue = kombu.Queue("fz.kq", exchange, routing_key="task", durable=False, auto_delete=True)
        producer = conn.Producer(serializer="json")
        producer.publish({"task": "add", "args": [1, 2]}, exchange=exchange, routing_key="task",
                         declare=[queue], headers={"id": "t1", "retries": 0}, priority=1)
        got = []
        with conn.Consumer(queue, callbacks=[lambda body, message: (got.append(body), message.ack())]):
            try:
                conn.drain_events(timeout=2)
            except socket.timeout:
                pass
        simple = conn.SimpleQueue("fz.simple", queue_opts={"durable": False, "auto_delete": True},
                                  exchange_opts={"durable": False})
        simple.put({"hello": "world"})
        simple.get(block=True, timeout=2).ack()
        simple.close()


SCENARIOS: dict[str, Callable[[int], None]] = {
    "pika": pika_session, "pika-headers": pika_headers, "py-amqp": pyamqp_session,
    "aio-pika": aio_pika_session, "kombu": kombu_session,
}


def record_all(broker_port: int, directory: Path) -> list[tuple[Path, int]]:
    """Run every scenario through a recording proxy and write one file per client connection."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.bin"):
        old.unlink()
    proxy = RecordingProxy(broker_port)
    written = []
    try:
        for name, scenario in SCENARIOS.items():
            scenario(proxy.port)
            for n, stream in enumerate(proxy.take()):
                path = directory / f"{name}-{n}.bin"
                path.write_bytes(stream)
                written.append((path, len(stream)))
    finally:
        proxy.close()
    return written
