"""Queues: ready messages in order, paged to and from the store, the consumers they go to
(round-robin within the highest priority that has credit), and requeue at original position.

This is the core every queue runs per message. A queue declared with delivery-changing arguments
(TTL, length limits, dead-lettering, priorities, single active consumer), or that received a
message with an expiration, takes the "special" path of queue_options.SpecialPath at a handful
of branches on ``special``; a plain queue never pays for those features.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Hashable, Protocol

from amqpd.broker.entry import Entry, Paged, insert
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.message import Message
from amqpd.broker.queue_options import SpecialPath

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost
    from amqpd.store.writer import Store


PAGE_SIZE = 256  # stored messages read back per query


class Consumer(Protocol):
    """What a queue needs from a consumer (the session layer implements it)."""

    tag: str
    priority: int
    exclusive: bool

    def has_credit(self) -> bool: ...

    def deliver(self, queue: "Queue", entry: Entry) -> None: ...

    def cancel_by_server(self) -> None: ...


class Queue(SpecialPath):
    """A queue's state; dispatch hands ready messages to consumers with credit, in order.

    A durable queue given a store (store_id set) writes its persistent messages there and keeps
    at most ``window`` of them in memory; the rest wait on disk as bare ids and are read back
    a page at a time as they reach the head of the queue. A queue declared with arguments
    that change delivery keeps all its messages in memory.

    ``host`` is the vhost the queue lives in: it has the timers (TTL, x-expires), the
    dead-letter exchange, and removes the queue when x-expires says so.
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
        host: "VirtualHost | None" = None,
    ) -> None:
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments = arguments or {}
        self.ready: deque[Entry | Paged] = deque()
        self.consumers: list[Consumer] = []
        self.unacked = 0
        self.deleted = False
        self.store = store
        self.store_id: int | None = None
        self.window = window
        self.host = host
        # body bytes of this queue's messages in memory, ready or unacked, count in the node's ledger
        self.memory = host.memory if host is not None else MemoryLedger()
        self.in_memory = 0  # Entry objects in ready (the rest are Paged ids)
        self._next_consumer = 0
        self._had_consumers = False
        self._apply_arguments(arguments)  # options, special, lanes and the rest of SpecialPath

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost!r}>"

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    def message_count(self) -> int:
        """Messages ready for delivery (what Declare-Ok and Get-Ok report)."""
        if self.lanes[0] is self.ready:
            return len(self.ready)
        return sum(len(lane) for lane in self.lanes)

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    def _stores(self, message: Message) -> bool:
        return self.store_id is not None and message.persistent and not self.deleted

    def enqueue(self, message: Message) -> int:
        """Add a message; returns the store ticket its durability waits on (0: nothing to wait
        for), or REJECTED when a reject-publish length limit refused it."""
        if self.special or message.expiration is not None:
            return self._enqueue_special(message)
        ticket = 0
        if self._stores(message):
            ticket = self.store.put_message(self.store_id, message.id, message.exchange, message.routing_key,  # type: ignore[union-attr,arg-type]
                                            message.raw_properties, message.body)
            if self.in_memory >= self.window:
                self.ready.append(message.id)
                return ticket
        self.ready.append(Entry(message))
        self.in_memory += 1
        self.memory.queued += len(message.body)
        if self.consumers:
            self.dispatch()
        return ticket

    def restore(self, stored: list[tuple[int, bool]]) -> None:
        """Messages recovered from the store, in order, left on disk until needed (a queue with
        delivery-changing arguments reads them all back: their TTL starts again now)."""
        items: deque[Entry | Paged] = deque(-mid if delivered else mid for mid, delivered in stored)
        if self.special:
            self._restore_special(items)
        else:
            self.ready.extend(items)

    def take(self) -> Entry | None:
        """Remove the next ready message (reading a page back from disk if it is there)."""
        if self.special:
            return self._take_special()
        ready = self.ready
        while ready:
            if type(ready[0]) is int:
                self._page_in(ready)
                if self.special:
                    return self._take_special()
                continue
            self.in_memory -= 1
            return ready.popleft()  # type: ignore[return-value]
        return None

    def _load(self, lane: deque[Entry | Paged]) -> list[Entry]:
        """Take the run of paged ids at the head of a lane and read those messages back."""
        ids: list[int] = []
        while lane and type(lane[0]) is int and len(ids) < PAGE_SIZE:
            ids.append(lane.popleft())  # type: ignore[arg-type]
        rows = self.store.load(self.store_id, [abs(i) for i in ids])  # type: ignore[union-attr,arg-type]
        entries = [Entry(Message.restore(abs(i), *rows[abs(i)]), redelivered=i < 0) for i in ids if abs(i) in rows]
        self.memory.queued += sum(len(entry.message.body) for entry in entries)
        return entries

    def _page_in(self, lane: deque[Entry | Paged]) -> None:
        """Put the messages paged out at the head of a lane back in memory."""
        entries = self._load(lane)
        if self.special or any(entry.message.expiration is not None for entry in entries):
            self._paged_in(entries)
        lane.extendleft(reversed(entries))
        self.in_memory += len(entries)

    def hold(self, entry: Entry) -> None:
        """A delivery that awaits its ack; a stored one is marked delivered (redelivered after a restart)."""
        self.unacked += 1
        if self._stores(entry.message):
            self.store.mark_delivered(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def forget(self, entry: Entry) -> None:
        """A message leaves the queue for good (delivered with no ack, settled, dropped)."""
        self.memory.queued -= len(entry.message.body)
        if self._stores(entry.message):
            self.store.remove_message(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def settle(self, entries: list[Entry]) -> None:
        """Held deliveries were acked or rejected without requeue: remove them for good."""
        self.unacked -= len(entries)
        for entry in entries:
            self.forget(entry)

    def requeue(self, entries: list[Entry]) -> None:
        """Return held messages to their original positions, marked redelivered."""
        for entry in entries:
            entry.redelivered = True
        self.in_memory += len(entries)
        self.unacked -= len(entries)
        if self.special:
            self._requeue_special(entries)
        else:
            insert(self.ready, entries)
        self.dispatch()

    def purge(self) -> int:
        """Drop every ready message (held ones stay); returns how many."""
        count = self.message_count
        stored = self.store_id is not None and not self.deleted
        for lane in self.lanes:
            for item in lane:
                if type(item) is not int:
                    self.forget(item)  # type: ignore[arg-type]
                elif stored:
                    self.store.remove_message(self.store_id, abs(item))  # type: ignore[union-attr,arg-type]
            lane.clear()
        self.in_memory = 0
        self.ready_bytes = 0
        return count

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.consumers.sort(key=lambda c: -c.priority)  # stable: arrival order within a priority
        self._had_consumers = True
        self._consumer_added(consumer)
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        """Detach a consumer (see SpecialPath._consumer_left for what its arguments do then)."""
        if consumer in self.consumers:
            self.consumers.remove(consumer)
            self._consumer_left(consumer)

    @property
    def unused_auto_delete(self) -> bool:
        """An auto-delete queue goes once it has had a consumer and the last one left."""
        return self.auto_delete and self._had_consumers and not self.consumers

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Hand ready messages round-robin to the highest-priority consumers with credit
        (on the special path they may wait in other priority lanes than ``ready``)."""
        ready, consumers, special = self.ready, self.consumers, self.special
        while consumers and (ready or special and self.message_count):
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
        With a single active consumer, only that one is ever picked.
        """
        if self.special and self.options.single_active:
            return self._pick_active()
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
