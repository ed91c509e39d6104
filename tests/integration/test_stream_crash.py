"""A stream survives kill -9: every confirmed message is there after a restart, in order, intact."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pika
import pytest

from tests.support.process import Amqpd

STREAM = "crash-stream"
PUBLISHERS = 3


def body(publisher: int, n: int) -> bytes:
    payload = b"%d-%d-" % (publisher, n) + bytes(range(256)) * (1 + n % 64)
    return hashlib.sha256(payload).digest() + payload


def intact(data: bytes) -> bool:
    return hashlib.sha256(data[32:]).digest() == data[:32]


@pytest.mark.timeout(120)
def test_confirmed_stream_messages_survive_kill_9(tmp_path: Path) -> None:
    server = Amqpd("--port", "0", data_dir=tmp_path)
    try:
        port = server.started()
        params = pika.ConnectionParameters("127.0.0.1", port)
        with pika.BlockingConnection(params) as conn:
            conn.channel().queue_declare(STREAM, durable=True, arguments={"x-queue-type": "stream"})
        confirmed: list[list[bytes]] = [[] for _ in range(PUBLISHERS)]
        enough = threading.Semaphore(0)

        def publish(index: int) -> None:
            try:
                conn = pika.BlockingConnection(params)
                channel = conn.channel()
                channel.confirm_delivery()
                n = 0
                while True:
                    data = body(index, n)
                    channel.basic_publish("", STREAM, data)
                    confirmed[index].append(data)
                    n += 1
                    if n == 150:
                        enough.release()
            except Exception:  # the server was killed under it
                enough.release()

        threads = [threading.Thread(target=publish, args=(i,), daemon=True) for i in range(PUBLISHERS)]
        for thread in threads:
            thread.start()
        for _ in threads:
            enough.acquire()
        server.kill()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        server.kill()
    restarted = Amqpd("--port", "0", data_dir=tmp_path)
    try:
        port = restarted.started()
        with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port)) as conn:
            channel = conn.channel()
            channel.basic_qos(prefetch_count=1000)
            got: list[tuple[int, bytes]] = []
            channel.basic_consume(STREAM, lambda ch, m, p, b: (got.append((p.headers["x-stream-offset"], b)),
                                                               ch.basic_ack(m.delivery_tag)),
                                  arguments={"x-stream-offset": "first"})
            wanted = sum(len(c) for c in confirmed)
            while len(got) < wanted:
                conn.process_data_events(time_limit=5)
                if not conn.is_open:
                    break
            channel.queue_declare(STREAM, passive=True)
            conn.process_data_events(time_limit=0)
    finally:
        restarted.kill()
    assert [offset for offset, _ in got] == list(range(len(got)))
    assert all(intact(data) for _, data in got)
    for index, sent in enumerate(confirmed):  # each publisher's messages in its order, the confirmed ones first
        mine = [data for _, data in got if data[32:].startswith(b"%d-" % index)]
        assert mine[:len(sent)] == sent
        assert len(mine) <= len(sent) + 1  # at most the one written whose confirm never arrived
