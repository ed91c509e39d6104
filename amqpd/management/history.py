"""What an object's counts and depths were over time: the ``samples`` / ``avg`` / ``avg_rate``
RabbitMQ's API adds to a ``<name>_details`` when a request carries ``<prefix>_age`` and
``<prefix>_incr`` (prefix ``msg_rates``, ``lengths`` or ``data_rates``).

An object's history is a ``Track``: one ``Ring`` per level of RabbitMQ 3.10.8's default
``sample_retention_policies`` (``global``: 605 s at 5 s, 3660 s at 60 s, 29400 s at 600 s,
86400 s at 1800 s, for the node and the vhosts; ``basic``: 605 s at 5 s, 3600 s at 60 s, for
queues, exchanges, channels and connections). A ring holds at most age / incr + 1 entries, and
an entry only when the values changed since the one before (a value holds until the next
entry), so an idle object keeps one entry per level. Entries are recorded by one timer
(objstats.History), never on the per-message path.

A request's samples are read as RabbitMQ's ``rabbit_mgmt_stats:format_range`` reads them: the
finest level whose age exceeds the asked age (else the coarsest), one point every ``incr`` back
from ``last`` (now rounded down to ``incr``; up for a queue's lengths) over ``age``, each the
value in force at that moment (the current value for a moment not yet sampled), newest first;
``avg`` is their mean, ``avg_rate`` the change from the oldest to the newest per second, and
``rate`` the change over the last ``incr``.
"""

from __future__ import annotations

import dataclasses
from array import array
from typing import Any, Mapping, Sequence

from amqpd.management.errors import bad_request

Levels = tuple[tuple[int, int], ...]  # (age, incr) in seconds, finest first
GLOBAL: Levels = ((605, 5), (3660, 60), (29400, 600), (86400, 1800))
BASIC: Levels = ((605, 5), (3600, 60))
EVERY = 5  # seconds between samples: RabbitMQ's collect_statistics_interval
MAX_POINTS = 500  # RabbitMQ's MAX_RANGE: age / incr may not exceed it
Values = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Range:
    """A request's ``<prefix>_age`` / ``<prefix>_incr``, in milliseconds, and the newest moment."""

    age: int
    incr: int
    last: int

    @classmethod
    def of(cls, query: Mapping[str, str], prefix: str, now: float, ceil: bool = False) -> Range | None:
        """The range a query asks for, None when it names none (either key missing or not an
        integer, as RabbitMQ ignores them); out of bounds is RabbitMQ's 400."""
        age, incr = _integer(query.get(f"{prefix}_age")), _integer(query.get(f"{prefix}_incr"))
        if age is None or incr is None:
            return None
        if age <= 0 or incr <= 0 or age // incr > MAX_POINTS:
            raise bad_request(f"Invalid range parameters: age {age}, incr {incr}")
        step = incr * 1000
        moment = int(now * 1000)
        last = (moment + step - 1) // step * step if ceil else moment // step * step
        return cls(age * 1000, step, last)

    def moments(self) -> list[int]:
        """The sample timestamps, newest first."""
        return [self.last - index * self.incr for index in range(self.age // self.incr + 1)]


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class Ring:
    """One retention level of one object: (stamp ms, values) entries, recorded only on change,
    the last ``size`` of them, flat in one array of 64-bit integers (about 8 bytes a value, a
    tuple of ints would take five times that)."""

    __slots__ = ("incr", "size", "data", "head")

    def __init__(self, age: int, incr: int) -> None:
        self.incr = incr * 1000
        self.size = age // incr + 1
        self.data = array("q")
        self.head = 0  # once full, where the oldest entry starts (entries are overwritten there)

    def record(self, stamp: int, values: Values) -> None:
        if stamp % self.incr:
            return  # not a point of this level
        width = len(values) + 1
        data = self.data
        count = len(data) // width
        if count:
            last = (self.head - 1) % count * width
            if tuple(data[last + 1:last + width]) == values:
                return  # unchanged: the entry before holds
            if data[last] == stamp:  # a second sample in one interval replaces the first
                data[last:last + width] = array("q", (stamp, *values))
                return
        if count < self.size:
            data.extend((stamp, *values))
        else:
            at = self.head * width
            data[at:at + width] = array("q", (stamp, *values))
            self.head = (self.head + 1) % count

    def newest_first(self, width: int, down_to: int) -> list[tuple[int, Values]]:
        """The entries from the newest back to the first one stamped at or before ``down_to``
        (the one in force then), or to the oldest: a read costs what its range needs."""
        data = self.data
        count = len(data) // width
        found = []
        for back in range(count):
            at = (self.head - 1 - back) % count * width
            found.append((data[at], tuple(data[at + 1:at + width])))
            if data[at] <= down_to:
                break
        return found


class Track:
    """One object's history: a ring per retention level."""

    __slots__ = ("levels", "rings")

    def __init__(self, levels: Levels) -> None:
        self.levels = levels
        self.rings = [Ring(age, incr) for age, incr in levels]

    def record(self, stamp: int, values: Values) -> None:
        for ring in self.rings:
            ring.record(stamp, values)

    def points(self, span: Range, current: Values, now: float) -> list[tuple[int, Values]]:
        """The values at each moment of the range, newest first; ``current`` holds from the
        start of the current sampling interval (so the newest sample is the value shown)."""
        ring = self.rings[-1]
        for (age, _), candidate in zip(self.levels, self.rings):
            if age * 1000 > span.age:
                ring = candidate
                break
        moments = span.moments()
        entries = [(int(now) // EVERY * EVERY * 1000, current), *ring.newest_first(len(current) + 1, moments[-1])]
        found = []
        index = 0
        for moment in moments:
            while index < len(entries) - 1 and entries[index][0] > moment:
                index += 1
            found.append((moment, entries[index][1]))  # before the first entry: the first one
        return found


def details(counts: dict[str, Any], names: Sequence[str], points: list[tuple[int, Values]]) -> None:
    """Add samples / avg / avg_rate and the range's rate to each ``<name>_details`` in counts
    (``names``: what each position of a point's values is)."""
    newest, oldest = points[0][0], points[-1][0]
    for position, name in enumerate(names):
        detail = counts.get(f"{name}_details")
        if detail is None:
            continue
        values = [values[position] for _, values in points]
        detail["samples"] = [{"sample": value, "timestamp": moment} for (moment, _), value in zip(points, values)]
        if len(points) > 1:
            detail["rate"] = (values[0] - values[1]) * 1000 / (points[0][0] - points[1][0])
            detail["avg_rate"] = (values[0] - values[-1]) * 1000 / (newest - oldest)
            detail["avg"] = sum(values) / len(values)
        else:
            detail["rate"] = 0.0


def added(parts: list[list[tuple[int, Values]]]) -> list[tuple[int, Values]]:
    """Several objects' points (of the same range, at least one) summed moment by moment."""
    return [(moment, tuple(map(sum, zip(*(part[index][1] for part in parts)))))
            for index, (moment, _) in enumerate(parts[0])]
