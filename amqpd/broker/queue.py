"""Queues: ready messages in order, the consumers they go to, and requeue at original position."""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from typing import Any, Hashable, Protocol

from amqpd.broker.message import Message


class Entry:
    """A message's place in one queue: its sequence there and whether it was delivered before."""

    __slots__ = ("message", "seq", "redelivered")

    def __init__(self, message: Message, seq: int, redelivered: bool = False) -> None:
        self.message = message
        self.seq = seq
        self.redelivered = redelivered


class Consumer(Protocol):
    """What a queue needs from a consumer (the session layer implements it)."""

    tag: str
    priority: int
    exclusive: bool

    def has_credit(self) -> bool: ...

    def deliver(self, queue: "Queue", entry: Entry) -> None: ...

    def cancel_by_server(self) -> None: ...


class Queue:
    """A queue's state; dispatch hands ready messages to consumers with credit, in order."""

    def __init__(
        self,
        name: str,
        vhost: str,
        durable: bool = False,
        exclusive_owner: Hashable | None = None,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.ready: deque[Entry] = deque()
        self.consumers: list[Consumer] = []
        self.unacked = 0
        self.deleted = False
        self._seq = itertools.count()
        self._next_consumer = 0
        self._had_consumers = False

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost!r}>"

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    def message_count(self) -> int:
        """Messages ready for delivery (what Declare-Ok and Get-Ok report)."""
        return len(self.ready)

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    def enqueue(self, message: Message) -> None:
        self.ready.append(Entry(message, next(self._seq)))
        if self.consumers:
            self.dispatch()

    def get(self) -> Entry | None:
        """The next ready message for Basic.Get."""
        return self.ready.popleft() if self.ready else None

    def requeue(self, entries: list[Entry]) -> None:
        """Return unacked messages to their original positions, marked redelivered."""
        ready = self.ready
        for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
            entry.redelivered = True
            if not ready or entry.seq < ready[0].seq:
                ready.appendleft(entry)
            elif entry.seq > ready[-1].seq:
                ready.append(entry)
            else:
                ready.insert(bisect.bisect([e.seq for e in ready], entry.seq), entry)
        self.unacked -= len(entries)
        self.dispatch()

    def settle(self, count: int = 1) -> None:
        """Delivered messages were acked or dropped; their consumers may have credit again."""
        self.unacked -= count

    def purge(self) -> int:
        count = len(self.ready)
        self.ready.clear()
        return count

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.consumers.sort(key=lambda c: -c.priority)  # stable: arrival order within a priority
        self._had_consumers = True
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self.consumers:
            self.consumers.remove(consumer)

    @property
    def unused_auto_delete(self) -> bool:
        """An auto-delete queue goes once it has had a consumer and the last one left."""
        return self.auto_delete and self._had_consumers and not self.consumers

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Hand ready messages round-robin to the highest-priority consumers with credit."""
        ready, consumers = self.ready, self.consumers
        while ready and consumers:
            consumer = self._pick()
            if consumer is None:
                return
            self.unacked += 1
            consumer.deliver(self, ready.popleft())

    def _pick(self) -> Consumer | None:
        """Round-robin from where the last delivery left off, preferring higher priority.

        The round-robin position moves only when a consumer is picked: after a round where no
        consumer had credit, the next delivery starts where it would have (RabbitMQ's order).
        """
        consumers = self.consumers
        count, top = len(consumers), consumers[0].priority
        start = self._next_consumer % count
        best, best_index = None, 0
        for step in range(count):
            index = (start + step) % count
            consumer = consumers[index]
            if consumer.has_credit() and (best is None or consumer.priority > best.priority):
                best, best_index = consumer, index
                if consumer.priority == top:
                    break
        if best is not None:
            self._next_consumer = best_index + 1
        return best
