"""Statistics in the management API's objects (queues, exchanges, channels, connections, vhosts):
``message_stats`` with ``_details`` rates, byte counts, and a queue's idle_since and samples.

Everything here is computed when an object is read, from the counters broker/stats.py keeps and
the node's Rates, nothing per message; the one timer (DepthHistory) keeps a minute of each
queue's depths for the sample lists. RabbitMQ 3.10.8 shows a group of counts only once
the object saw that kind of traffic (a queue that only got publishes has only ``publish``; a
fanout exchange with no queue only ``publish_in``) and omits ``message_stats`` for an object
with no traffic at all; ``shown`` follows that.
"""

from __future__ import annotations

import datetime
import time
import weakref
from collections import Counter, deque
from typing import Any, Hashable, Iterable, Mapping

from amqpd.broker import MessageStats, Node, QueueType, clock
from amqpd.management.api import Call
from amqpd.session import Connection

# the groups RabbitMQ reports together (each from one of its metrics tables)
_DELIVERY = ("deliver", "deliver_no_ack", "get", "get_no_ack", "get_empty", "redeliver", "ack", "deliver_get")
QUEUE_GROUPS = (("publish",), _DELIVERY)
EXCHANGE_GROUPS = (("publish_in",), ("publish_out",))
CHANNEL_GROUPS = (("publish", "confirm", "return_unroutable", "drop_unroutable"), _DELIVERY)
# a queue's memory estimate: a queue's own objects, and each message's Entry and slot beside its body
QUEUE_OVERHEAD = 2048
ENTRY_OVERHEAD = 64
# a queue's depth samples: RabbitMQ's query parameters that ask for them, and the history kept
SAMPLE_PARAMS = ("lengths_age", "lengths_incr", "msg_rates_age", "msg_rates_incr")
SAMPLE_EVERY = 5  # seconds, as RabbitMQ's collect_statistics_interval
SAMPLES_KEPT = 12  # a minute of history per queue (the web UI's default lengths_age is 60 s)


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
    """When each queue was last seen changing (its counts or depth), by the reads of the API:
    a queue whose state has not changed since then has been idle since then."""

    def __init__(self) -> None:
        self._seen: weakref.WeakKeyDictionary[QueueType, tuple[tuple[int, ...], float]] = (
            weakref.WeakKeyDictionary())

    def since(self, queue: QueueType, state: tuple[int, ...]) -> tuple[float, bool]:
        """Since when the state is unchanged, and whether it changed since the last read."""
        seen = self._seen.get(queue)
        if seen is not None and seen[0] == state:
            return seen[1], False
        self._seen[queue] = (state, time.time())
        return self._seen[queue][1], True


_IDLE = _Idle()


def idle_since(queue: QueueType, stats: MessageStats) -> str | None:
    """RabbitMQ 3.10.8's idle_since ("2026-12-03T14:04:27.521+00:00"): since when the queue's
    counts and depth have not changed, as far as reads have seen. A queue without consumers
    always has it; one with consumers once a read finds it unchanged since the read before."""
    state = (*stats.as_dict().values(), queue.message_count, queue.unacked_count)
    moment, changed = _IDLE.since(queue, state)
    if changed and queue.consumers:
        return None
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec="milliseconds")


class DepthHistory:
    """Each queue's depths (messages, ready, unacknowledged) every SAMPLE_EVERY seconds, the last
    SAMPLES_KEPT of them: one timer on the node's timers walks the queues, nothing per message.
    It starts at the first read of a queue through the API, so a broker whose API is not used
    pays nothing."""

    def __init__(self) -> None:
        self._rings: weakref.WeakKeyDictionary[QueueType, deque[tuple[int, tuple[int, ...]]]] = (
            weakref.WeakKeyDictionary())
        self._started: weakref.WeakSet[Node] = weakref.WeakSet()

    def start(self, node: Node) -> None:
        if node not in self._started:
            self._started.add(node)
            self._tick(node)

    def _tick(self, node: Node) -> None:
        self.sample(node, time.time())
        node.timers.schedule(clock() + SAMPLE_EVERY, lambda: self._tick(node))

    def sample(self, node: Node, now: float) -> None:
        """Record every queue's depths, stamped with the SAMPLE_EVERY interval now is in (ms)."""
        stamp = int(now) // SAMPLE_EVERY * SAMPLE_EVERY * 1000
        for vhost in node.vhosts.values():
            for queue in vhost.queues.values():
                ring = self._rings.get(queue)
                if ring is None:
                    ring = self._rings[queue] = deque(maxlen=SAMPLES_KEPT)
                elif ring[-1][0] == stamp:  # a second sample in one interval replaces the first
                    ring.pop()
                ring.append((stamp, _depths(queue)))

    def samples(self, queue: QueueType, now: float, age: int, incr: int) -> list[tuple[int, tuple[int, ...]]]:
        """Newest first: the current depths, then the kept ones within ``age`` seconds, one per
        ``incr`` seconds (RabbitMQ's order and spacing)."""
        current = int(now) // incr * incr * 1000
        found = [(current, _depths(queue))]
        for stamp, depths in sorted(self._rings.get(queue, ()), reverse=True):
            if stamp >= current - age * 1000 and stamp % (incr * 1000) == 0 and stamp < found[-1][0]:
                found.append((stamp, depths))
        return found


HISTORY = DepthHistory()


def _depths(queue: QueueType) -> tuple[int, int, int]:
    ready, unacked = queue.message_count, queue.unacked_count
    return ready + unacked, ready, unacked


def _seconds(call: Call, name: str, default: int) -> int:
    try:
        return max(int(call.query.get(name, default)), 1)
    except ValueError:
        return default


def depth_details(call: Call, key: Hashable, queue: QueueType) -> dict[str, Any]:
    """messages / _ready / _unacknowledged with their ``_details``; with RabbitMQ's sample
    parameters (lengths_age...), each also carries ``samples`` / ``avg`` / ``avg_rate``."""
    HISTORY.start(call.node)
    result = counters(call, key, dict(zip(("messages", "messages_ready", "messages_unacknowledged"),
                                          _depths(queue))))
    if not any(name in call.query for name in SAMPLE_PARAMS):
        return result
    found = HISTORY.samples(queue, time.time(), _seconds(call, "lengths_age", 60),
                            _seconds(call, "lengths_incr", SAMPLE_EVERY))
    span = (found[0][0] - found[-1][0]) / 1000
    for index, name in enumerate(("messages", "messages_ready", "messages_unacknowledged")):
        values = [depths[index] for _, depths in found]
        result[f"{name}_details"].update(
            avg=sum(values) / len(values),
            avg_rate=(values[0] - values[-1]) / span if span else 0.0,
            samples=[{"sample": depths[index], "timestamp": stamp} for stamp, depths in found])
    return result


def unacked_bytes(connections: Iterable[Connection]) -> Counter[int]:
    """Body bytes delivered and awaiting ack, by queue (its id): one walk of the channels'
    unacked messages per request, made when read."""
    held: Counter[int] = Counter()
    for conn in connections:
        for channel in conn.channels.values():
            for item in channel.unacked.values():
                held[id(item.queue)] += item.entry.message.size
    return held


def byte_fields(queue: QueueType, unacked: int) -> dict[str, int]:
    """message_bytes* and an estimate of the queue's memory (its bodies in memory plus a fixed
    cost per message and per queue; Python has no per-queue heap to measure)."""
    ready = queue.message_bytes_ready()
    count = queue.message_count + queue.unacked_count
    return {"message_bytes": ready + unacked, "message_bytes_ready": ready,
            "message_bytes_unacknowledged": unacked,
            "memory": QUEUE_OVERHEAD + ENTRY_OVERHEAD * count + ready + unacked}
