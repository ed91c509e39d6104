"""The quorum queue model (broker/quorum.py, features/delivery_limit.py): returns counted and
shown as x-delivery-count, the delivery limit, where returned messages go, every message stored.
Each rule was observed on RabbitMQ 3.10.8 (tests/integration/test_quorum.py drives the same over
pika)."""

from amqpd.broker.features.delivery_limit import DeliveryLimit
from amqpd.broker.queue import Queue
from amqpd.broker.queue_type import REJECTED, Settle
from amqpd.broker.quorum import QuorumQueue
from amqpd.protocol import decode_headers
from tests.broker.test_queue import FakeConsumer, bodies_of, clock, message, vhost  # noqa: F401 (fixtures)

DLX = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}


def quorum(vhost, name="q", **args):
    return vhost.declare_queue(name, owner=None, durable=True, args={"x-queue-type": "quorum", **args})


def fill(q, *bodies):
    for body in bodies:
        q.enqueue(message(body, headers={"a": 1}))


def taken(q, how=None):
    """Take the next message for a consumer, hold it and settle it ``how`` (None: leave it held)."""
    entry = q.take()
    q.hold(entry)
    if how is not None:
        q.settle([entry], how)
    return entry


def count(entry):
    return decode_headers(entry.message.raw_properties).get("x-delivery-count")


def test_the_queue_type_picks_the_class(vhost):
    assert type(quorum(vhost)) is QuorumQueue
    assert type(vhost.declare_queue("c", owner=None, durable=True)) is Queue


def test_delivery_limit_counts_returns_and_says_when_over():
    limit = DeliveryLimit(1)
    assert limit.count(7) == 0
    assert limit.returned(7) is False and limit.count(7) == 1
    assert limit.returned(7) is True
    limit.forget(7)
    assert limit.count(7) == 0
    assert DeliveryLimit(None).returned(7) is False
    assert [DeliveryLimit.limit_of(args) for args in ({}, {"x-delivery-limit": 3}, {"x-delivery-limit": "a"})] == [
        None, 3, None]


def test_get_always_shows_the_count_a_consumer_only_once_returned(vhost):
    q = quorum(vhost)
    fill(q, "m0", "m1")
    first = q.get()
    assert decode_headers(first.message.raw_properties) == {"a": 1, "x-delivery-count": 0}
    q.hold(first)
    q.settle([first], Settle.REQUEUE)
    assert count(taken(q)) is None  # m1, never returned
    again = taken(q)
    assert (again.message.body, again.redelivered, count(again)) == (b"m0", True, 1)


def test_the_stored_message_never_carries_the_header(vhost):
    """The header is on the delivery only: a returned message is kept as published, and a
    rejected one is dead-lettered without it."""
    q = quorum(vhost, **DLX)
    dlq = vhost.declare_queue("dlq", owner=None)
    fill(q, "m0")
    original = q.ready[0].message.raw_properties
    shown = q.get()
    q.hold(shown)
    q.settle([shown], Settle.RELEASE)
    assert q.ready[0].message.raw_properties == original
    shown = q.get()
    assert count(shown) == 1
    q.hold(shown)
    q.settle([shown], Settle.DROP)
    dead = decode_headers(dlq.take().message.raw_properties)
    assert dead["x-first-death-reason"] == "rejected" and "x-delivery-count" not in dead


def test_requeue_goes_to_the_back_without_a_limit_and_to_the_front_with_one(vhost):
    q = quorum(vhost)
    fill(q, "m0", "m1", "m2")
    taken(q, Settle.REQUEUE)
    assert bodies_of(q) == ["m1", "m2", "m0"]
    limited = quorum(vhost, "limited", **{"x-delivery-limit": 5})
    fill(limited, "m0", "m1", "m2")
    taken(limited, Settle.REQUEUE)
    assert bodies_of(limited) == ["m0", "m1", "m2"]


def test_released_messages_go_to_the_front_in_delivery_order(vhost):
    q = quorum(vhost)
    fill(q, "m0", "m1", "m2", "m3")
    held = [taken(q), taken(q)]
    q.settle(held, Settle.RELEASE)
    assert [(e.message.body, count(e)) for e in (taken(q), taken(q))] == [(b"m0", 1), (b"m1", 1)]


def test_over_the_limit_dead_lettered_with_reason_delivery_limit(vhost):
    q = quorum(vhost, **{"x-delivery-limit": 1, **DLX})
    dlq = vhost.declare_queue("dlq", owner=None)
    fill(q, "m0", "m1")
    taken(q, Settle.REQUEUE)
    taken(q, Settle.RELEASE)
    dead = dlq.take().message
    assert dead.body == b"m0"
    headers = decode_headers(dead.raw_properties)
    assert headers["x-first-death-reason"] == "delivery_limit" and "x-delivery-count" not in headers
    assert bodies_of(q) == ["m1"]


def test_a_policy_lowers_the_delivery_limit_on_the_live_queue(vhost):
    q = quorum(vhost, **{"x-delivery-limit": 5})
    fill(q, "m0")
    q.apply_arguments({"x-queue-type": "quorum", "x-delivery-limit": 0})
    taken(q, Settle.REQUEUE)
    assert bodies_of(q) == []


def test_reject_publish_admits_one_over_and_dlx_mode_drops_the_head(vhost):
    q = quorum(vhost, **{"x-max-length": 1, "x-overflow": "reject-publish"})
    fill(q, "m0", "m1")
    assert q.enqueue(message("m2")) is REJECTED
    assert bodies_of(q) == ["m0", "m1"]
    head = quorum(vhost, "h", **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    fill(head, "m0", "m1")
    assert bodies_of(head) == ["m1"]


def test_returned_messages_count_against_the_length_limit(vhost):
    """With a length limit (the featured path) a returned message counts as ready again."""
    q = quorum(vhost, **{"x-max-length": 2})
    fill(q, "m0", "m1")
    taken(q, Settle.REQUEUE)
    fill(q, "m2")
    assert bodies_of(q) == ["m0", "m2"]


def test_consumers_get_returned_messages_with_the_header(vhost):
    q = quorum(vhost)
    fill(q, "m0")
    consumer = FakeConsumer("c", credit=1)
    q.add_consumer(consumer)
    q.settle(consumer.got, Settle.RELEASE)
    consumer.credit = 1
    q.dispatch()
    assert [count(e) for e in consumer.got] == [None, 1]
