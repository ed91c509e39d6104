"""Crash safety: amqpd killed with SIGKILL while publishers wait for confirms loses no confirmed message.

Each iteration starts `python -m amqpd` on a fresh data directory, lets confirm-mode pika
publishers send persistent messages (bodies carry their own checksum) to a durable queue while
a consumer takes and acks some of them, SIGKILLs the server after a random number of confirms,
restarts it on the same directory and reads the queue back. Every confirmed message that was
not acked must be there, at least once, and no body may be damaged. scripts/crash-test runs the same loop for as many iterations as asked
(`python -m tests.integration.test_crash N`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import pika
import pytest

STARTUP = re.compile(r"Server startup complete; listening on amqp://127\.0\.0\.1:(\d+)")
WAIT = 10.0
QUEUE = "crash"
PUBLISHERS = 3


class Amqpd:
    """`python -m amqpd` on a data directory; its stderr lines are collected as they arrive."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amqpd", "--port", "0", "--management-port", "0", "--prometheus-port", "0", "--data-dir", str(data_dir),
             "--log-level", "info", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = self._started()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _started(self) -> int:
        """The port from the startup line (AssertionError if the server ends or is silent first)."""
        while True:
            try:
                line = self._lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"amqpd did not start within {WAIT} s: {self.lines}") from None
            if line is None:
                raise AssertionError(f"amqpd exited with {self.proc.wait()} before starting: {''.join(self.lines)}")
            match = STARTUP.search(line)
            if match:
                return int(match.group(1))

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def log(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight is cut where it was."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)

    def stop(self) -> int:
        """A graceful stop (SIGTERM); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT)


def make_body(publisher: int, seq: int, rng: random.Random) -> bytes:
    """'<publisher>:<seq>:<payload>:<sha256 of what precedes>'; one in twenty spans several frames."""
    size = rng.randint(150_000, 400_000) if rng.random() < 0.05 else rng.randint(0, 3000)
    head = f"{publisher}:{seq}:".encode() + rng.randbytes(size)
    return head + b":" + hashlib.sha256(head).hexdigest().encode()


def intact(body: bytes) -> bool:
    head, _, digest = body.rpartition(b":")
    return hashlib.sha256(head).hexdigest().encode() == digest


@dataclass
class Tally:
    iterations: int = 0
    confirmed: int = 0
    acked: int = 0  # taken and acked by the consumer: these may be gone after the restart
    recovered: int = 0
    lost: int = 0
    duplicates: int = 0
    corrupt: int = 0

    def add(self, other: "Tally") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def _publish(url: str, publisher: int, seed: int, confirmed: list[bytes], lock: threading.Lock,
             target: int, reached: threading.Event) -> None:
    """Publish persistent messages with confirms until the server dies; record each one acked."""
    rng = random.Random(seed)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.confirm_delivery()
        for seq in range(1_000_000):
            body = make_body(publisher, seq, rng)
            ch.basic_publish("", QUEUE, body, pika.BasicProperties(delivery_mode=2))  # returns once acked
            with lock:
                confirmed.append(body)
                if len(confirmed) >= target:
                    reached.set()
    except Exception:  # the server was killed (or nacked): this publisher is done
        reached.set()


def _consume(url: str, acked: set[bytes], stop: threading.Event) -> None:
    """Take messages and ack two in three (recording each before its ack goes out), holding the
    others unacked, until the server dies."""
    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        taken = 0
        for method, _, body in ch.consume(QUEUE, inactivity_timeout=0.05):
            if stop.is_set():
                return
            if method is not None:
                taken += 1
                if taken % 3:
                    acked.add(body)
                    ch.basic_ack(method.delivery_tag)
    except Exception:  # the server was killed
        pass


def drain(url: str) -> list[bytes]:
    """Every message in the queue, in order, consumed without acks."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    count = ch.queue_declare(QUEUE, durable=True, passive=True).method.message_count
    bodies: list[bytes] = []
    if count:
        for _, _, body in ch.consume(QUEUE, auto_ack=True, inactivity_timeout=WAIT):
            assert body is not None, f"only {len(bodies)} of {count} messages arrived"
            bodies.append(body)
            if len(bodies) == count:
                break
        ch.cancel()
    conn.close()
    return bodies


def crash_iteration(data_dir: Path, rng: random.Random) -> Tally:
    """Publish, SIGKILL after a random number of confirms, restart, and count what came back."""
    server = Amqpd(data_dir)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        conn.channel().queue_declare(QUEUE, durable=True)
        conn.close()
        confirmed: list[bytes] = []
        acked: set[bytes] = set()
        lock, reached, stop = threading.Lock(), threading.Event(), threading.Event()
        target = rng.randint(1, 250)
        clients = [threading.Thread(target=_publish, args=(server.url, n, rng.random(), confirmed, lock, target,
                                                           reached), daemon=True) for n in range(PUBLISHERS)]
        clients.append(threading.Thread(target=_consume, args=(server.url, acked, stop), daemon=True))
        for thread in clients:
            thread.start()
        reached.wait(WAIT)
        server.kill()
        stop.set()
        for thread in clients:  # each ends on its lost connection (no confirm can come after the kill)
            thread.join(WAIT)
    finally:
        if server.proc.poll() is None:
            server.kill()
    server = Amqpd(data_dir)
    try:
        bodies = drain(server.url)
    finally:
        assert server.stop() == 0, server.log()
    present = Counter(bodies)
    return Tally(iterations=1, confirmed=len(confirmed), acked=len(acked), recovered=len(bodies),
                 lost=sum(1 for body in confirmed if body not in present and body not in acked),
                 duplicates=sum(n - 1 for n in present.values()),
                 corrupt=sum(1 for body in bodies if not intact(body)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_loses_no_confirmed_message(tmp_path, seed):
    """Every message confirmed and not acked before the SIGKILL is there after the restart; none is damaged."""
    tally = crash_iteration(tmp_path / "data", random.Random(seed))
    assert tally.confirmed >= 1
    assert (tally.lost, tally.corrupt) == (0, 0), tally
    assert tally.recovered >= tally.confirmed - tally.acked


def main(argv: list[str]) -> int:
    """Run N crash iterations, print the tally, exit 1 on any lost or corrupt message."""
    iterations = int(argv[0]) if argv else 20
    seed = int(argv[1]) if len(argv) > 1 else random.randrange(1 << 32)
    rng, total = random.Random(seed), Tally()
    print(f"crash-test: {iterations} iterations, seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="amqpd-crash-") as temp:
        for n in range(iterations):
            tally = crash_iteration(Path(temp) / f"run-{n}", rng)
            total.add(tally)
            print(f"  {n + 1:4d}: {tally}", flush=True)
    print(f"crash-test: {total}")
    return 1 if total.lost or total.corrupt else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
