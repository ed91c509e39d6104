"""Statistics in the management API's objects (queues, exchanges, channels, connections, vhosts):
``message_stats`` with ``_details`` rates, byte counts, and a queue's idle_since and samples.

Everything here is computed when an object is read, from the counters broker/stats.py keeps and
the node's Rates; nothing runs per message. RabbitMQ 3.10.8 shows a group of counts only once
the object saw that kind of traffic (a queue that only got publishes has only ``publish``; a
fanout exchange with no queue only ``publish_in``) and omits ``message_stats`` for an object
with no traffic at all; ``shown`` follows that.
"""

from __future__ import annotations

import datetime
import time
import weakref
from collections import Counter
from typing import Any, Hashable, Iterable, Mapping

from amqpd.broker import MessageStats, QueueType
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
# a queue's depth samples: RabbitMQ's query parameters that ask for them
SAMPLE_PARAMS = ("lengths_age", "lengths_incr", "msg_rates_age", "msg_rates_incr")
DEPTHS = ("messages", "messages_ready", "messages_unacknowledged")


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


def depth_details(call: Call, key: Hashable, depths: dict[str, int]) -> dict[str, Any]:
    """messages / _ready / _unacknowledged with their ``_details``; with RabbitMQ's sample
    parameters (lengths_age...), each also carries ``samples`` / ``avg`` / ``avg_rate``.
    No history is kept: the one sample is the current depth, stamped with the current interval."""
    result = counters(call, key, depths)
    if not any(name in call.query for name in SAMPLE_PARAMS):
        return result
    try:
        incr = max(int(call.query.get("lengths_incr", "5")), 1)
    except ValueError:
        incr = 5
    stamp = int(time.time()) // incr * incr * 1000
    for name, value in depths.items():
        result[f"{name}_details"].update(avg=float(value), avg_rate=0.0,
                                         samples=[{"sample": value, "timestamp": stamp}])
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
