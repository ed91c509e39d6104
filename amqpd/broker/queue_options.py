"""What the delivery-changing queue arguments do: the "special" path a plain queue never takes.

Message TTL (and a message's own expiration) with one timer per queue at the head's deadline,
x-expires, x-max-length / x-max-length-bytes with their overflow modes, handing messages to the
dead-letter exchange, priority lanes and single active consumer. They live here, as a mixin of
Queue, so that queue.py keeps only the core that every queue runs per message; Queue branches
here only where ``special`` is set (or for the rare per-queue events: consumers, deletion).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amqpd.broker import deadletter
from amqpd.broker.entry import Entry, Paged, insert
from amqpd.broker.tables import text
from amqpd.broker.timers import Timer, clock

if TYPE_CHECKING:
    from amqpd.broker.memory import MemoryLedger
    from amqpd.broker.message import Message
    from amqpd.broker.queue import Consumer
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


class SpecialPath:
    """The part of Queue that its arguments drive; see amqpd.broker.queue.Queue for the core.

    ``special`` is set from the declared options, or later by the first message with an
    expiration; from then on enqueue/take/requeue come here, with the ready messages
    spread over ``lanes`` (one per priority) and their body bytes counted in ``ready_bytes``.
    """

    # The core queue's state and operations this part relies on (defined by Queue).
    ready: deque[Entry | Paged]
    consumers: list[Consumer]
    in_memory: int
    deleted: bool
    store: Store | None
    store_id: int | None
    host: VirtualHost | None
    memory: MemoryLedger

    if TYPE_CHECKING:
        @property
        def message_count(self) -> int: ...
        def _stores(self, message: Message) -> bool: ...
        def forget(self, entry: Entry) -> None: ...
        def settle(self, entries: list[Entry]) -> None: ...
        def _load(self, lane: deque[Entry | Paged]) -> list[Entry]: ...
        def _page_in(self, lane: deque[Entry | Paged]) -> None: ...
        def _pick(self) -> Consumer | None: ...
        def dispatch(self) -> None: ...

    def _apply_arguments(self, arguments: dict[str, Any]) -> None:
        """Set up what the declared arguments ask for (Queue.__init__, after the core state)."""
        self.options = options = Options.of(arguments)
        self.special = options.special
        # ready messages by priority (index); a queue without priorities has one lane, ready
        self.lanes: list[deque[Entry | Paged]] = (
            [self.ready] if options.max_priority is None else [deque() for _ in range(options.max_priority + 1)])
        self.active: Consumer | None = None  # the single active consumer
        self.ready_bytes = 0  # body bytes of the ready messages (kept on the special path)
        self._ttl_timer: Timer | None = None
        self._expiry_timer: Timer | None = None
        self._unused_until = 0.0
        self.touch()

    # -- consumers: single active consumer, x-expires ------------------------------------------

    def _consumer_added(self, consumer: Consumer) -> None:
        if self.options.single_active and self.active is None:
            self.active = consumer

    def _consumer_left(self, consumer: Consumer) -> None:
        """With a single active consumer the next one (highest priority, then oldest) takes
        over. An unused queue with x-expires starts counting again."""
        if consumer is self.active:
            self.active = self.consumers[0] if self.consumers else None
            self.dispatch()
        self.touch()

    def _pick_active(self) -> Consumer | None:
        """With a single active consumer, only that one is ever picked."""
        active = self.active
        return active if active is not None and active.has_credit() else None

    # -- dead-lettering ------------------------------------------------------------------------

    def reject(self, entries: list[Entry]) -> None:
        """Held deliveries rejected without requeue: removed, and dead-lettered if configured."""
        self.settle(entries)
        if self.options.dlx is not None and self.host is not None and not self.deleted:
            for entry in entries:
                deadletter.publish(self.host, self, entry.message, "rejected")  # type: ignore[arg-type]

    def _discard(self, entry: Entry, reason: str) -> None:
        """A ready message leaves the queue undelivered: gone from the store, maybe dead-lettered."""
        self.forget(entry)
        self._dead_letter(entry.message, reason)

    def _dead_letter(self, message: Message, reason: str) -> None:
        if self.options.dlx is not None and self.host is not None:
            deadletter.publish(self.host, self, message, reason)  # type: ignore[arg-type]

    # -- the special path of enqueue, take, requeue and paging ---------------------------------

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
            ticket = self.store.put_message(self.store_id, message.id, message.exchange, message.routing_key,  # type: ignore[union-attr,arg-type]
                                            message.raw_properties, message.body)
        now = clock()
        entry = Entry(message, expires=self._deadline(message, now))
        self.memory.queued += message.size
        if self.consumers and not self.message_count:
            consumer = self._pick()
            if consumer is not None:
                consumer.deliver(self, entry)  # type: ignore[arg-type]
                return ticket
        self._add(entry, now)
        self._trim(now)
        return ticket

    def _restore_special(self, items: deque[Entry | Paged]) -> None:
        """Recovered messages all read back into their lanes; their TTL starts again now."""
        now = clock()
        while items:
            for entry in self._load(items):
                self._add(entry, now)
        self._trim(now)

    def _paged_in(self, entries: list[Entry]) -> None:
        """Messages read back from disk get their deadlines (counted from now) and count as
        ready bytes; the first with an expiration puts a plain queue on the special path."""
        if not self.special:
            self._become_special()
        now = clock()
        for entry in entries:
            entry.expires = self._deadline(entry.message, now)
            self.ready_bytes += entry.message.size

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

    def _requeue_special(self, entries: list[Entry]) -> None:
        """Requeued messages go back to their own lanes, then the limits apply again."""
        for entry in entries:
            self.ready_bytes += entry.message.size
        for priority, group in self._by_lane(entries).items():
            insert(self.lanes[priority], group)
        self._trim(clock())

    # -- priority lanes ------------------------------------------------------------------------

    def _lane_of(self, message: Message) -> int:
        """A message's priority lane: none is 0, above the maximum is the maximum."""
        top = len(self.lanes) - 1
        return min(message.priority or 0, top) if top else 0

    def _by_lane(self, entries: list[Entry]) -> dict[int, list[Entry]]:
        lanes: dict[int, list[Entry]] = {}
        for entry in entries:
            lanes.setdefault(self._lane_of(entry.message), []).append(entry)
        return lanes

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

    # -- length limits -------------------------------------------------------------------------

    def _trim(self, now: float) -> None:
        """Drop what is over the length limit, then what expired at the head."""
        self._drop_over_limit()
        self._drop_expired(now)

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

    # -- message TTL ---------------------------------------------------------------------------

    def _deadline(self, message: Message, now: float) -> float | None:
        """When a message enqueued now expires: the lower of the queue's and its own TTL."""
        ttl = self.options.ttl
        if message.expiration is not None:
            own = parse_expiration(message.expiration)
            ttl = own if ttl is None else min(ttl, own)
        return None if ttl is None else now + ttl / 1000

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
        self.host.remove_queue(self)  # type: ignore[arg-type]

    def stop_timers(self) -> None:
        """The queue is deleted: its timers must not keep it alive."""
        for timer in (self._ttl_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._ttl_timer = self._expiry_timer = None
