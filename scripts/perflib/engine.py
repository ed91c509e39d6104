"""Scenarios and the worker processes that run them.

The parent declares the topology, forks consumer processes, waits until every consumer is
consuming, forks publisher processes, sets one start and one stop time (CLOCK_MONOTONIC, shared
by every process) and prints a line per second from the workers' reports. Each worker runs one
asyncio loop with all of its connections; it reports cumulative counts and the latency
histogram filled since its last report at every whole second after the start.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue as queue_mod
import resource
import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from . import amqp, brokers, hist

CTX = mp.get_context("fork")


@dataclass
class Scenario:
    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    producers: int = 1
    consumers: int = 1
    queues: int = 1
    bindings: int = 0  # direct/topic: this many binding keys spread over the queues (0 = one per queue)
    exchange_type: str = "direct"  # direct, fanout or topic
    body_size: int = 16
    persistent: bool = False
    durable: bool | None = None  # queues and exchange durable; default: same as persistent
    queue_arguments: dict[str, Any] | None = None  # Queue.Declare arguments of every queue (a stream's type)
    confirm: int = 0  # publisher confirm window per producer, 0 = no confirms
    prefetch: int = 0  # per consumer (Basic.Qos global=false), 0 = unlimited
    auto_ack: bool = True
    multi_ack: int = 1  # manual ack: one Basic.Ack (multiple) every N messages
    rate: float = 0.0  # total publish rate over all producers, 0 = flat out
    duration: float = 10.0
    warmup: float = 0.0  # whole seconds at the start left out of the summary
    pmessages: int = 0  # total messages to publish; the run ends when all are confirmed (or duration)
    producer_procs: int = 1
    consumer_procs: int = 1
    ceiling: bool = False  # publish to an exchange without bindings: what the generator can send
    cleanup: bool = True
    declare: bool = True  # False: the topology exists already (declared by the caller)
    queue_prefix: str = ""  # default perf-<pid>
    broker_pid: int | None = None  # for the broker's CPU figure; default: found from the URL's port
    stall_timeout: float = 0.0  # end the run when no message moved for this long (0 = never)
    quiet: bool = False
    name: str = ""

    def resolved(self) -> "Scenario":
        sc = Scenario(**asdict(self))
        if sc.durable is None:
            sc.durable = sc.persistent
        if not sc.queue_prefix:
            sc.queue_prefix = f"perf-{os.getpid()}-{int(time.time()) % 100000}"
        if sc.ceiling:
            sc.consumers = 0
            sc.queues = 0
            sc.exchange_type = "fanout"
        if sc.exchange_type not in ("direct", "fanout", "topic"):
            raise ValueError(f"exchange type must be direct, fanout or topic, not {sc.exchange_type!r}")
        sc.producer_procs = max(1, min(sc.producer_procs, sc.producers)) if sc.producers else 0
        sc.consumer_procs = max(1, min(sc.consumer_procs, sc.consumers)) if sc.consumers else 0
        return sc

    # -- topology --------------------------------------------------------------------------------

    @property
    def exchange(self) -> str:
        return f"{self.queue_prefix}.{self.exchange_type}" + (".ceiling" if self.ceiling else "")

    def queue_names(self) -> list[str]:
        return [f"{self.queue_prefix}.q{i}" for i in range(self.queues)]

    def binding_key(self, i: int) -> str:
        if self.exchange_type == "fanout":
            return ""
        if self.exchange_type == "topic":
            return f"perf.{i}.*"
        return f"q{i}"

    def key_count(self) -> int:
        return max(self.queues, self.bindings) if self.queues else 0

    def bindings_list(self) -> list[tuple[str, str]]:
        """(queue, binding key) pairs: key i binds queue i modulo the number of queues."""
        names = self.queue_names()
        if not names:
            return []
        return [(names[i % len(names)], self.binding_key(i)) for i in range(self.key_count())]

    def routing_keys(self) -> list[str]:
        """Keys a producer publishes with, in rotation (each routes to one queue, fanout to all)."""
        if self.exchange_type == "fanout" or self.queues == 0:
            return ["perf"]
        if self.exchange_type == "topic":
            return [f"perf.{i}.x" for i in range(self.key_count())]
        return [f"q{i}" for i in range(self.key_count())]

    def consumer_queues(self, c: int) -> list[str]:
        names = self.queue_names()
        if not names:
            return []
        if len(names) >= self.consumers:
            return names[c::self.consumers]
        return [names[c % len(names)]]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _declare(sc: Scenario) -> None:
    conn = await amqp.connect(sc.url)
    try:
        await conn.channel(1)
        await conn.exchange_declare(sc.exchange, sc.exchange_type, durable=bool(sc.durable))
        for q in sc.queue_names():
            await conn.queue_declare(q, durable=bool(sc.durable), arguments=sc.queue_arguments)
        for q, key in sc.bindings_list():
            await conn.queue_bind(q, sc.exchange, key)
    finally:
        await conn.close()


EXCHANGE_DELETE_TIMEOUT = 3.0  # GarageMQ never answers Exchange.Delete: do not wait the default 30 s


async def undeclare(sc: Scenario) -> None:
    """Delete the scenario's queues and exchange (run() does it unless cleanup is off)."""
    conn = await amqp.connect(sc.url)
    try:
        await conn.channel(1)
        for q in sc.queue_names():
            await conn.queue_delete(q)
        try:
            await conn.exchange_delete(sc.exchange, timeout=EXCHANGE_DELETE_TIMEOUT)
        except asyncio.TimeoutError:
            raise amqp.AMQPError(f"no Exchange.DeleteOk for {sc.exchange} in {EXCHANGE_DELETE_TIMEOUT:g} s "
                                 f"(the exchange is left behind)") from None
    finally:
        await conn.close()


# -- workers --------------------------------------------------------------------------------------

def _worker_main(kind: str, wid: int, sc: Scenario, count: int, limits: list[int], times: Any,
                 reports: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_worker(kind, wid, sc, count, limits, times, reports))
    except BaseException as exc:  # report, never hang the parent
        reports.put(("done", kind, wid, 0, 0, 0, 0, {}, 0.0, 0.0, f"{type(exc).__name__}: {exc}"))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _worker(kind: str, wid: int, sc: Scenario, count: int, limits: list[int], times: Any,
                  reports: Any) -> None:
    conns: list[amqp.Connection] = []
    error = ""
    try:
        for i in range(count):
            conn = await amqp.connect(sc.url)
            conns.append(conn)
            await conn.channel(1)
            if kind == "consumer":
                conn.manual_ack = not sc.auto_ack
                conn.ack_every = max(1, min(sc.multi_ack, sc.prefetch) if sc.prefetch else sc.multi_ack)
                conn.measure_latency = sc.body_size >= 8
                if sc.prefetch:
                    await conn.qos(sc.prefetch)
            elif sc.confirm:
                await conn.confirm_select()
        if kind == "consumer":
            base = wid  # consumer numbers of this process: wid, wid + procs, ...
            for i, conn in enumerate(conns):
                for q in sc.consumer_queues(base + i * sc.consumer_procs):
                    await conn.consume(q, no_ack=sc.auto_ack)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    reports.put(("ready", kind, wid, error))
    if error:
        for conn in conns:
            await conn.close(1)
        return
    while times[0] == 0.0:  # parent sets the start time once every worker is ready
        await asyncio.sleep(0.005)
    start_at = times[0]
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    cpu0 = _cpu()
    tasks = []
    if kind == "producer":
        keys = sc.routing_keys()
        exchange = sc.exchange
        for i, conn in enumerate(conns):
            # spread the rotation start so producers do not all hit queue 0 at once
            pub = amqp.Publisher(conn, exchange, keys, sc.body_size, sc.persistent)
            pub.next_key = (wid + i * sc.producer_procs) % len(keys)
            rate = sc.rate / sc.producers if sc.rate else 0.0
            tasks.append(asyncio.create_task(_produce(conn, pub, sc.confirm, rate, limits[i], start_at, times)))
    reporter = asyncio.create_task(_report(kind, wid, conns, start_at, times, reports, tasks, bool(sc.pmessages)))
    try:
        await reporter
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    for t in tasks:
        if not t.done():
            t.cancel()
        else:
            exc = t.exception()
            if exc is not None and not error:
                error = f"{type(exc).__name__}: {exc}"
    if not error:
        errors = [str(c.error) for c in conns if c.error is not None]
        error = errors[0] if errors else ""
    blocked = sum(c.blocked_events for c in conns)
    if blocked:
        error = (error + "; " if error else "") + f"the broker sent Connection.Blocked {blocked} time(s)"
    cpu = _cpu() - cpu0
    pub = sum(c.published for c in conns)
    conf = sum(c.confirmed for c in conns)
    nack = sum(c.nacked for c in conns)
    cons = sum(c.consumed for c in conns)
    h: dict[int, int] = {}
    for c in conns:
        hist.merge(h, c.hist)
        c.hist = {}
    finished = max((t.result() or 0.0 for t in tasks if t.done() and not t.cancelled() and t.exception() is None),
                   default=0.0) if sc.pmessages else 0.0
    reports.put(("done", kind, wid, pub, conf, nack, cons, h, cpu, finished, error))
    for c in conns:
        c.flush_acks()
    await asyncio.gather(*(c.close(2) for c in conns), return_exceptions=True)


async def _produce(conn: amqp.Connection, pub: amqp.Publisher, window: int, rate: float, limit: int,
                   start_at: float, times: Any) -> float | None:
    """Publish until the stop time; with a limit, until limit messages are confirmed (returns when)."""
    batch = max(1, min(2000, 65536 // pub.message_bytes))
    if window:
        batch = min(batch, window)
    monotonic = time.monotonic
    sleep = asyncio.sleep
    sent = 0
    while True:
        now = monotonic()
        if now >= times[1]:
            return None
        if limit and conn.published >= limit:
            if conn.confirmed >= conn.published or not window:
                return monotonic()
            await conn.wait_confirms()
            continue
        if conn.write_paused or conn.blocked:
            await conn.writable()
            continue
        n = batch
        if window:
            room = window - (conn.published - conn.confirmed)
            if room <= 0:
                await conn.wait_confirms()
                continue
            if room < n:
                n = room
        if limit and limit - conn.published < n:
            n = limit - conn.published
        if rate:
            due = int((now - start_at) * rate) - sent
            if due <= 0:
                await sleep(start_at + (sent + 1) / rate - now)
                continue
            if due < n:
                n = due
            sent += n
        pub.send(n)
        await sleep(0)


async def _report(kind: str, wid: int, conns: list[amqp.Connection], start_at: float, times: Any,
                  reports: Any, producers: list[asyncio.Task], limited: bool) -> None:
    try:
        await _report_loop(kind, wid, conns, start_at, times, reports, producers, limited)
    finally:
        for c in conns:
            c.wake()


async def _report_loop(kind: str, wid: int, conns: list[amqp.Connection], start_at: float, times: Any,
                       reports: Any, producers: list[asyncio.Task], limited: bool) -> None:
    k = 1
    while True:
        tick = start_at + k
        stop_at = times[1]
        if kind == "producer" and producers and all(t.done() for t in producers):
            # count reached (count-limited run) or a producer failed; a timed run reports to the end
            if limited or any(t.cancelled() or t.exception() is not None for t in producers):
                return
        target = min(tick, stop_at)
        now = time.monotonic()
        delay = target - now
        if delay > 0:
            # wake early if the stop time moves (count-limited runs, Ctrl-C) or producers finish
            await asyncio.sleep(min(delay, 0.05))
            continue
        if target == tick:
            h: dict[int, int] = {}
            for c in conns:
                hist.merge(h, c.hist)
                c.hist = {}
            reports.put(("tick", kind, wid, k, sum(c.published for c in conns), sum(c.confirmed for c in conns),
                         sum(c.nacked for c in conns), sum(c.consumed for c in conns), h))
            k += 1
        if now >= stop_at:
            return
        for c in conns:
            if c.error is not None:
                raise c.error


# -- the parent -----------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    url: str
    duration: float  # measured seconds (after warm-up)
    published: int
    confirmed: int
    nacked: int
    consumed: int
    publish_rate: float
    confirm_rate: float
    consume_rate: float
    latency_us: dict[str, float | None]
    samples: int
    producer_cpu: float  # fraction of one core
    consumer_cpu: float
    broker_cpu: float | None
    errors: list[str] = field(default_factory=list)
    per_second: list[dict[str, Any]] = field(default_factory=list)
    publish_elapsed: float | None = None  # count-limited runs: seconds until the last confirm
    whole_run: dict[str, int] = field(default_factory=dict)  # the counts above with the warm-up included

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt_rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 10_000_000:
        return f"{us / 1e6:.1f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms" if us < 100_000 else f"{us / 1000:.0f} ms"
    return f"{us:.0f} µs"


def local_broker_pid(url: str) -> int | None:
    """The PID of the broker behind a URL on this machine (None for another host or no access)."""
    u = amqp.URL.parse(url)
    return brokers.pid_listening_on(u.port) if u.host in ("127.0.0.1", "localhost", "::1") else None


def run(sc: Scenario, out: Callable[[str], None] = print) -> Result:
    sc = sc.resolved()
    say = (lambda s: None) if sc.quiet else out
    broker_pid = sc.broker_pid if sc.broker_pid is not None else local_broker_pid(sc.url)
    times = CTX.RawArray("d", 2)  # start_at, stop_at
    times[1] = float("inf")
    reports: Any = CTX.Queue()
    procs: list[tuple[str, int, Any]] = []
    errors: list[str] = []

    def spawn(kind: str, total: int, nprocs: int, limits_total: int) -> None:
        counts = split(total, nprocs)
        for wid in range(nprocs):
            # producers of this process: numbers wid, wid + nprocs, ...
            numbers = list(range(wid, total, nprocs))
            lims = split(limits_total, total) if limits_total else [0] * total
            limits = [lims[n] for n in numbers]
            p = CTX.Process(target=_worker_main, args=(kind, wid, sc, counts[wid], limits, times, reports),
                            daemon=True)
            p.start()
            procs.append((kind, wid, p))

    def wait_ready(n: int) -> None:
        got = 0
        deadline = time.monotonic() + 60
        while got < n:
            try:
                msg = reports.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue_mod.Empty:
                raise RuntimeError("workers did not get ready within 60 s")
            if msg[0] == "ready":
                got += 1
                if msg[3]:
                    errors.append(f"{msg[1]} {msg[2]}: {msg[3]}")
            elif msg[0] == "done" and msg[10]:
                errors.append(f"{msg[1]} {msg[2]}: {msg[10]}")
                got += 1

    interrupted = False
    old_handler = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        times[1] = time.monotonic()

    try:
        if sc.declare:
            asyncio.run(_declare(sc))
        spawn("consumer", sc.consumers, sc.consumer_procs, 0)
        wait_ready(sc.consumer_procs)
        spawn("producer", sc.producers, sc.producer_procs, sc.pmessages)
        wait_ready(sc.producer_procs)
        if errors:
            times[0] = time.monotonic()
            times[1] = time.monotonic()
            raise RuntimeError("; ".join(errors))
        signal.signal(signal.SIGINT, on_sigint)
        broker_cpu0 = _safe_cpu(broker_pid)
        start_at = time.monotonic() + 0.1
        times[1] = start_at + sc.duration
        times[0] = start_at
        result = _collect(sc, reports, times, procs, start_at, broker_pid, broker_cpu0, errors, say)
    finally:
        times[1] = min(times[1], time.monotonic()) if times[0] else time.monotonic()
        if times[0] == 0.0:
            times[0] = time.monotonic()
        for _, _, p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(2)
        signal.signal(signal.SIGINT, old_handler)
        if sc.cleanup:
            try:
                asyncio.run(undeclare(sc))
            except Exception as exc:  # one of the run's errors (errors is the result's list)
                errors.append(f"cleanup failed: {exc}")
    if interrupted:
        result.errors.append("interrupted")
    return result


def _safe_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return brokers.cpu_seconds(pid)
    except OSError:
        return None


def _collect(sc: Scenario, reports: Any, times: Any, procs: list, start_at: float, broker_pid: int | None,
             broker_cpu0: float | None, errors: list[str], say: Callable[[str], None]) -> Result:
    workers = {(kind, wid) for kind, wid, _ in procs}
    last: dict[tuple[str, int], tuple[int, int, int, int]] = {w: (0, 0, 0, 0) for w in workers}
    at_warmup: dict[tuple[str, int], tuple[int, int, int, int]] = {w: (0, 0, 0, 0) for w in workers}
    seconds: dict[int, dict] = {}
    total_hist: dict[int, int] = {}
    done: dict[tuple[str, int], tuple] = {}
    printed = 0
    prev_totals = (0, 0, 0, 0)
    per_second: list[dict[str, Any]] = []
    warm = int(sc.warmup)
    cpu: dict[str, float] = {"producer": 0.0, "consumer": 0.0}
    publish_finished = 0.0
    deadline_pad = 30.0

    def print_second(k: int) -> None:
        nonlocal prev_totals
        entry = seconds.pop(k)
        totals = tuple(sum(v[i] for v in entry["cum"].values()) for i in range(4))
        d = [totals[i] - prev_totals[i] for i in range(4)]
        prev_totals = totals  # type: ignore[assignment]
        p50, p95, p99 = hist.percentiles(entry["hist"], (50, 95, 99))
        per_second.append({"t": k, "published": d[0], "confirmed": d[1], "consumed": d[3],
                           "p50_us": p50, "p95_us": p95, "p99_us": p99})
        line = f"[{k:4d}s] sent {fmt_rate(d[0]):>9}/s"
        if sc.confirm:
            line += f"  confirmed {fmt_rate(d[1]):>9}/s"
        if sc.consumers:
            line += f"  received {fmt_rate(d[3]):>9}/s  latency p50 {fmt_us(p50)} p95 {fmt_us(p95)} p99 {fmt_us(p99)}"
        say(line)

    last_progress = (time.monotonic(), (0, 0, 0, 0))
    while len(done) < len(workers):
        now = time.monotonic()
        if sc.stall_timeout and now < times[1]:
            moved = tuple(sum(v[i] for v in last.values()) for i in range(4))
            if moved != last_progress[1]:
                last_progress = (now, moved)
            elif now - last_progress[0] > sc.stall_timeout:
                errors.append(f"stalled: no message moved for {sc.stall_timeout:g} s (blocked by the broker?)")
                times[1] = now
        if now > times[1] + deadline_pad:
            errors.append("workers did not finish in time")
            break
        try:
            msg = reports.get(timeout=0.2)
        except queue_mod.Empty:
            for kind, wid, p in procs:
                if not p.is_alive() and (kind, wid) not in done:
                    done[(kind, wid)] = ("done", kind, wid, *last[(kind, wid)][:3], last[(kind, wid)][3], {}, 0.0,
                                         0.0, f"exit code {p.exitcode}")
                    errors.append(f"{kind} {wid}: exited with code {p.exitcode}")
            continue
        if msg[0] == "tick":
            _, kind, wid, k, pub, conf, nack, cons, h = msg
            w = (kind, wid)
            last[w] = (pub, conf, nack, cons)
            if k == warm:
                at_warmup[w] = last[w]
            entry = seconds.setdefault(k, {"cum": {}, "hist": {}})
            entry["cum"][w] = last[w]
            hist.merge(entry["hist"], h)
            if k > warm:
                hist.merge(total_hist, h)
            # print every second all workers have reported (carry forward the ones that ended)
            while printed + 1 in seconds and all(x in seconds[printed + 1]["cum"] or x in done
                                                  for x in workers):
                for x in done:
                    seconds[printed + 1]["cum"].setdefault(x, last[x])
                printed += 1
                print_second(printed)
        elif msg[0] == "done":
            _, kind, wid, pub, conf, nack, cons, h, cpu_s, finished, err = msg
            w = (kind, wid)
            done[w] = msg
            last[w] = (pub, conf, nack, cons)
            hist.merge(total_hist, h)
            cpu[kind] += cpu_s
            if err:
                errors.append(f"{kind} {wid}: {err}")
            if finished:
                publish_finished = max(publish_finished, finished)
            if sc.pmessages and kind == "producer" and all(x in done for x in workers if x[0] == "producer"):
                times[1] = min(times[1], time.monotonic())  # count reached: stop the consumers too
    end = min(times[1], time.monotonic())
    broker_cpu = None
    if broker_cpu0 is not None:
        now_cpu = _safe_cpu(broker_pid)
        if now_cpu is not None:
            broker_cpu = (now_cpu - broker_cpu0) / max(1e-9, end - start_at)
    final = {w: last[w] for w in workers}
    measured = max(1e-9, (end - start_at) - warm)
    tot = [sum(final[w][i] - at_warmup[w][i] for w in workers) for i in range(4)]
    p = hist.percentiles(total_hist, (50, 75, 95, 99, 99.9))
    mean, mx = hist.mean_max(total_hist)
    elapsed = (publish_finished - start_at) if publish_finished else None
    res = Result(
        name=sc.name, url=str(amqp.URL.parse(sc.url)), duration=measured,
        published=tot[0], confirmed=tot[1], nacked=tot[2], consumed=tot[3],
        publish_rate=tot[0] / measured, confirm_rate=tot[1] / measured, consume_rate=tot[3] / measured,
        latency_us={"p50": p[0], "p75": p[1], "p95": p[2], "p99": p[3], "p99.9": p[4], "mean": mean, "max": mx},
        samples=sum(total_hist.values()),
        producer_cpu=cpu["producer"] / max(1e-9, end - start_at),
        consumer_cpu=cpu["consumer"] / max(1e-9, end - start_at),
        broker_cpu=broker_cpu, errors=errors, per_second=per_second, publish_elapsed=elapsed,
        whole_run={k: sum(final[w][i] for w in workers)
                   for i, k in enumerate(("published", "confirmed", "nacked", "consumed"))})
    return res


def summary(res: Result, sc: Scenario) -> str:
    lines = [f"summary{' (' + res.name + ')' if res.name else ''}: {res.url}, {res.duration:.1f} s measured"
             + (f" after {sc.warmup:.0f} s warm-up" if sc.warmup else "")]
    lines.append(f"  published  {res.published:>12,} msgs  {fmt_rate(res.publish_rate):>10} msg/s")
    if sc.confirm:
        lines.append(f"  confirmed  {res.confirmed:>12,} msgs  {fmt_rate(res.confirm_rate):>10} msg/s"
                     + (f"  ({res.nacked:,} nacked)" if res.nacked else ""))
    if res.publish_elapsed:
        lines.append(f"  all {sc.pmessages:,} messages published and confirmed in {res.publish_elapsed:.1f} s "
                     f"({sc.pmessages / res.publish_elapsed:,.0f} msg/s)")
    if sc.consumers:
        lines.append(f"  consumed   {res.consumed:>12,} msgs  {fmt_rate(res.consume_rate):>10} msg/s")
        lat = res.latency_us
        lines.append(f"  latency    p50 {fmt_us(lat['p50'])}  p95 {fmt_us(lat['p95'])}  p99 {fmt_us(lat['p99'])}  "
                     f"p99.9 {fmt_us(lat['p99.9'])}  max {fmt_us(lat['max'])}  ({res.samples:,} samples)")
    cpu = f"  CPU        producers {res.producer_cpu * 100:.0f} %"
    if sc.consumers:
        cpu += f", consumers {res.consumer_cpu * 100:.0f} %"
    if res.broker_cpu is not None:
        cpu += f", broker {res.broker_cpu * 100:.0f} %"
    lines.append(cpu + " of one core")
    for e in res.errors:
        lines.append(f"  error: {e}")
    return "\n".join(lines)


# -- the generator's own ceiling, without a broker ----------------------------------------------

def _sink(port_q: Any, mode: str, payload: bytes, seconds: float) -> None:
    """A peer on loopback: 'sink' reads and discards, 'source' writes payload over and over."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    end = time.monotonic() + seconds + 5
    try:
        if mode == "sink":
            while conn.recv(1 << 20):
                pass
        else:
            while time.monotonic() < end:
                conn.sendall(payload)
    except OSError:
        pass
    finally:
        conn.close()
        srv.close()


def local_ceiling(body_size: int = 16, seconds: float = 2.0) -> dict[str, float]:
    """What the generator itself can do over loopback TCP with no broker, one process each side.

    publish: a Publisher writes flat out (the same code path as a producer) to a process that reads
    and discards. consume: a process writes pre-built Basic.Deliver + header + body frames as fast
    as it can; a consumer Connection parses them (the same data_received as against a broker).
    """

    async def publish(port: int) -> float:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(amqp.Connection, "127.0.0.1", port)
        pub = amqp.Publisher(conn, "perf.x", ["perf"], body_size, False)
        batch = max(1, min(2000, 65536 // pub.message_bytes))
        t0 = time.monotonic()
        end = t0 + seconds
        while time.monotonic() < end:
            if conn.write_paused:
                await conn.writable()
                continue
            pub.send(batch)
            await asyncio.sleep(0)
        rate = conn.published / (time.monotonic() - t0)
        conn.transport.abort()  # type: ignore[union-attr]
        return rate

    async def consume(port: int) -> float:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(amqp.Connection, "127.0.0.1", port)
        await asyncio.sleep(0.2)
        c0, t0 = conn.consumed, time.monotonic()
        await asyncio.sleep(seconds)
        rate = (conn.consumed - c0) / (time.monotonic() - t0)
        conn.transport.abort()  # type: ignore[union-attr]
        return rate

    out = {}
    for mode, coro in (("sink", publish), ("source", consume)):
        port_q = CTX.Queue()
        payload = amqp.delivery_stream(4000, body_size) if mode == "source" else b""
        peer = CTX.Process(target=_sink, args=(port_q, mode, payload, seconds), daemon=True)
        peer.start()
        port = port_q.get(timeout=10)
        out["publish" if mode == "sink" else "consume"] = asyncio.run(coro(port))
        peer.join(10)
        if peer.is_alive():
            peer.kill()
    return out
