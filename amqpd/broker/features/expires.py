"""x-expires: a queue unused for that many ms (no consumers, no declare or Basic.Get) is deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amqpd.broker import clock, timers

if TYPE_CHECKING:
    from amqpd.broker.queue import Queue


class Expires:
    __slots__ = ("ms", "_unused_until", "_timer")

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self._unused_until = 0.0
        self._timer: timers.Timer | None = None

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "Expires | None":
        ms = arguments.get("x-expires")
        return None if ms is None else cls(ms)

    def touch(self, queue: "Queue") -> None:
        """The queue was used: unless it has consumers, it goes ``ms`` from now."""
        if queue.consumers or queue.vhost is None or queue.deleted:
            return
        self._unused_until = clock.now() + self.ms / 1000
        if self._timer is None:
            self._timer = queue.vhost.timers.schedule(self._unused_until, lambda: self._fired(queue))

    def _fired(self, queue: "Queue") -> None:
        self._timer = None
        vhost = queue.vhost
        if queue.deleted or queue.consumers or vhost is None:
            return
        if clock.now() < self._unused_until:
            self._timer = vhost.timers.schedule(self._unused_until, lambda: self._fired(queue))
            return
        vhost.remove_queue(queue)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
