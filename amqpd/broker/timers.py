"""Deadlines for the synchronous broker model: message TTL at the head of a queue, x-expires.

The model never sleeps. It schedules callbacks at deadlines of ``clock.now()`` here; the server runs one
task that sleeps until ``next_deadline()`` (woken through ``on_earlier`` when an earlier one is
scheduled) and then calls ``run_due(now)``. Cancelled timers stay in the heap until their
deadline but drop their callback at once, so they hold no reference to a queue.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Callable

import structlog

from amqpd.broker import clock

log = structlog.get_logger("amqpd.timers")


class Timer:
    """A scheduled callback; cancel() makes it a no-op."""

    __slots__ = ("deadline", "callback")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self.callback = None

    @property
    def active(self) -> bool:
        return self.callback is not None


class Timers:
    """A heap of timers; ``on_earlier`` is called when a new timer becomes the next one due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self.on_earlier: Callable[[], None] = lambda: None

    def schedule(self, deadline: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(deadline, callback)
        earliest = self.next_deadline()
        heapq.heappush(self._heap, (deadline, next(self._order), timer))
        if earliest is None or deadline < earliest:
            self.on_earlier()
        return timer

    def next_deadline(self) -> float | None:
        """When the next live timer is due (None: nothing scheduled)."""
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> None:
        """Run every timer due at ``now``, earliest first; one failing callback does not stop the rest."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            callback = timer.callback
            if callback is None:
                continue
            timer.callback = None
            try:
                callback()
            except Exception:  # a bug must cost one timer, never the broker
                log.exception("timer callback failed")

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass at once (amqpd.testing's clock.advance): the timers falling due
        meanwhile run in deadline order, each with the clock at its deadline, so what they schedule
        within the window runs too; the timer task is then woken to sleep until the next one."""
        if seconds < 0:
            raise ValueError(f"time only moves forward; cannot advance {seconds} s")
        target, left = clock.now() + seconds, seconds
        while (deadline := self.next_deadline()) is not None and deadline <= target:
            step = min(max(deadline - clock.now(), 0.0), left)
            clock.skip(step)
            left -= step
            self.run_due(clock.now())
        clock.skip(left)  # in all exactly ``seconds``, whatever real time passed meanwhile
        self.on_earlier()

    def __len__(self) -> int:
        return sum(1 for _, _, timer in self._heap if timer.active)
