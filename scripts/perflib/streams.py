"""Stream queues under load: tell a stream from a queue that only accepted the argument, replay a
stream from its first offset, and the publish-then-replay scenario of scripts/compare.

A broker without stream queues may refuse `x-queue-type: stream` (a channel error) or ignore it
and declare a classic queue (GarageMQ does): replaying that queue would measure a classic queue's
drain, not a stream's read. A stream delivery carries its offset in an `x-stream-offset` header
(RabbitMQ and amqpd both add it), so probe() reads one delivery back and looks for it.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from pamqp import commands

from . import amqp, brokers, engine

ARGUMENTS: dict[str, Any] = {"x-queue-type": "stream"}
OFFSET_HEADER = "x-stream-offset"


async def declare(conn: amqp.Connection, name: str) -> None:
    await conn.queue_declare(name, durable=True, arguments=dict(ARGUMENTS))


async def consume_from_first(conn: amqp.Connection, name: str, prefetch: int, ack_every: int) -> None:
    """Consume with manual acks (a multiple ack every ack_every deliveries) from offset `first`."""
    await conn.qos(prefetch)
    conn.manual_ack, conn.ack_every, conn.measure_latency = True, ack_every, False
    await conn.call(1, commands.Basic.Consume(queue=name, arguments={OFFSET_HEADER: "first"}))


async def probe(url: str, timeout: float = 10.0) -> str | None:
    """None if the broker has stream queues; else why not (the refusal, or what it did instead).

    Declares a stream, publishes one message with a confirm, reads it back from `first` and looks
    for x-stream-offset in the delivery's headers; deletes the stream again.
    """
    name = f"perf-stream-probe-{os.getpid()}"
    declared = False
    conn = await amqp.connect(url)
    try:
        await conn.channel(1)
        try:
            await declare(conn, name)
        except amqp.AMQPError as exc:
            return f"x-queue-type stream refused ({exc})"
        declared = True
        await conn.confirm_select()
        amqp.Publisher(conn, "", [name], 16, persistent=False).send(1)
        conn.capture_header = True
        await consume_from_first(conn, name, 1, 1)
        deadline = time.monotonic() + timeout
        while conn.first_header is None and conn.error is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if conn.first_header is None:
            return f"no delivery from x-stream-offset first within {timeout:g} s ({conn.error or 'no error'})"
        if OFFSET_HEADER not in amqp.content_headers(conn.first_header):
            return f"x-queue-type stream accepted, but deliveries carry no {OFFSET_HEADER} header: not a stream"
        return None
    finally:
        await conn.close()
        if declared:
            await delete(url, name)


async def delete(url: str, name: str) -> None:
    conn = await amqp.connect(url)
    try:
        await conn.channel(1)
        await conn.queue_delete(name)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Replay:
    """One consumer reading a stream from its first offset until it had `wanted` messages."""

    wanted: int
    delivered: int
    seconds: float  # from Basic.Consume until the last wanted delivery (or the stall)
    broker_cpu: float | None  # fraction of one core while replaying
    error: str = ""  # why it ended short of `wanted`

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


async def replay(url: str, name: str, wanted: int, prefetch: int = 1000, ack_every: int = 100,
                 stall: float = 10.0, broker_pid: int | None = None,
                 sample: Callable[[], None] | None = None, sample_every: float = 0.2) -> Replay:
    """Read `wanted` messages from the stream's first offset; end early when none came for `stall` s.

    Polls the delivery count every 10 ms (the figure's resolution); `sample` is called every
    sample_every seconds meanwhile (scripts/bench-stream reads the broker's RSS there).
    """
    conn = await amqp.connect(url)
    try:
        await conn.channel(1)
        cpu0 = _cpu(broker_pid)
        started = time.monotonic()
        await consume_from_first(conn, name, prefetch, ack_every)
        moved_at, seen, sampled_at, error = started, 0, started, ""
        while conn.consumed < wanted:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            if conn.error is not None:
                error = str(conn.error)
                break
            if conn.consumed != seen:
                moved_at, seen = now, conn.consumed
            elif now - moved_at > stall:
                error = f"stalled: no delivery for {stall:g} s"
                break
            if sample is not None and now - sampled_at >= sample_every:
                sample()
                sampled_at = now
            conn.flush_acks()
        took = time.monotonic() - started
        cpu1 = _cpu(broker_pid)
        cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / max(1e-9, took)
        return Replay(wanted, conn.consumed, took, cpu, error)
    finally:
        await conn.close()


def _cpu(pid: int | None) -> float | None:
    try:
        return None if pid is None else brokers.cpu_seconds(pid)
    except OSError:
        return None


# -- the publish-then-replay scenario -------------------------------------------------------------

@dataclass
class StreamRun:
    """Publishing into a stream for a time (engine.run, confirms), then replaying all of it."""

    unavailable: str | None  # the broker has no stream queues: why (nothing was measured)
    publish: engine.Result | None = None
    replay: Replay | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def confirm_rate(self) -> float | None:
        return None if self.publish is None else self.publish.confirm_rate

    @property
    def replay_rate(self) -> float | None:
        return None if self.replay is None else self.replay.rate

    @property
    def broker_cpu(self) -> float | None:
        """The broker's CPU while publishing (the replay's is in replay.broker_cpu)."""
        return None if self.publish is None else self.publish.broker_cpu

    def as_dict(self) -> dict[str, Any]:
        return {"unavailable": self.unavailable, "publish": self.publish.as_dict() if self.publish else None,
                "replay": {**asdict(self.replay), "rate": self.replay.rate} if self.replay else None,
                "errors": self.errors}


def run(sc: engine.Scenario, prefetch: int = 1000, ack_every: int = 100) -> StreamRun:
    """Probe for streams; publish into one (sc: one producer, one queue, no consumers, confirms) for
    sc.duration; replay every confirmed message from `first` with one consumer; delete the stream."""
    unavailable = asyncio.run(probe(sc.url))
    if unavailable is not None:
        return StreamRun(unavailable)
    pid = sc.broker_pid if sc.broker_pid is not None else engine.local_broker_pid(sc.url)
    sc = replace(sc, queue_arguments=dict(ARGUMENTS), durable=True, cleanup=False, broker_pid=pid).resolved()
    cleanup: list[str] = []
    try:
        published = engine.run(sc)
        wanted = published.whole_run["confirmed"] - published.whole_run["nacked"]
        replayed = asyncio.run(replay(sc.url, sc.queue_names()[0], wanted, prefetch, ack_every,
                                      broker_pid=sc.broker_pid))
    finally:
        try:
            asyncio.run(engine.undeclare(sc))
        except Exception as exc:  # reported with the run, which measured what it could
            cleanup.append(f"cleanup failed: {exc}")
    errors = published.errors + ([f"replay: {replayed.error}"] if replayed.error else []) + cleanup
    return StreamRun(None, published, replayed, errors)
