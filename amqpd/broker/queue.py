"""Queues: ready messages in order, the consumers they go to, and requeue at original position.

A queue declared with delivery-changing arguments (TTL, length limits, dead-lettering, priorities,
single active consumer), or that received a message with an expiration, takes the "special" path
of enqueue/take/requeue; a plain queue never pays for those features.
"""

from __future__ import annotations

import bisect
import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Hashable, Iterable, Protocol

from amqpd.broker import deadletter
from amqpd.broker.message import Message
from amqpd.broker.tables import text
from amqpd.broker.timers import Timer, clock

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost
    from amqpd.store.writer import Store

REJECTED = -1  # enqueue's answer when a length limit refuses the message (reject-publish)
MAX_EXPIRATION = 315_360_000_000  # ten years in ms, RabbitMQ's limit for a message's expiration
_ERL_INTEGER = re.compile(r"([+-]?[0-9]+)(.*)", re.S)


def parse_expiration(value: str) -> int:
    """A message's expiration in ms, as RabbitMQ's parse_expiration reads it (Erlang's
    string:to_integer); ValueError carries RabbitMQ's reason term for a bad one."""
    match = _ERL_INTEGER.fullmatch(value)
    if match is None:
        raise ValueError("no_integer")
    number, rest = int(match[1]), match[2]
    if rest:
        escaped = rest.replace("\\", "\\\\").replace('"', '\\"')
        raise ValueError(f'{{leftover_string,"{escaped}"}}')
    if number < 0:
        raise ValueError(f"{{value_negative,{number}}}")
    if number > MAX_EXPIRATION:
        raise ValueError(f"{{value_too_large,{number}}}")
    return number


class Entry:
    """A message's place in one queue, whether it was delivered before, and when it expires.

    Message ids grow with publish order, so the id is also the message's position in any queue.
    ``expires`` (a timers.clock() deadline) is set only on queues that take the special path.
    """

    __slots__ = ("message", "redelivered", "expires")

    def __init__(self, message: Message, redelivered: bool = False, expires: float | None = None) -> None:
        self.message = message
        self.redelivered = redelivered
        self.expires = expires

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


@dataclass(slots=True, frozen=True)
class Options:
    """The declared arguments that change how a queue delivers (validated at declaration)."""

    ttl: int | None = None  # x-message-ttl, ms
    expires: int | None = None  # x-expires, ms
    max_length: int | None = None
    max_bytes: int | None = None
    overflow: str = "drop-head"
    dlx: str | None = None  # x-dead-letter-exchange
    dlrk: str | None = None  # x-dead-letter-routing-key
    max_priority: int | None = None
    single_active: bool = False

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "Options":
        dlx, dlrk = arguments.get("x-dead-letter-exchange"), arguments.get("x-dead-letter-routing-key")
        max_priority = arguments.get("x-max-priority")
        return cls(arguments.get("x-message-ttl"), arguments.get("x-expires"), arguments.get("x-max-length"),
                   arguments.get("x-max-length-bytes"), text(arguments.get("x-overflow", "drop-head")),
                   None if dlx is None else text(dlx), None if dlrk is None else text(dlrk),
                   None if max_priority is None else min(max_priority, 255),
                   arguments.get("x-single-active-consumer") is True)

    @property
    def special(self) -> bool:
        """Whether a queue with these options needs the special path at all."""
        return (self.single_active or self.max_priority is not None or self.dlx is not None
                or any(limit is not None for limit in (self.ttl, self.max_length, self.max_bytes)))


class Queue:
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
        self.in_memory = 0  # Entry objects in ready (the rest are Paged ids)
        self._next_consumer = 0
        self._had_consumers = False
        self.options = options = Options.of(arguments)
        # ready messages by priority (index); a queue without priorities has one lane, ready
        self.lanes: list[deque[Entry | Paged]] = (
            [self.ready] if options.max_priority is None else [deque() for _ in range(options.max_priority + 1)])
        self.active: Consumer | None = None  # the single active consumer
        self.special = options.special
        self.ready_bytes = 0  # body bytes of the ready messages (kept on the special path)
        self._ttl_timer: Timer | None = None
        self._expiry_timer: Timer | None = None
        self._unused_until = 0.0
        self.touch()

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
        """Messages recovered from the store, in order, left on disk until needed (a queue with
        delivery-changing arguments reads them all back: their TTL starts again now)."""
        items: deque[Entry | Paged] = deque(-mid if delivered else mid for mid, delivered in stored)
        if not self.special:
            self.ready.extend(items)
            return
        now = clock()
        while items:
            for entry in self._load(items):
                self._add(entry, now)
        self._drop_over_limit()
        self._drop_expired(now)

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
        return [Entry(Message.restore(abs(i), *rows[abs(i)]), redelivered=i < 0) for i in ids if abs(i) in rows]

    def _page_in(self, lane: deque[Entry | Paged]) -> None:
        """Put the messages paged out at the head of a lane back in memory."""
        entries = self._load(lane)
        if not self.special and any(entry.message.expiration is not None for entry in entries):
            self._become_special()
        if self.special:
            now = clock()
            for entry in entries:
                entry.expires = self._deadline(entry.message, now)
                self.ready_bytes += entry.message.size
        lane.extendleft(reversed(entries))
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

    def reject(self, entries: list[Entry]) -> None:
        """Held deliveries rejected without requeue: removed, and dead-lettered if configured."""
        self.settle(entries)
        if self.options.dlx is not None and self.host is not None and not self.deleted:
            for entry in entries:
                deadletter.publish(self.host, self, entry.message, "rejected")

    def requeue(self, entries: list[Entry]) -> None:
        """Return held messages to their original positions, marked redelivered."""
        for entry in entries:
            entry.redelivered = True
        if self.special:
            for entry in entries:
                self.ready_bytes += entry.message.size
            for priority, group in self._by_lane(entries).items():
                _insert(self.lanes[priority], group)
        else:
            _insert(self.ready, entries)
        self.in_memory += len(entries)
        self.unacked -= len(entries)
        if self.special:
            self._drop_over_limit()
            self._drop_expired(clock())
        self.dispatch()

    def _by_lane(self, entries: list[Entry]) -> dict[int, list[Entry]]:
        lanes: dict[int, list[Entry]] = {}
        for entry in entries:
            lanes.setdefault(self._lane_of(entry.message), []).append(entry)
        return lanes

    def purge(self) -> int:
        """Drop every ready message (held ones stay); returns how many."""
        count = self.message_count
        for lane in self.lanes:
            if self.store_id is not None and not self.deleted:
                for item in lane:
                    if type(item) is int:
                        self.store.remove_message(self.store_id, abs(item))  # type: ignore[union-attr,arg-type]
                    else:
                        self.forget(item)  # type: ignore[arg-type]
            lane.clear()
        self.in_memory = 0
        self.ready_bytes = 0
        return count

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        self.consumers.sort(key=lambda c: -c.priority)  # stable: arrival order within a priority
        self._had_consumers = True
        if self.options.single_active and self.active is None:
            self.active = consumer
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        """Detach a consumer; with a single active consumer the next one (highest priority,
        then oldest) takes over. An unused queue with x-expires starts counting again."""
        if consumer in self.consumers:
            self.consumers.remove(consumer)
            if consumer is self.active:
                self.active = self.consumers[0] if self.consumers else None
                self.dispatch()
            self.touch()

    @property
    def unused_auto_delete(self) -> bool:
        """An auto-delete queue goes once it has had a consumer and the last one left."""
        return self.auto_delete and self._had_consumers and not self.consumers

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    def dispatch(self) -> None:
        """Hand ready messages round-robin to the highest-priority consumers with credit."""
        if self.special:
            self._dispatch_special()
            return
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
        With a single active consumer, only that one is ever picked.
        """
        if self.special and self.options.single_active:
            active = self.active
            return active if active is not None and active.has_credit() else None
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

    # -- the special path: TTL, length limits, dead-lettering, priorities ----------------------

    def _deadline(self, message: Message, now: float) -> float | None:
        """When a message enqueued now expires: the lower of the queue's and its own TTL."""
        ttl = self.options.ttl
        if message.expiration is not None:
            own = parse_expiration(message.expiration)
            ttl = own if ttl is None else min(ttl, own)
        return None if ttl is None else now + ttl / 1000

    def _lane_of(self, message: Message) -> int:
        """A message's priority lane: none is 0, above the maximum is the maximum."""
        top = len(self.lanes) - 1
        return min(message.priority or 0, top) if top else 0

    def _head_lane(self) -> deque[Entry | Paged] | None:
        for lane in reversed(self.lanes):
            if lane:
                return lane
        return None

    def _head(self) -> tuple[deque[Entry | Paged], Entry] | None:
        """The lane holding the next message to deliver, and that message (read back if paged)."""
        lane = self._head_lane()
        if lane is None:
            return None
        if type(lane[0]) is int:
            self._page_in(lane)
            return self._head()
        return lane, lane[0]  # type: ignore[return-value]

    def _add(self, entry: Entry, now: float) -> None:
        if entry.expires is None:
            entry.expires = self._deadline(entry.message, now)
        self.lanes[self._lane_of(entry.message)].append(entry)
        self.in_memory += 1
        self.ready_bytes += entry.message.size

    def _pop(self, lane: deque[Entry | Paged]) -> Entry:
        entry: Entry = lane.popleft()  # type: ignore[assignment]
        self.in_memory -= 1
        self.ready_bytes -= entry.message.size
        return entry

    def _become_special(self) -> None:
        """A plain queue met its first message with an expiration: the special path from now on."""
        self.special = True
        self.ready_bytes = sum(item.message.size for item in self.ready if isinstance(item, Entry))

    def _enqueue_special(self, message: Message) -> int:
        """RabbitMQ's maybe_deliver_or_enqueue: refuse over a reject-publish limit, else hand
        the message to a waiting consumer at once, else queue it, then drop what is over the
        length limit and what expired at the head."""
        if not self.special:
            self._become_special()
        if self.options.overflow != "drop-head" and self._over_limit(1, message.size):
            if self.options.overflow == "reject-publish-dlx":
                self._dead_letter(message, "maxlen")
            return REJECTED
        ticket = 0
        if self._stores(message):
            ticket = self.store.put_message(self.store_id, message)  # type: ignore[union-attr,arg-type]
        now = clock()
        entry = Entry(message, expires=self._deadline(message, now))
        if self.consumers and not self.message_count:
            consumer = self._pick()
            if consumer is not None:
                consumer.deliver(self, entry)
                return ticket
        self._add(entry, now)
        self._drop_over_limit()
        self._drop_expired(now)
        return ticket

    def _over_limit(self, extra_messages: int = 0, extra_bytes: int = 0) -> bool:
        """Whether the ready messages (plus those extra) exceed x-max-length or x-max-length-bytes."""
        max_length, max_bytes = self.options.max_length, self.options.max_bytes
        return ((max_length is not None and self.message_count + extra_messages > max_length)
                or (max_bytes is not None and self.ready_bytes + extra_bytes > max_bytes))

    def _drop_over_limit(self) -> None:
        """drop-head: the next messages to deliver make way while the queue is over a limit."""
        if self.options.overflow != "drop-head":
            return
        while self._over_limit():
            head = self._head()
            if head is None:
                return
            self._discard(self._pop(head[0]), "maxlen")

    def _dispatch_special(self) -> None:
        while self.consumers and self.message_count:
            consumer = self._pick()
            if consumer is None:
                return
            entry = self._take_special()
            if entry is None:
                return
            consumer.deliver(self, entry)

    def _take_special(self) -> Entry | None:
        """The next live message; expired ones met at the head on the way are dropped."""
        now = clock()
        self._drop_expired(now)
        head = self._head()
        if head is None:
            return None
        entry = self._pop(head[0])
        self._drop_expired(now)
        return entry

    def _drop_expired(self, now: float) -> None:
        """Drop (or dead-letter) expired messages at the head; time the next head's expiry."""
        while (head := self._head()) is not None:
            lane, entry = head
            if entry.expires is None:
                return
            if entry.expires > now:
                self._expire_at(entry.expires)
                return
            self._discard(self._pop(lane), "expired")

    def _discard(self, entry: Entry, reason: str) -> None:
        """A ready message leaves the queue undelivered: gone from the store, maybe dead-lettered."""
        self.forget(entry)
        self._dead_letter(entry.message, reason)

    def _dead_letter(self, message: Message, reason: str) -> None:
        if self.options.dlx is not None and self.host is not None:
            deadletter.publish(self.host, self, message, reason)

    def _expire_at(self, deadline: float) -> None:
        """Have the head checked when it expires (one timer per queue, the earliest needed)."""
        timer = self._ttl_timer
        if self.host is None or (timer is not None and timer.active and timer.deadline <= deadline):
            return
        if timer is not None:
            timer.cancel()
        self._ttl_timer = self.host.timers.schedule(deadline, self._head_expired)

    def _head_expired(self) -> None:
        self._ttl_timer = None
        if not self.deleted:
            self._drop_expired(clock())

    # -- x-expires -----------------------------------------------------------------------------

    def touch(self) -> None:
        """The queue was used (declared, Basic.Get, or its last consumer left): with x-expires
        and no consumers it is deleted after that many ms unless used again."""
        if self.options.expires is None or self.consumers or self.host is None or self.deleted:
            return
        self._unused_until = clock() + self.options.expires / 1000
        if self._expiry_timer is None:
            self._expiry_timer = self.host.timers.schedule(self._unused_until, self._maybe_expire)

    def _maybe_expire(self) -> None:
        self._expiry_timer = None
        if self.deleted or self.consumers or self.host is None:
            return
        if clock() < self._unused_until:
            self._expiry_timer = self.host.timers.schedule(self._unused_until, self._maybe_expire)
            return
        self.host.remove_queue(self)

    def stop_timers(self) -> None:
        """The queue is deleted: its timers must not keep it alive."""
        for timer in (self._ttl_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._ttl_timer = self._expiry_timer = None


def _insert(lane: deque[Entry | Paged], entries: Iterable[Entry]) -> None:
    """Put entries back into a lane at their original positions (by message id)."""
    for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
        if not lane or entry.seq < _position(lane[0]):
            lane.appendleft(entry)
        elif entry.seq > _position(lane[-1]):
            lane.append(entry)
        else:
            lane.insert(bisect.bisect([_position(item) for item in lane], entry.seq), entry)
