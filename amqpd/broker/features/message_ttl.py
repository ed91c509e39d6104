"""x-message-ttl and a message's own expiration: each ready message gets a deadline when it
is enqueued (the lower of the two), and one timer per queue fires at the head's deadline.

As in RabbitMQ only the head is checked: an expired message further back is dropped (or
dead-lettered, reason expired) when it reaches the head. A deadline stays with its message:
changing or removing the queue's TTL affects messages enqueued from then on (RabbitMQ 3.10
with a message-ttl policy does the same).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amqpd.broker import clock, timers

if TYPE_CHECKING:
    from amqpd.broker.message import Message
    from amqpd.broker.queue import Queue


class MessageTTL:
    __slots__ = ("ttl", "_timer")

    def __init__(self, ttl: int | None) -> None:
        self.ttl = ttl  # ms; None: only messages' own expirations
        self._timer: timers.Timer | None = None

    @staticmethod
    def ttl_of(arguments: dict[str, Any]) -> int | None:
        return arguments.get("x-message-ttl")

    def deadline(self, message: "Message", now: float) -> float | None:
        """When a message enqueued now expires."""
        ttl, own = self.ttl, message.expiration
        if own is not None:
            ttl = own if ttl is None else min(ttl, own)
        return None if ttl is None else now + ttl / 1000

    def expire(self, queue: "Queue", now: float) -> None:
        """Drop (or dead-letter) expired messages at the head; time the next head's expiry."""
        while (head := queue.head()) is not None:
            lane, entry = head
            if entry.expires is None:
                return
            if entry.expires > now:
                self._expire_at(queue, entry.expires)
                return
            queue.discard(queue.pop(lane), "expired")

    def _expire_at(self, queue: "Queue", deadline: float) -> None:
        """Have the head checked when it expires (one timer per queue, the earliest needed)."""
        timer, vhost = self._timer, queue.vhost
        if vhost is None or (timer is not None and timer.active and timer.deadline <= deadline):
            return
        if timer is not None:
            timer.cancel()
        self._timer = vhost.timers.schedule(deadline, lambda: self._fired(queue))

    def _fired(self, queue: "Queue") -> None:
        self._timer = None
        if not queue.deleted:
            self.expire(queue, clock.now())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
