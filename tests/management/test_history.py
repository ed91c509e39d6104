"""The sample history's retention, sans-IO: a ring keeps at most age / incr + 1 entries of its
level (RabbitMQ 3.10.8's sample_retention_policies), an idle object one entry per level, and a
range longer than the finest level's age is read from the coarser one."""

from __future__ import annotations

import pytest

from amqpd.broker import Node
from amqpd.management.errors import ApiError
from amqpd.management.history import BASIC, GLOBAL, Range, Track
from amqpd.management.objstats import History
from amqpd.settings import Settings

START = 1_800_000_000  # seconds, a multiple of 1800


def test_a_busy_object_keeps_a_bounded_history_per_level():
    track = Track(BASIC)
    for tick in range(3 * 3600 // 5):  # three hours of samples, every value new
        track.record((START + 5 * tick) * 1000, (tick,))
    fine, coarse = (len(ring.newest_first(2, 0)) for ring in track.rings)
    assert (fine, coarse) == (605 // 5 + 1, 3600 // 60 + 1)
    assert [len(ring.newest_first(2, 0)) for ring in Track(GLOBAL).rings] == [0, 0, 0, 0]


def test_an_idle_object_keeps_one_entry_per_level():
    track = Track(GLOBAL)
    for tick in range(3600 // 5):
        track.record((START + 5 * tick) * 1000, (7, 7))
    assert [len(ring.newest_first(3, 0)) for ring in track.rings] == [1, 1, 1, 1]


def test_samples_carry_the_value_in_force_and_a_long_range_reads_the_coarse_level():
    track = Track(BASIC)
    for tick in range(2 * 3600 // 5):
        track.record((START + 5 * tick) * 1000, (tick,))
    now = START + 2 * 3600 - 0.5  # the last tick's interval
    span = Range.of({"msg_rates_age": "60", "msg_rates_incr": "5"}, "msg_rates", now)
    points = track.points(span, (10_000,), now)
    assert [value for _, (value,) in points][:3] == [10_000, 1438, 1437]  # now's value, then each tick's
    hour = Range.of({"msg_rates_age": "3600", "msg_rates_incr": "60"}, "msg_rates", now)
    points = track.points(hour, (10_000,), now)
    assert len(points) == 61  # the 60 s level's entries, one a minute
    assert [value for _, (value,) in points][:3] == [1428, 1416, 1404]


def test_range_bounds():
    assert Range.of({"lengths_age": "60"}, "lengths", START) is None
    assert Range.of({"lengths_age": "60", "lengths_incr": "5"}, "lengths", START + 0.1, ceil=True).last == (
        (START + 5) * 1000)
    with pytest.raises(ApiError):
        Range.of({"lengths_age": "2505", "lengths_incr": "5"}, "lengths", START)


def test_recording_goes_on_after_the_node_is_reset():
    """stop_app / start_app give the node new timers (Node.reset): the history's timer must be
    scheduled on them again when the API next reads, or the samples would stop."""
    node = Node(Settings())
    history = History()
    history.start(node)
    node.reset()
    assert node.timers.next_deadline() is None
    history.start(node)
    assert node.timers.next_deadline() is not None
