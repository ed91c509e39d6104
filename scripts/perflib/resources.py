"""Resource figures of a running broker: idle RSS, RSS with many open connections (one channel each)."""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import asdict, dataclass

from . import amqp, brokers


@dataclass
class ConnectionFigures:
    pid: int
    process: str
    idle_rss_kib: int  # just before opening the connections
    wanted: int
    attempted: int  # wanted, or fewer when the broker's file descriptor limit would not take them
    opened: int
    open_seconds: float
    rss_kib: int  # with `opened` connections open, after settling
    failures: list[str]
    fd_limit: int | None = None
    capped_reason: str = ""

    @property
    def per_connection_kib(self) -> float | None:
        if not self.opened:
            return None
        return (self.rss_kib - self.idle_rss_kib) / self.opened

    @property
    def extrapolated_rss_kib(self) -> float | None:
        """RSS at `wanted` connections, linear from what was measured (when fewer were opened)."""
        per = self.per_connection_kib
        return None if per is None else self.idle_rss_kib + per * self.wanted

    def as_dict(self) -> dict:
        return {**asdict(self), "per_connection_kib": self.per_connection_kib,
                "extrapolated_rss_kib": self.extrapolated_rss_kib}


def raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n)) if hard != resource.RLIM_INFINITY else max(soft, n)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def open_many(url: str, n: int, concurrency: int, timeout: float) -> tuple[list[amqp.Connection], list[str]]:
    """Open n connections (one channel each); stop trying at the first failure."""
    sem = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one() -> amqp.Connection | None:
        async with sem:
            if failures:
                return None
            try:
                conn = await amqp.connect(url, timeout=timeout)
                await conn.channel(1)
                return conn
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return None

    results = await asyncio.gather(*(one() for _ in range(n)))
    return [c for c in results if c is not None], failures


def connection_figures(url: str, pid: int, n: int = 1000, settle: float = 2.0, concurrency: int = 20,
                       timeout: float = 10.0, fd_share: float = 0.5) -> ConnectionFigures:
    """Open n connections each with an open channel, settle, read RSS, close them.

    A broker's file descriptors are shared with everything else that uses it: a broker whose
    soft RLIMIT_NOFILE is low (RabbitMQ under a default 1024: 832 sockets) is given at most
    fd_share of that limit, so the measurement cannot exhaust them (RabbitMQ out of descriptors
    fails queue declarations for every other client). The RSS at n is then extrapolated.
    """
    raise_fd_limit(n + 256)
    limit = brokers.fd_limit(pid)
    attempt, reason = n, ""
    if limit is not None and n > limit * fd_share:
        attempt = int(limit * fd_share)
        reason = (f"capped at {attempt} = {fd_share:.0%} of the broker's file descriptor limit {limit}, "
                  f"to leave the rest to its other clients")
    idle = brokers.rss_kib(pid)

    async def go() -> ConnectionFigures:
        t0 = time.monotonic()
        conns, failures = await open_many(url, attempt, concurrency, timeout)
        opened_in = time.monotonic() - t0
        await asyncio.sleep(settle)
        rss = brokers.rss_kib(pid)
        await asyncio.gather(*(c.close(5) for c in conns), return_exceptions=True)
        unique = sorted(set(failures))
        return ConnectionFigures(pid, brokers.comm(pid), idle, n, attempt, len(conns), opened_in, rss,
                                 [f"{failures.count(f)} x {f}" for f in unique], limit, reason)

    return asyncio.run(go())
