"""Message and churn counters: what the management API's ``message_stats`` and the Prometheus
families report.

Counting is on the per-message path, so it is only integer increments on objects that exist
anyway: a queue's, an exchange's and a channel's ``MessageStats``, and a consumer's count of its
deliveries (one increment where two objects care; it joins its channel's and queue's counts when
the consumer goes, ``with_deliveries`` adds the live ones when read). Nothing is summed there:
a vhost keeps the counts of its channels that have closed (a channel adds its own when it goes)
and the vhost and node totals add the live channels' counts when they are read. Rates are not
counted either: ``Rates`` derives them from the samples it takes when they are read.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterable

# RabbitMQ's message_stats keys (rabbit_mgmt_format / rabbit_core_metrics), in its order
MESSAGE_FIELDS = ("publish", "publish_in", "publish_out", "confirm", "deliver", "deliver_no_ack", "get",
                  "get_no_ack", "get_empty", "redeliver", "ack", "return_unroutable", "drop_unroutable")
# the keys each kind of object reports (as RabbitMQ 3.10.8's management API shows them)
QUEUE_FIELDS = ("publish", "deliver", "deliver_no_ack", "get", "get_no_ack", "get_empty", "redeliver", "ack")
EXCHANGE_FIELDS = ("publish_in", "publish_out")
CHANNEL_FIELDS = tuple(name for name in MESSAGE_FIELDS if name not in EXCHANGE_FIELDS)
CHURN_FIELDS = ("connection_created", "connection_closed", "channel_created", "channel_closed",
                "queue_declared", "queue_created", "queue_deleted")
SAMPLE_INTERVAL = 5.0  # seconds: RabbitMQ's collect_statistics_interval; rates span at least this
_FORGET_AFTER = 600.0  # samples of objects not read for this long are dropped (deleted objects)


class _Counters:
    """Named integer counters, all zero at first; subclasses name them in __slots__."""

    __slots__: tuple[str, ...] = ()

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def add(self, other: _Counters) -> None:
        """Add another set's counts to this one (a closed channel's to its vhost's)."""
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def total(cls, parts: Iterable[_Counters]) -> Any:
        """A new set holding the sum of some sets (made when read, never per message)."""
        result = cls()
        for part in parts:
            result.add(part)
        return result


class MessageStats(_Counters):
    """The message counts of one queue, exchange, channel, or a sum of them. Each object uses
    the fields RabbitMQ reports for its kind: a queue publish / deliver* / get* / redeliver / ack,
    an exchange publish_in / publish_out, a channel all but those two."""

    __slots__ = MESSAGE_FIELDS

    publish: int
    publish_in: int
    publish_out: int
    confirm: int
    deliver: int
    deliver_no_ack: int
    get: int
    get_no_ack: int
    get_empty: int
    redeliver: int
    ack: int
    return_unroutable: int
    drop_unroutable: int

    @property
    def deliver_get(self) -> int:
        """RabbitMQ's sum of every way a message went to a client."""
        return self.deliver + self.deliver_no_ack + self.get + self.get_no_ack

    def report(self, fields: Iterable[str] = MESSAGE_FIELDS) -> dict[str, int]:
        """The counts as the management API names them, deliver_get included."""
        values = {name: getattr(self, name) for name in fields}
        if "deliver" in values:
            values["deliver_get"] = self.deliver_get
        return values


def with_deliveries(stats: MessageStats, consumers: Iterable[Any]) -> MessageStats:
    """A channel's or queue's counts with the deliveries of its live consumers added (each
    consumer counts its own: ``delivered``, with ``no_ack`` saying which kind they are)."""
    result = MessageStats()
    result.add(stats)
    for consumer in consumers:
        if consumer.no_ack:
            result.deliver_no_ack += consumer.delivered
        else:
            result.deliver += consumer.delivered
    return result


def retire_deliveries(delivered: int, no_ack: bool, *into: MessageStats) -> None:
    """A consumer goes: its count of deliveries joins its channel's and queue's."""
    for stats in into:
        if no_ack:
            stats.deliver_no_ack += delivered
        else:
            stats.deliver += delivered


class Churn(_Counters):
    """Objects created and closed in a vhost (RabbitMQ's churn_rates; Prometheus's *_total)."""

    __slots__ = CHURN_FIELDS

    connection_created: int
    connection_closed: int
    channel_created: int
    channel_closed: int
    queue_declared: int
    queue_created: int
    queue_deleted: int


class Rates:
    """Per-second rates of counters, from samples taken when they are read (no timer, nothing
    per message): a rate spans the time since the sample before, once that is SAMPLE_INTERVAL
    old; reads in between repeat the last rates."""

    def __init__(self) -> None:
        self._samples: dict[Hashable, tuple[float, dict[str, int], dict[str, float]]] = {}
        self._pruned = 0.0

    def of(self, key: Hashable, values: dict[str, int], now: float) -> dict[str, float]:
        """The rates of an object's counters (zero on its first read)."""
        sample = self._samples.get(key)
        if sample is None:
            self._samples[key] = (now, values, dict.fromkeys(values, 0.0))
            self._prune(now)
            return dict.fromkeys(values, 0.0)
        then, before, rates = sample
        if now - then >= SAMPLE_INTERVAL:
            rates = {name: round((value - before.get(name, 0)) / (now - then), 1)
                     for name, value in values.items()}
            self._samples[key] = (now, values, rates)
        return {name: rates.get(name, 0.0) for name in values}

    def details(self, key: Hashable, values: dict[str, int], now: float) -> dict[str, Any]:
        """RabbitMQ's shape: each count with ``<name>_details: {"rate": r}`` beside it."""
        rates = self.of(key, values, now)
        result: dict[str, Any] = {}
        for name, value in values.items():
            result[name] = value
            result[f"{name}_details"] = {"rate": rates[name]}
        return result

    def _prune(self, now: float) -> None:
        """Forget the samples of objects nobody read for a while (most of them deleted)."""
        if now - self._pruned < _FORGET_AFTER:
            return
        self._pruned = now
        for key in [k for k, (then, _, _) in self._samples.items() if now - then > _FORGET_AFTER]:
            del self._samples[key]
