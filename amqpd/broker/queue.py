"""The classic queue: ready messages in order, paged to and from the store, the consumers they
go to (round-robin within the highest priority that has credit), and requeue at original position.

This is the core every queue runs per message. A queue with features that act on messages
(broker/features/: length limits, TTL, priority lanes, single active consumer, dead-lettering),
or that received a message with an expiration, holds them in ``features`` and takes the featured
path at a handful of branches on ``features is not None``; a plain queue never pays for them.
x-expires, which acts only on the queue's lifetime, is held apart in ``expires``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Hashable

from amqpd.broker import clock
from amqpd.broker.entry import Entry, Paged, insert
from amqpd.broker.features import Expires, Features, MessageTTL, Overflow
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.message import Message
from amqpd.broker.queue_type import (ACCEPTED, DROPPED, REJECTED, Consumer, Enqueued, QueueType, ReadySummary,
                                     Settle, stored)
from amqpd.broker.stats import MessageStats

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost
    from amqpd.store import Store


PAGE_SIZE = 256  # stored messages read back per query


class Queue(QueueType):
    """A classic queue's state; dispatch hands ready messages to consumers with credit, in order.

    A durable queue given a store (store_id set) writes its persistent messages there and keeps
    at most ``window`` of them in memory; the rest wait on disk as Paged ids and are read back
    a page at a time as they reach the head of the queue. A queue with features keeps all its
    messages in memory.

    ``vhost`` is the VirtualHost the queue lives in (``vhost_name`` its name): it has the timers
    (TTL, x-expires), the dead-letter exchange, and removes the queue when x-expires says so.
    """

    def __init__(
        self,
        name: str,
        vhost_name: str,
        durable: bool = False,
        exclusive_owner: Hashable | None = None,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        store: "Store | None" = None,
        window: int = 2048,
        vhost: "VirtualHost | None" = None,
    ) -> None:
        self.name = name
        self.vhost_name = vhost_name
        self.durable = durable
        self.exclusive_owner = exclusive_owner
        self.auto_delete = auto_delete
        self.arguments = arguments = arguments or {}
        self.ready: deque[Entry | Paged] = deque()
        self.consumers: list[Consumer] = []
        self.unacked_count = 0
        self.deleted = False
        self.stats = MessageStats()
        self.store = store
        self.store_id: int | None = None
        self.window = window
        self.vhost = vhost
        # body bytes of this queue's messages in memory, ready or unacked, count in the node's ledger
        self.memory = vhost.memory if vhost is not None else MemoryLedger()
        self.in_memory = 0  # Entry objects in ready (the rest are Paged)
        self.delivered_before_restart: set[Paged] = set()  # paged ids that come back redelivered
        self.ready_bytes = 0  # body bytes of the ready entries (kept while there are features)
        self.paged_bytes = 0  # body bytes of the messages this run paged out (recovered ones: unknown)
        self.recovered_below = 0  # message ids under this were recovered from the store at start-up
        self._next_consumer = 0
        self._had_consumers = False
        self.features = features = Features.declared(arguments)
        self.expires = Expires.of(arguments)
        # ready messages by priority (index); a queue without priorities has one lane, ready
        self.lanes: list[deque[Entry | Paged]] = (
            [self.ready] if features is None or features.priority is None
            else [deque() for _ in range(features.priority.lanes)])
        self.touch()

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} in {self.vhost_name!r}>"

    @property
    def message_count(self) -> int:
        if self.lanes[0] is self.ready:
            return len(self.ready)
        return sum(len(lane) for lane in self.lanes)

    def message_bytes_ready(self) -> int:
        """Paged messages (ids only; their bodies are on disk) are not counted."""
        return sum(item.message.size for lane in self.lanes for item in lane if type(item) is Entry)

    def ready_summary(self) -> ReadySummary:
        in_memory = in_memory_bytes = persistent = persistent_bytes = paged = 0
        first_paged = last_paged = None
        stores = self.store_id is not None
        for lane in self.lanes:
            for item in lane:
                if type(item) is Paged:
                    paged += 1
                    first_paged = item if first_paged is None else min(first_paged, item)
                    last_paged = item if last_paged is None else max(last_paged, item)
                    continue
                message = item.message  # type: ignore[union-attr]
                in_memory += 1
                in_memory_bytes += message.size
                if stores and message.persistent:
                    persistent += 1
                    persistent_bytes += message.size
        head_lane = next((lane for lane in reversed(self.lanes) if lane), None)  # the highest priority first
        first = head_lane[0] if head_lane else None
        return ReadySummary(in_memory, in_memory_bytes, paged, self.paged_bytes, persistent + paged,
                            persistent_bytes + self.paged_bytes,
                            first.message if first is not None and type(first) is not Paged else None,  # type: ignore[union-attr]
                            None if first_paged is None else (first_paged, last_paged))  # type: ignore[arg-type]

    @property
    def single_active_consumer(self) -> bool:
        return self.features is not None and self.features.single_active is not None

    def _stores(self, message: Message) -> bool:
        return self.store_id is not None and message.persistent and not self.deleted

    def _put(self, message: Message) -> Enqueued:
        """Write a persistent message to the store: STORED in the batch its confirm waits on."""
        return stored(self.store.put_message(  # type: ignore[union-attr]
            self.store_id, message.id, message.exchange, message.routing_key,  # type: ignore[arg-type]
            message.raw_properties, message.body))

    def enqueue(self, message: Message) -> Enqueued:
        """Add a message: ACCEPTED, STORED in the batch its durability waits on, DROPPED at
        once, or REJECTED when a reject-publish length limit refused it."""
        if self.features is not None or message.expiration is not None:
            return self._enqueue_featured(message)
        result = ACCEPTED
        if self._stores(message):
            result = self._put(message)
            if self.in_memory >= self.window:
                self.ready.append(message.id)
                self.paged_bytes += message.size
                return result
        self.ready.append(Entry(message))
        self.in_memory += 1
        self.memory.queued += len(message.body)
        if self.consumers:
            self.dispatch()
        return result

    def restore(self, stored_messages: list[tuple[int, int]]) -> None:
        """Messages recovered from the store, in order, left on disk until needed (a queue with
        features reads them all back: their TTL starts again now)."""
        items: deque[Entry | Paged] = deque(mid for mid, _ in stored_messages)
        self.recovered_below = max((mid + 1 for mid, _ in stored_messages), default=self.recovered_below)
        self.delivered_before_restart.update(mid for mid, delivered in stored_messages if delivered)
        if self.features is not None:
            self._restore_featured(items)
        else:
            self.ready.extend(items)

    def take(self) -> Entry | None:
        """Remove the next ready message (reading a page back from disk if it is there)."""
        ready = self.ready
        while True:  # features are tested each turn: reading a page in can add them (not narrowed away)
            if self.features is not None:
                return self._take_featured()
            if not ready:
                return None
            if type(ready[0]) is Paged:
                self._page_in(ready)
                continue
            self.in_memory -= 1
            return ready.popleft()  # type: ignore[return-value]

    def peek(self, count: int) -> list[Entry]:
        """Ready messages in delivery order (priority lanes highest first), expired ones skipped;
        paged ones are read from the store into entries the queue does not keep."""
        now = clock.now()
        found: list[Entry] = []
        for lane in reversed(self.lanes):
            paged: list[Paged] = []
            for item in lane:
                if len(found) + len(paged) >= count:
                    break
                if type(item) is Paged:
                    paged.append(item)
                    continue
                found += self._read(paged)
                paged = []
                if item.expires is None or item.expires > now:  # type: ignore[union-attr]
                    found.append(item)  # type: ignore[arg-type]
            found += self._read(paged)
        return found

    def _read(self, paged: list[Paged]) -> list[Entry]:
        """Stored messages as new entries, a page per query; the lanes and memory ledger are not touched."""
        delivered = self.delivered_before_restart
        entries = []
        for start in range(0, len(paged), PAGE_SIZE):
            page = paged[start:start + PAGE_SIZE]
            rows = self.store.load(self.store_id, page)  # type: ignore[union-attr,arg-type]
            entries += [Entry(Message.restore(seq, *rows[seq]), redelivered=seq in delivered)
                        for seq in page if seq in rows]
        return entries

    def _load(self, lane: deque[Entry | Paged]) -> list[Entry]:
        """Take the run of paged messages at the head of a lane and read them back."""
        paged: list[Paged] = []
        while lane and type(lane[0]) is Paged and len(paged) < PAGE_SIZE:
            paged.append(lane.popleft())  # type: ignore[arg-type]
        entries = self._read(paged)
        delivered = self.delivered_before_restart
        if delivered:
            delivered.difference_update(paged)
        self.memory.queued += sum(len(entry.message.body) for entry in entries)
        self.paged_bytes -= sum(entry.message.size for entry in entries if entry.seq >= self.recovered_below)
        return entries

    def _page_in(self, lane: deque[Entry | Paged]) -> None:
        """Put the messages paged out at the head of a lane back in memory."""
        entries = self._load(lane)
        if self.features is not None or any(entry.message.expiration is not None for entry in entries):
            self._paged_in(entries)
        lane.extendleft(reversed(entries))
        self.in_memory += len(entries)

    def hold(self, entry: Entry) -> None:
        """A delivery that awaits its ack; a stored one is marked delivered (redelivered after a restart)."""
        self.unacked_count += 1
        if self._stores(entry.message):
            self.store.mark_delivered(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def forget(self, entry: Entry) -> None:
        """A message leaves the queue for good (delivered with no ack, settled, dropped)."""
        self.memory.queued -= len(entry.message.body)
        if self._stores(entry.message):
            self.store.remove_message(self.store_id, entry.seq)  # type: ignore[union-attr,arg-type]

    def settle(self, entries: list[Entry], how: Settle) -> None:
        """Finish held deliveries: ACK removes them, DROP removes and dead-letters them,
        REQUEUE returns them to their original positions marked redelivered (a deleted queue
        has no positions: they are removed)."""
        self.unacked_count -= len(entries)
        if (how is Settle.REQUEUE or how is Settle.RELEASE) and not self.deleted:
            for entry in entries:
                entry.redelivered = True
            self.in_memory += len(entries)
            if self.features is not None:
                self._requeue_featured(entries)
            else:
                insert(self.ready, entries)
        else:
            for entry in entries:
                self.forget(entry)
            if how is Settle.DROP and not self.deleted:
                for entry in entries:
                    self.dead_letter(entry.message, "rejected")
        self.dispatch()

    def purge(self) -> int:
        """Drop every ready message (held ones stay); returns how many."""
        count = self.message_count
        stored_here = self.store_id is not None and not self.deleted
        for lane in self.lanes:
            for item in lane:
                if type(item) is not Paged:
                    self.forget(item)  # type: ignore[arg-type]
                elif stored_here:
                    self.store.remove_message(self.store_id, item)  # type: ignore[union-attr,arg-type]
            lane.clear()
        self.delivered_before_restart.clear()
        self.in_memory = 0
        self.ready_bytes = 0
        self.paged_bytes = 0
        return count

    def delete(self) -> int:
        """The queue is gone (its store records are removed by the vhost): stop its timers,
        drop its ready messages, cancel its consumers; returns how many messages it had."""
        self.deleted = True
        if self.features is not None:
            self.features.stop()
        if self.expires is not None:
            self.expires.stop()
        count = self.purge()
        for consumer in list(self.consumers):
            consumer.cancel_by_server()
        self.consumers.clear()
        return count

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.consumers.sort(key=lambda c: -c.priority)  # stable: arrival order within a priority
        self._had_consumers = True
        if self.features is not None and self.features.single_active is not None:
            self.features.single_active.added(consumer)
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        """Detach a consumer: with a single active consumer the next one takes over; with
        x-expires an unused queue starts counting again."""
        if consumer in self.consumers:
            self.consumers.remove(consumer)
            features = self.features
            if features is not None and features.single_active is not None:
                if features.single_active.left(consumer, self.consumers):
                    self.dispatch()
            self.touch()

    @property
    def unused_auto_delete(self) -> bool:
        return self.auto_delete and self._had_consumers and not self.consumers

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Hand ready messages round-robin to the highest-priority consumers with credit
        (with features they may wait in other priority lanes than ``ready``)."""
        ready, consumers, features = self.ready, self.consumers, self.features
        while consumers and (ready or features is not None and self.message_count):
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
        if self.features is not None and self.features.single_active is not None:
            return self.features.single_active.pick()
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

    # -- features: x-expires, dead-lettering, applying arguments to a live queue ----------------

    def touch(self) -> None:
        """The queue was used (declared, Basic.Get, or its last consumer left): with x-expires
        and no consumers it is deleted after that many ms unless used again."""
        if self.expires is not None:
            self.expires.touch(self)

    def dead_letter(self, message: Message, reason: str) -> None:
        """Hand a message that leaves the queue undelivered to its dead-letter exchange, if any."""
        if self.features is not None and self.features.dead_letter is not None:
            self.features.dead_letter.publish(self, message, reason)

    def discard(self, entry: Entry, reason: str) -> None:
        """A ready message leaves the queue undelivered: gone from the store, maybe dead-lettered."""
        self.forget(entry)
        self.dead_letter(entry.message, reason)

    def apply_arguments(self, effective: dict[str, Any]) -> None:
        """Recompute the features from effective arguments on the live queue, messages kept.

        A new or lower length limit drops the oldest messages over it (dead-lettered, reason
        maxlen) whatever the overflow mode, as RabbitMQ 3.10 does on a policy change; a message
        TTL applies to messages enqueued from now on (those queued keep their deadlines); a new
        x-expires counts from now. Priority lanes and single active consumer stay as declared
        (RabbitMQ refuses them in policies).
        """
        expires = Expires.of(effective)
        if self.expires is not None and (expires is None or expires.ms != self.expires.ms):
            self.expires.stop()
            self.expires = None
        if expires is not None and self.expires is None:
            self.expires = expires
            self.touch()
        had = self.features
        self.features = features = Features.applied(effective, had)
        if features is None:
            return
        if had is None:
            self.ready_bytes = sum(item.message.size for item in self.ready if type(item) is Entry)
        if features.max_length is not None:
            features.max_length.drop_head(self)
        if features.message_ttl is not None:
            features.message_ttl.expire(self, clock.now())
        self.dispatch()

    # -- the featured path of enqueue, take, requeue and paging ---------------------------------

    def _with_message_ttl(self) -> Features:
        """A message with an expiration met a queue without message TTL: it gets the component
        (with no queue TTL) from now on."""
        features = self.features
        if features is None:
            self.features = features = Features(message_ttl=MessageTTL(None))
            self.ready_bytes = sum(item.message.size for item in self.ready if type(item) is Entry)
        elif features.message_ttl is None:
            features.message_ttl = MessageTTL(None)
        return features

    def _enqueue_featured(self, message: Message) -> Enqueued:
        """RabbitMQ's maybe_deliver_or_enqueue: refuse over a reject-publish limit, else hand
        the message to a waiting consumer at once, else queue it, then drop what is over the
        length limit and what expired at the head."""
        features = self.features
        if message.expiration is not None and (features is None or features.message_ttl is None):
            features = self._with_message_ttl()
        assert features is not None
        limit = features.max_length
        if limit is not None and limit.refuses(self, message):
            if limit.overflow is Overflow.REJECT_PUBLISH_DLX:
                self.dead_letter(message, "maxlen")
            return REJECTED
        result = ACCEPTED
        if self._stores(message):
            result = self._put(message)
        now = clock.now()
        ttl = features.message_ttl
        entry = Entry(message, expires=None if ttl is None else ttl.deadline(message, now))
        self.memory.queued += message.size
        if self.consumers and not self.message_count:
            consumer = self._pick()
            if consumer is not None:
                consumer.deliver(self, entry)
                return result
        lane = self._add(entry, now)
        self._trim(now)
        return result if lane and lane[-1] is entry else DROPPED

    def _restore_featured(self, items: deque[Entry | Paged]) -> None:
        """Recovered messages all read back into their lanes; their TTL starts again now."""
        now = clock.now()
        while items:
            for entry in self._load(items):
                self._add(entry, now)
        self._trim(now)

    def _paged_in(self, entries: list[Entry]) -> None:
        """Messages read back from disk get their deadlines (counted from now) and count as
        ready bytes; the first with an expiration gives a queue the message TTL component."""
        features = self.features
        if features is None or features.message_ttl is None:
            if not any(entry.message.expiration is not None for entry in entries):
                for entry in entries:
                    self.ready_bytes += entry.message.size
                return
            features = self._with_message_ttl()
        ttl, now = features.message_ttl, clock.now()
        assert ttl is not None
        for entry in entries:
            entry.expires = ttl.deadline(entry.message, now)
            self.ready_bytes += entry.message.size

    def _take_featured(self) -> Entry | None:
        """The next live message; expired ones met at the head on the way are dropped."""
        now = clock.now()
        self._expire(now)
        head = self.head()
        if head is None:
            return None
        entry = self.pop(head[0])
        self._expire(now)
        return entry

    def _requeue_featured(self, entries: list[Entry]) -> None:
        """Requeued messages go back to their own lanes, then the limits apply again."""
        for entry in entries:
            self.ready_bytes += entry.message.size
        lanes: dict[int, list[Entry]] = {}
        for entry in entries:
            lanes.setdefault(self._lane_of(entry.message), []).append(entry)
        for index, group in lanes.items():
            insert(self.lanes[index], group)
        self._trim(clock.now())

    def _lane_of(self, message: Message) -> int:
        priority = self.features.priority if self.features is not None else None
        return 0 if priority is None else priority.lane_of(message)

    def head(self) -> tuple[deque[Entry | Paged], Entry] | None:
        """The lane holding the next message to deliver, and that message (read back if paged)."""
        for lane in reversed(self.lanes):
            if lane:
                if type(lane[0]) is Paged:
                    self._page_in(lane)
                    return self.head()
                return lane, lane[0]  # type: ignore[return-value]
        return None

    def pop(self, lane: deque[Entry | Paged]) -> Entry:
        """Remove the head of a lane (as ``head`` returned it) from the ready messages."""
        entry: Entry = lane.popleft()  # type: ignore[assignment]
        self.in_memory -= 1
        self.ready_bytes -= entry.message.size
        return entry

    def _add(self, entry: Entry, now: float) -> deque[Entry | Paged]:
        """Append a ready entry to its lane (giving it a deadline if it has none yet); returns the lane."""
        if entry.expires is None:
            features = self.features
            if entry.message.expiration is not None and (features is None or features.message_ttl is None):
                features = self._with_message_ttl()
            if features is not None and features.message_ttl is not None:
                entry.expires = features.message_ttl.deadline(entry.message, now)
        lane = self.lanes[self._lane_of(entry.message)]
        lane.append(entry)
        self.in_memory += 1
        self.ready_bytes += entry.message.size
        return lane

    def _trim(self, now: float) -> None:
        """Drop what is over the length limit, then what expired at the head."""
        features = self.features
        if features is not None and features.max_length is not None:
            features.max_length.trim(self)
        self._expire(now)

    def _expire(self, now: float) -> None:
        features = self.features
        if features is not None and features.message_ttl is not None:
            features.message_ttl.expire(self, now)
