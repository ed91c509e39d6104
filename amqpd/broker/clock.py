"""The broker's time: ``now()`` for deadlines (message TTL, x-expires, consumer timeout, the
management samples) and ``wall()`` for stamps (x-death ``time``, stream chunk timestamps).

Both are the system's clocks until a test moves time forward (``skip``, used by
``Timers.advance`` and so by amqpd.testing's ``clock.advance``); from then on each reads the
system clock plus the skipped seconds. The names are rebound rather than wrapped, so a broker
that never skips pays nothing: callers look them up as ``clock.now()`` each time. Time is
process-wide, as a real clock is: every broker in the process sees the same skip.

Network timing (heartbeats, handshake and close timeouts) stays on trio's clock, so skipping
an hour does not drop connections whose heartbeats kept arriving.
"""

from __future__ import annotations

import time
from typing import Callable

now: Callable[[], float] = time.monotonic  # seconds, for deadlines
wall: Callable[[], float] = time.time  # seconds since the epoch, for stamps
_skipped = 0.0


def skipped() -> float:
    """Seconds skipped so far."""
    return _skipped


def skip(seconds: float) -> None:
    """Move both clocks forward by ``seconds`` (never back: deadlines already met stay met)."""
    global now, wall, _skipped
    if seconds < 0:
        raise ValueError(f"time only moves forward; cannot skip {seconds} s")
    _skipped += seconds
    offset = _skipped
    monotonic, epoch = time.monotonic, time.time
    now = lambda: monotonic() + offset  # noqa: E731 (rebound, so unskipped brokers call the C function)
    wall = lambda: epoch() + offset  # noqa: E731
