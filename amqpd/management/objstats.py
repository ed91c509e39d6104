"""Statistics in the management API's objects (queues, exchanges, channels, connections, vhosts):
``message_stats`` with ``_details`` rates, byte counts, and a queue's idle_since and samples.

Everything here is computed when an object is read, from the counters broker/stats.py keeps and
the node's Rates, nothing per message; the one timer (History) keeps every object's history
for the sample lists (history.py). RabbitMQ 3.10.8 shows a group of counts only once
the object saw that kind of traffic (a queue that only got publishes has only ``publish``; a
fanout exchange with no queue only ``publish_in``) and omits ``message_stats`` for an object
with no traffic at all; ``shown`` follows that.
"""

from __future__ import annotations

import datetime
import operator
from dataclasses import dataclass
import time
import weakref
from typing import Any, Hashable, Iterable, Mapping

from amqpd.broker import Exchange, MessageStats, Node, QueueType, ReadySummary, VirtualHost, clock
from amqpd.management.api import Call
from amqpd.management.formats import properties_json
from amqpd.management.history import BASIC, GLOBAL, Levels, Range, Track, details
from amqpd.session import Connection

# the groups RabbitMQ reports together (each from one of its metrics tables)
_DELIVERY = ("deliver", "deliver_no_ack", "get", "get_no_ack", "get_empty", "redeliver", "ack", "deliver_get")
QUEUE_GROUPS = (("publish",), _DELIVERY)
EXCHANGE_GROUPS = (("publish_in",), ("publish_out",))
CHANNEL_GROUPS = (("publish", "confirm", "return_unroutable", "drop_unroutable"), _DELIVERY)
# a queue's memory estimate: a queue's own objects, and each message's Entry and slot beside its body
QUEUE_OVERHEAD = 2048
ENTRY_OVERHEAD = 64
TIMESTAMP_FLAG = 0x0040  # the timestamp bit of a content header's property flags
DEPTHS = ("messages", "messages_ready", "messages_unacknowledged")
OCTETS = ("recv_oct", "send_oct")
OVERVIEW_MESSAGES = ("ack", "confirm", "deliver", "deliver_get", "deliver_no_ack", "disk_reads", "disk_writes",
                     "drop_unroutable", "get", "get_empty", "get_no_ack", "publish", "redeliver",
                     "return_unroutable")
CHURN = ("channel_closed", "channel_created", "connection_closed", "connection_created", "queue_created",
         "queue_declared", "queue_deleted")
SAMPLE_EVERY = 5  # seconds, as RabbitMQ's collect_statistics_interval


def counters(call: Call, key: Hashable, values: Mapping[str, int]) -> dict[str, Any]:
    """Counts in RabbitMQ's shape, each with its ``_details`` rate, keys in order."""
    return call.node.rates.details(key, dict(sorted(values.items())), time.monotonic())


def shown(call: Call, key: Hashable, stats: MessageStats,
          groups: Iterable[tuple[str, ...]]) -> dict[str, Any] | None:
    """An object's ``message_stats``: the groups with any count, or None (no key) when none has."""
    report = stats.report()
    values = {name: report[name] for group in groups if any(report[name] for name in group) for name in group}
    return counters(call, key, values) if values else None


def with_stats(item: dict[str, Any], message_stats: dict[str, Any] | None) -> dict[str, Any]:
    if message_stats is not None:
        item["message_stats"] = message_stats
    return item


class _Idle:
    """When each queue or channel was last seen changing (its counts, depth, unacked messages,
    consumers), by the reads of the API: one whose state has not changed since then has been
    idle since then."""

    def __init__(self) -> None:
        self._seen: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], float]] = weakref.WeakKeyDictionary()

    def since(self, subject: Any, state: tuple[int, ...]) -> tuple[float, bool]:
        """Since when the state is unchanged, and whether it changed since the last read."""
        seen = self._seen.get(subject)
        if seen is not None and seen[0] == state:
            return seen[1], False
        self._seen[subject] = (state, time.time())
        return self._seen[subject][1], True


_IDLE = _Idle()


def idle_since(queue: QueueType, stats: MessageStats) -> str | None:
    """RabbitMQ 3.10.8's idle_since ("2026-12-03T14:04:27.521+00:00"): since when the queue's
    counts and depth have not changed, as far as reads have seen. A queue without consumers
    always has it; one with consumers once a read finds it unchanged since the read before."""
    state = (*stats.as_dict().values(), queue.message_count, queue.unacked_count)
    moment, changed = _IDLE.since(queue, state)
    if changed and queue.consumers:
        return None
    return _iso(moment)


def channel_idle_since(channel: Any) -> str | None:
    """A channel's idle_since: RabbitMQ 3.10.8 shows it once the channel sat idle about a second
    (checked with pika: 1.0-1.6 s after its last method); amqpd from the second read that finds
    its counts, unacked messages and consumers unchanged, as the moment the first of those
    reads saw them (absent at the first read and after a change)."""
    state = (*channel_values(channel), len(channel.unacked), len(channel.consumers))
    moment, changed = _IDLE.since(channel, state)
    return None if changed else _iso(moment)


def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _depths(queue: QueueType) -> tuple[int, int, int]:
    ready, unacked = queue.message_count, queue.unacked_count
    return ready + unacked, ready, unacked


def _picked(report: Mapping[str, int], names: Iterable[str]) -> tuple[int, ...]:
    return tuple(report[name] for name in names)


# What each kind of object's history records, in order: the values of its samples
QUEUE_NAMES = (*QUEUE_GROUPS[0], *QUEUE_GROUPS[1], *DEPTHS)
EXCHANGE_NAMES = (*EXCHANGE_GROUPS[0], *EXCHANGE_GROUPS[1])
CHANNEL_NAMES = (*CHANNEL_GROUPS[0], *CHANNEL_GROUPS[1])
VHOST_NAMES = (*CHANNEL_NAMES, *DEPTHS, *OCTETS)
OVERVIEW_NAMES = (*OVERVIEW_MESSAGES, *DEPTHS, *CHURN)


_QUEUE_COUNTS = operator.attrgetter(*(name for name in QUEUE_NAMES[:-3] if name != "deliver_get"))


def queue_values(queue: QueueType) -> tuple[int, ...]:
    """Its counts and depths in QUEUE_NAMES' order (the timer reads every queue: kept cheap)."""
    stats = queue.message_stats() if queue.consumers else queue.stats
    counts = _QUEUE_COUNTS(stats)
    return (*counts, stats.deliver_get, *_depths(queue))


def exchange_values(exchange: Exchange) -> tuple[int, ...]:
    return exchange.stats.publish_in, exchange.stats.publish_out


def channel_values(channel: Any) -> tuple[int, ...]:
    return _picked(channel.message_stats().report(), CHANNEL_NAMES)


def connection_values(conn: Connection) -> tuple[int, ...]:
    return conn.recv_oct, conn.send_oct


def vhost_values(node: Node, vhost: VirtualHost) -> tuple[int, ...]:
    """Its channels' counts, its queues' depths, and the bytes of its connections (the closed
    ones' kept by the vhost)."""
    ready = unacked = 0
    for queue in vhost.queues.values():
        ready += queue.message_count
        unacked += queue.unacked_count
    recv, send = vhost.closed_octets
    for conn in node.connections:
        if conn.vhost is vhost:
            recv += conn.recv_oct
            send += conn.send_oct
    return (*_picked(node.message_stats(vhost).report(), CHANNEL_NAMES), ready + unacked, ready, unacked,
            recv, send)


def overview_values(node: Node, vhosts: Iterable[VirtualHost], stats: MessageStats) -> tuple[int, ...]:
    """The overview's message counts (given: the node's or a user's vhosts'), its queues'
    depths and the node's churn."""
    ready = unacked = 0
    for vhost in vhosts:
        for queue in vhost.queues.values():
            ready += queue.message_count
            unacked += queue.unacked_count
    report = {**stats.report(), "disk_reads": 0, "disk_writes": 0}
    churn = node.churn().as_dict()
    return (*_picked(report, OVERVIEW_MESSAGES), ready + unacked, ready, unacked, *_picked(churn, CHURN))


class History:
    """Every object's history (history.Track), recorded every SAMPLE_EVERY seconds by one timer
    on the node's timers that walks the node, its vhosts, queues, exchanges, connections and
    channels; nothing is counted per message. It starts at the API's first read of an object
    with statistics, so a broker whose API is not used pays nothing. Tracks are held weakly: a
    deleted object's history goes with it."""

    def __init__(self) -> None:
        self._tracks: weakref.WeakKeyDictionary[Any, Track] = weakref.WeakKeyDictionary()
        self._started: weakref.WeakSet[Any] = weakref.WeakSet()  # the node timers it runs on

    def start(self, node: Node) -> None:
        """Start recording on the node's timers (again after start_app, which gives it new ones)."""
        if node.timers not in self._started:
            self._started.add(node.timers)
            self._tick(node)

    def _tick(self, node: Node) -> None:
        self.sample(node, time.time())
        node.timers.schedule(clock.now() + SAMPLE_EVERY, lambda: self._tick(node))

    def sample(self, node: Node, now: float) -> None:
        """Record every object's values, stamped with the SAMPLE_EVERY interval now is in (ms)."""
        stamp = int(now) // SAMPLE_EVERY * SAMPLE_EVERY * 1000
        record = self._record
        vhosts = list(node.vhosts.values())
        record(node, GLOBAL, stamp, overview_values(node, vhosts, node.message_stats()))
        for vhost in vhosts:
            record(vhost, GLOBAL, stamp, vhost_values(node, vhost))
            for queue in vhost.queues.values():
                record(queue, BASIC, stamp, queue_values(queue))
            for exchange in vhost.exchanges.values():
                record(exchange, BASIC, stamp, exchange_values(exchange))
        for conn in node.connections:
            record(conn, BASIC, stamp, connection_values(conn))
            for channel in conn.channels.values():
                record(channel, BASIC, stamp, channel_values(channel))

    def _record(self, subject: Any, levels: Levels, stamp: int, values: tuple[int, ...]) -> None:
        track = self._tracks.get(subject)
        if track is None:
            track = self._tracks[subject] = Track(levels)
        track.record(stamp, values)

    def points(self, subject: Any, levels: Levels, span: Range, current: tuple[int, ...],
               now: float) -> list[tuple[int, tuple[int, ...]]]:
        """The subject's values at each moment of the range (all ``current`` before any sample)."""
        return self._tracks.get(subject, Track(levels)).points(span, current, now)


HISTORY = History()


def samples(call: Call, subject: Any, levels: Levels, names: tuple[str, ...], current: tuple[int, ...],
            parts: Mapping[str, dict[str, Any] | None], ceil: str = "") -> None:
    """With RabbitMQ's range parameters, add samples to the ``_details`` of each part (counts
    as ``counters`` made them) whose prefix (msg_rates, lengths, data_rates) the query names;
    ``ceil``: the prefix whose newest moment is now rounded up (a queue's lengths, as RabbitMQ)."""
    now = time.time()
    for prefix, counts in parts.items():
        span = Range.of(call.query, prefix, now, ceil=prefix == ceil)
        if span is not None and counts is not None:
            details(counts, names, HISTORY.points(subject, levels, span, current, now))


def depth_details(call: Call, key: Hashable, queue: QueueType) -> dict[str, Any]:
    """messages / _ready / _unacknowledged with their ``_details`` rates."""
    return counters(call, key, dict(zip(DEPTHS, _depths(queue))))


@dataclass
class Held:
    """A queue's messages delivered and awaiting ack (all in memory), summed from the channels."""

    count: int = 0
    size: int = 0
    persistent: int = 0
    persistent_bytes: int = 0
    oldest_timestamp: int | None = None


def held(connections: Iterable[Connection]) -> dict[int, Held]:
    """The unacked messages by queue (its id): one walk of the channels' unacked messages per
    request, made when read."""
    found: dict[int, Held] = {}
    for conn in connections:
        for channel in conn.channels.values():
            for item in channel.unacked.values():
                queue, message = item.queue, item.entry.message
                into = found.get(id(queue))
                if into is None:
                    into = found[id(queue)] = Held()
                into.count += 1
                into.size += message.size
                if queue.durable and message.persistent:
                    into.persistent += 1
                    into.persistent_bytes += message.size
                stamp = timestamp(message.raw_properties)
                if stamp is not None and (into.oldest_timestamp is None or stamp < into.oldest_timestamp):
                    into.oldest_timestamp = stamp
    return found


def timestamp(raw_properties: bytes) -> int | None:
    """A message's timestamp property (seconds), None when unset; only such messages are parsed."""
    if not int.from_bytes(raw_properties[:2], "big") & TIMESTAMP_FLAG:
        return None
    shown = properties_json(raw_properties)
    return shown.get("timestamp") if isinstance(shown, dict) else None


def memory_fields(queue: QueueType, unacked: Held, rates: Mapping[str, Any] | None) -> dict[str, Any]:
    """message_bytes*, the RAM / persistent / paged-out counts, head_message_timestamp,
    backing_queue_status (RabbitMQ 3.10.8's classic queue v1 shape) and an estimate of the
    queue's memory (its bodies in memory plus a fixed cost per message and per queue; Python has
    no per-queue heap to measure). rates: the queue's message_stats, for the backing queue's."""
    ready = queue.ready_summary()
    count = queue.message_count + unacked.count
    stamps = [stamp for stamp in (unacked.oldest_timestamp,
                                  timestamp(ready.head.raw_properties) if ready.head is not None else None)
              if stamp is not None]
    in_memory_bytes = ready.in_memory_bytes + unacked.size
    return {
        "message_bytes": ready.in_memory_bytes + ready.paged_out_bytes + unacked.size,
        "message_bytes_ready": ready.in_memory_bytes + ready.paged_out_bytes,
        "message_bytes_unacknowledged": unacked.size,
        "message_bytes_ram": in_memory_bytes,
        "message_bytes_persistent": ready.persistent_bytes + unacked.persistent_bytes,
        "message_bytes_paged_out": ready.paged_out_bytes,
        "messages_ram": ready.in_memory + unacked.count,
        "messages_ready_ram": ready.in_memory,
        "messages_unacknowledged_ram": unacked.count,
        "messages_persistent": ready.persistent + unacked.persistent,
        "messages_paged_out": ready.paged_out,
        "head_message_timestamp": min(stamps) if stamps else None,
        "backing_queue_status": _backing_queue_status(queue, ready, rates),
        "memory": QUEUE_OVERHEAD + ENTRY_OVERHEAD * count + in_memory_bytes,
    }


def _backing_queue_status(queue: QueueType, ready: ReadySummary, rates: Mapping[str, Any] | None) -> dict[str, Any]:
    """RabbitMQ 3.10.8's classic queue (v1) backing_queue_status, filled with amqpd's own
    figures: q4 the ready messages in memory, delta the paged-out ones (first id, count, 0,
    last id + 1), next_seq_id the messages that entered the queue, the rates those of its
    message_stats (publish in, deliver_get out; deliveries awaiting ack in, acks out)."""
    def rate(*names: str) -> float:
        return float(sum(rates[f"{name}_details"]["rate"] for name in names if f"{name}_details" in rates)) \
            if rates else 0.0

    entered = max(queue.stats.publish, queue.message_count)
    delta: list[Any] = ["delta", "undefined", 0, 0, "undefined"]
    if ready.paged_ids is not None:
        delta = ["delta", ready.paged_ids[0], ready.paged_out, 0, ready.paged_ids[1] + 1]
    return {
        "avg_ack_egress_rate": rate("ack"), "avg_ack_ingress_rate": rate("deliver", "get"),
        "avg_egress_rate": rate("deliver_get"), "avg_ingress_rate": rate("publish"),
        "delta": delta, "len": queue.message_count, "mode": "default",
        "next_deliver_seq_id": entered - queue.message_count, "next_seq_id": entered,
        "q1": 0, "q2": 0, "q3": 0, "q4": ready.in_memory,
        "target_ram_count": "infinity", "version": 1,
    }
