"""Queue features attached, changed and removed on a live queue (Queue.apply_arguments, what a
policy will call), and the typed outcomes of enqueue and settle. RabbitMQ 3.10.8 was checked
with policies for the TTL, length-limit and refused-key cases."""

from collections import deque

import pytest
from pamqp import commands

from amqpd.broker import timers
from amqpd.broker.entry import Entry, Paged, insert, position
from amqpd.broker.message import Message
from amqpd.broker.queue_type import ACCEPTED, DROPPED, REJECTED, Enqueued, Outcome, Settle, combined, stored
from amqpd.broker.vhost import VirtualHost
from amqpd.protocol.properties import encode_properties
from tests.broker.test_queue import FakeConsumer, advance, bodies_of, clock, vhost  # noqa: F401 (fixtures)


def message(body, priority=None):
    raw = encode_properties(commands.Basic.Properties(priority=priority))
    return Message("", "q", raw, body.encode(), 0, priority)


def declare(vhost, name, **args):
    return vhost.declare_queue(name, owner=None, args=args)


def fill(q, *bodies):
    for body in bodies:
        q.enqueue(message(body))


DLX = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}


# -- x-max-length / x-max-length-bytes / x-overflow --------------------------------------------

def test_attaching_a_length_limit_drops_the_oldest_into_the_dead_letter_queue(vhost, clock):
    """x-max-length 2 on a queue holding 5: the oldest 3 are dead-lettered (RabbitMQ: same)."""
    q, dlq = declare(vhost, "q"), declare(vhost, "dlq")
    fill(q, "m0", "m1", "m2", "m3", "m4")
    assert q.features is None
    q.apply_arguments({"x-max-length": 2, **DLX})
    assert bodies_of(q) == ["m3", "m4"] and bodies_of(dlq) == ["m0", "m1", "m2"]


def test_attaching_reject_publish_over_the_limit_still_drops_the_head(vhost, clock):
    """RabbitMQ 3.10 trims a queue that a reject-publish limit finds over it; later publishes
    are refused."""
    q = declare(vhost, "q")
    fill(q, "m0", "m1", "m2", "m3")
    q.apply_arguments({"x-max-length": 2, "x-overflow": "reject-publish"})
    assert q.enqueue(message("m4")) is REJECTED
    assert bodies_of(q) == ["m2", "m3"]


def test_changing_and_removing_a_length_limit(vhost, clock):
    """Raising the limit keeps more; lowering it trims; removing it makes the queue plain."""
    q = declare(vhost, "q", **{"x-max-length": 2})
    q.apply_arguments({"x-max-length": 3})
    fill(q, "m0", "m1", "m2", "m3")
    assert q.message_count == 3
    q.apply_arguments({"x-max-length-bytes": 4})
    assert q.message_count == 2 and q.ready_bytes == 4
    q.apply_arguments({})
    assert q.features is None
    fill(q, "m4", "m5")
    assert bodies_of(q) == ["m2", "m3", "m4", "m5"]


# -- x-message-ttl -----------------------------------------------------------------------------

def test_attaching_a_message_ttl_applies_to_messages_enqueued_from_then_on(vhost, clock):
    """The message already queued keeps no deadline and, at the head, holds back the expired one
    behind it (RabbitMQ: both still counted); once it is taken the expired one is dropped."""
    q = declare(vhost, "q")
    fill(q, "old")
    q.apply_arguments({"x-message-ttl": 100})
    fill(q, "new")
    advance(vhost, clock, 0.2)
    assert q.message_count == 2
    assert bodies_of(q) == ["old"]


def test_removing_a_message_ttl_keeps_the_deadlines_already_given(vhost, clock):
    """A message queued under a TTL still expires after the TTL is removed (RabbitMQ: same);
    one queued afterwards never does."""
    q, dlq = declare(vhost, "q", **{"x-message-ttl": 100, **DLX}), declare(vhost, "dlq")
    fill(q, "a")
    q.apply_arguments(DLX)
    fill(q, "b")
    advance(vhost, clock, 0.1)
    assert bodies_of(dlq) == ["a"]
    advance(vhost, clock, 100)
    assert bodies_of(q) == ["b"] and len(vhost.timers) == 0


def test_changing_a_message_ttl(vhost, clock):
    """A shorter TTL applies to the next message; the earlier head keeps its own deadline."""
    q = declare(vhost, "q", **{"x-message-ttl": 1000})
    q.apply_arguments({"x-message-ttl": 50})
    fill(q, "short")
    assert vhost.timers.next_deadline() == pytest.approx(1000.05)
    advance(vhost, clock, 0.05)
    assert q.message_count == 0


# -- x-expires ---------------------------------------------------------------------------------

def test_attaching_changing_and_removing_x_expires(vhost, clock):
    """Attached: the unused queue goes that long after; changed: counted again with the new
    length; removed: its timer stops and the queue stays."""
    q = declare(vhost, "q")
    q.apply_arguments({"x-expires": 200})
    q.apply_arguments({"x-expires": 1000})
    advance(vhost, clock, 0.5)
    assert "q" in vhost.queues
    advance(vhost, clock, 0.5)
    assert "q" not in vhost.queues and q.deleted

    kept = declare(vhost, "kept", **{"x-expires": 200})
    assert kept.features is None  # x-expires alone keeps the plain per-message path
    kept.apply_arguments({})
    assert len(vhost.timers) == 0
    advance(vhost, clock, 10)
    assert "kept" in vhost.queues


# -- dead-lettering ------------------------------------------------------------------------------

def test_attaching_changing_and_removing_a_dead_letter_exchange(vhost, clock):
    """A rejection goes to the dead-letter queue in force at the time, and nowhere once removed."""
    q = declare(vhost, "q")
    first, second = declare(vhost, "first"), declare(vhost, "second")
    consumer = FakeConsumer("c")
    q.add_consumer(consumer)
    fill(q, "a", "b", "c")
    for target, entry in (("first", consumer.got[0]), ("second", consumer.got[1]), (None, consumer.got[2])):
        if target is None:
            q.apply_arguments({})
        else:
            q.apply_arguments({"x-dead-letter-exchange": "", "x-dead-letter-routing-key": target})
        q.settle([entry], Settle.DROP)
    assert bodies_of(first) == ["a"] and bodies_of(second) == ["b"] and q.unacked_count == 0


# -- declaration-time only: x-max-priority, x-single-active-consumer -----------------------------

def test_priority_lanes_and_single_active_consumer_stay_as_declared(vhost, clock):
    """RabbitMQ refuses max-priority and single-active-consumer in policies: applying arguments
    neither adds nor removes them, and the queued messages keep their order."""
    plain = declare(vhost, "plain")
    fill(plain, "a", "b")
    plain.apply_arguments({"x-max-priority": 5, "x-single-active-consumer": True})
    plain.enqueue(message("urgent", priority=5))
    assert not plain.single_active_consumer and bodies_of(plain) == ["a", "b", "urgent"]

    q = declare(vhost, "q", **{"x-max-priority": 5, "x-single-active-consumer": True})
    q.apply_arguments({})
    for body, priority in (("low", 1), ("high", 5)):
        q.enqueue(message(body, priority))
    assert q.single_active_consumer and bodies_of(q) == ["high", "low"]


# -- typed outcomes ------------------------------------------------------------------------------

def test_enqueue_outcomes(vhost, clock):
    """Accepted, dropped at once (a length limit of 0 keeps nothing), rejected (reject-publish)."""
    assert declare(vhost, "q").enqueue(message("m")) is ACCEPTED
    assert declare(vhost, "none", **{"x-max-length": 0}).enqueue(message("m")) is DROPPED
    refuse = declare(vhost, "refuse", **{"x-max-length": 0, "x-overflow": "reject-publish"})
    assert refuse.enqueue(message("m")) is REJECTED


def test_combined_outcome_over_several_queues():
    """A refusal anywhere wins; else the latest store batch; else accepted (dropped if all were)."""
    assert combined([ACCEPTED, stored(3), stored(7), DROPPED]) == Enqueued(Outcome.STORED, 7)
    assert combined([stored(9), REJECTED, ACCEPTED]) is REJECTED
    assert combined([DROPPED, ACCEPTED]) is ACCEPTED
    assert combined([DROPPED, DROPPED]) is DROPPED
    assert stored(5) is stored(5)  # one value per batch, not one per message


def test_settle_ack_requeue_drop(vhost, clock):
    """ACK removes, REQUEUE puts back at the original position marked redelivered, DROP removes."""
    q = declare(vhost, "q")
    consumer = FakeConsumer("c", credit=3)
    q.add_consumer(consumer)
    fill(q, "a", "b", "c")
    a, b, c = consumer.got
    q.settle([a], Settle.ACK)
    q.settle([c], Settle.DROP)
    q.settle([b], Settle.REQUEUE)
    entry = q.take()
    assert q.unacked_count == 0 and (entry.message.body, entry.redelivered) == (b"b", True)
    q.forget(entry)  # taken with no ack
    assert q.take() is None and vhost.memory.queued == 0


def test_paged_messages_keep_their_positions():
    """A lane mixing paged ids and entries takes requeued entries back by position."""
    lane = deque([1, Entry(Message("", "q", b"\x00\x00", b"x", message_id=5)), 9])
    insert(lane, [Entry(Message("", "q", b"\x00\x00", b"y", message_id=3)),
                  Entry(Message("", "q", b"\x00\x00", b"z", message_id=12))])
    assert [position(item) for item in lane] == [1, 3, 5, 9, 12]
    assert [type(item) is Paged for item in lane] == [True, False, False, True, False]