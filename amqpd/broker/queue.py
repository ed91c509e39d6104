"""Queues: ready messages in order, the consumers they go to, and requeue at original position."""

from __future__ import annotations

import bisect
from collections import deque
from typing import TYPE_CHECKING, Any, Hashable, Protocol

from amqpd.broker.message import Message

if TYPE_CHECKING:
    from amqpd.store.writer import Store


class Entry:
    """A message's place in one queue and whether it was delivered before.

    Message ids grow with publish order, so the id is also the message's position in any queue.
    """

    __slots__ = ("message", "redelivered")

    def __init__(self, message: Message, redelivered: bool = False) -> None:
        self.message = message
        self.redelivered = redelivered

    @property
    def seq(self) -> int:
        return self.message.id


# A stored message whose body is not in memory is held in the ready deque as its bare id,
# negated when it had been delivered before a restart (about 36 bytes instead of a few hundred).
Paged = int
PAGE_SIZE = 256  # stored messages read back per query


def _position(item: Entry | Paged) -> int:
    return abs(item) if type(item) is int else item.seq  # type: ignore[union-attr]


class Consumer(Protocol):
    """What a queue needs from a consumer (the session layer implements it)."""

    tag: str
    priority: int
    exclusive: bool

    def has_credit(self) -> bool: ...

    def deliver(self, queue: "Queue", entry: Entry) -> None: ...

    def cancel_by_server(self) -> None: ...


class Queue:
    """A queue's state; dispatch hands ready messages to consumers with credit, in order.

    A durable queue given a store (store_id set) writes its persistent messages there and keeps
    at most ``window`` of them in memory; the rest wait on disk as bare ids and are read back
    a page at a time as they reach the head of the queue.
    """

    def __init__(
        self,
        name: str,
        vhost: str,
        durable: bool = False,
        exclusive_owner: Hashable | None = None,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        store: "Store | None" = None,
        window: int = 2048,
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments or {}
        self.ready: deque[Entry | Paged] = deque()
        self.consumers: list[Consumer] = []
        self.unacked = 0
        self.deleted = False
        self.store = store
        self.store_id: int | None = None
        self.window = window
        self.in_memory = 0  # Entry objects in ready (the rest are Paged ids)
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

    def _stores(self, message: Message) -> bool:
        return self.store_id is not None and message.persistent and not self.deleted

    def enqueue(self, message: Message) -> int:
        """Add a message; returns the store ticket its durability waits on (0: nothing to wait for)."""
        ticket = 0
        if self._stores(message):
            ticket = self.store.put_message(self.store_id, message)  # type: ignore[union-attr,arg-type]
            if self.in_memory >= self.window:
                self.ready.append(message.id)
                return ticket
        self.ready.append(Entry(message))
        self.in_memory += 1
        if self.consumers:
            self.dispatch()
        return ticket

    def restore(self, stored: list[tuple[int, bool]]) -> None:
        """Messages recovered from the store, in order, left on disk until needed."""
        self.ready.extend(-mid if delivered else mid for mid, delivered in stored)

    def take(self) -> Entry | None:
        """Remove the next ready message (reading a page back from disk if it is there)."""
        ready = self.ready
        while ready:
            if type(ready[0]) is int:
                self._page_in()
                continue
            self.in_memory -= 1
            return ready.popleft()  # type: ignore[return-value]
        return None

    def _page_in(self) -> None:
        ready, ids = self.ready, []
        while ready and type(ready[0]) is int and len(ids) < PAGE_SIZE:
            ids.append(ready.popleft())
        rows = self.store.load(self.store_id, [abs(i) for i in ids])  # type: ignore[union-attr,arg-type]
        entries = [Entry(Message.restore(abs(i), *rows[abs(i)]), redelivered=i < 0) for i in ids if abs(i) in rows]
        ready.extendleft(reversed(entries))
        self.in_memory += len(entries)

    def hold(self, entry: Entry) -> None:
        """A delivery that awaits its ack; a stored one is marked delivered (redelivered after a restart)."""
        self.unacked += 1
        if self._stores(entry.message):
            self.store.mark_delivered(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def forget(self, entry: Entry) -> None:
        """A delivery that needs no ack (no_ack consumer or Get): it is gone from the queue."""
        if self._stores(entry.message):
            self.store.remove_message(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def settle(self, entries: list[Entry]) -> None:
        """Held deliveries were acked or rejected without requeue: remove them for good."""
        self.unacked -= len(entries)
        for entry in entries:
            self.forget(entry)

    def requeue(self, entries: list[Entry]) -> None:
        """Return held messages to their original positions, marked redelivered."""
        ready = self.ready
        for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
            entry.redelivered = True
            if not ready or entry.seq < _position(ready[0]):
                ready.appendleft(entry)
            elif entry.seq > _position(ready[-1]):
                ready.append(entry)
            else:
                ready.insert(bisect.bisect([_position(item) for item in ready], entry.seq), entry)
        self.in_memory += len(entries)
        self.unacked -= len(entries)
        self.dispatch()

    def purge(self) -> int:
        """Drop every ready message (held ones stay); returns how many."""
        count = len(self.ready)
        if self.store_id is not None and not self.deleted:
            for item in self.ready:
                if type(item) is int:
                    self.store.remove_message(self.store_id, abs(item))  # type: ignore[union-attr,arg-type]
                else:
                    self.forget(item)  # type: ignore[arg-type]
        self.ready.clear()
        self.in_memory = 0
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
            entry = self.take()
            if entry is None:
                return
            consumer.deliver(self, entry)

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
