"""The queue model on its own: ordering, round-robin, credit, priorities and requeue positions,
and the delivery-changing arguments driven by a settable clock."""

import pytest
from pamqp import commands

from amqpd.broker import clock as clock_module
from amqpd.broker.deadletter import is_cycle
from amqpd.broker.message import Message
from amqpd.broker.queue import Entry, Queue
from amqpd.broker.queue_type import ACCEPTED, REJECTED, Settle
from amqpd.broker.timers import Timers
from amqpd.broker.vhost import VirtualHost
from amqpd.protocol.properties import encode_properties, parse_expiration


class FakeConsumer:
    """Records deliveries; `credit` bounds how many it takes (None = unlimited)."""

    def __init__(self, tag, priority=0, credit=None, exclusive=False):
        self.tag = tag
        self.priority = priority
        self.exclusive = exclusive
        self.credit = credit
        self.got: list[Entry] = []
        self.cancelled = False

    def has_credit(self):
        return self.credit is None or self.credit > 0

    def deliver(self, queue, entry):
        if self.credit is not None:
            self.credit -= 1
        queue.hold(entry)
        self.got.append(entry)

    def cancel_by_server(self):
        self.cancelled = True

    def bodies(self):
        return [e.message.body for e in self.got]


def fill(queue, n, start=0):
    for i in range(start, start + n):
        queue.enqueue(Message("", queue.name, b"\x00\x00", f"m{i}".encode()))


def test_get_returns_messages_in_publish_order_and_counts_ready():
    """Basic.Get order is FIFO and message_count is the number still ready."""
    q = Queue("q", "/")
    fill(q, 3)
    assert q.message_count == 3
    assert [q.take().message.body for _ in range(3)] == [b"m0", b"m1", b"m2"]
    assert q.take() is None
    assert q.message_count == 0


def test_round_robin_over_consumers_with_credit():
    """Unlimited consumers take turns in arrival order: a, b, c, a, b, c, a."""
    q = Queue("q", "/")
    a, b, c = FakeConsumer("a"), FakeConsumer("b"), FakeConsumer("c")
    for consumer in (a, b, c):
        q.add_consumer(consumer)
    fill(q, 7)
    assert a.bodies() == [b"m0", b"m3", b"m6"]
    assert b.bodies() == [b"m1", b"m4"]
    assert c.bodies() == [b"m2", b"m5"]
    assert q.unacked_count == 7 and q.message_count == 0


def test_messages_wait_when_no_consumer_has_credit():
    """Without credit messages stay ready; granting credit dispatches them in order."""
    q = Queue("q", "/")
    a = FakeConsumer("a", credit=1)
    q.add_consumer(a)
    fill(q, 3)
    assert a.bodies() == [b"m0"]
    assert q.message_count == 2
    a.credit = 5
    q.dispatch()
    assert a.bodies() == [b"m0", b"m1", b"m2"]


def test_round_robin_position_kept_across_a_round_without_credit():
    """After all consumers ran out of credit, the turn continues where it stopped (RabbitMQ's order)."""
    q = Queue("q", "/")
    a, b = FakeConsumer("a", credit=1), FakeConsumer("b", credit=1)
    q.add_consumer(a)
    q.add_consumer(b)
    fill(q, 4)
    assert (a.bodies(), b.bodies()) == ([b"m0"], [b"m1"])
    a.credit = b.credit = 1
    q.dispatch()
    assert (a.bodies(), b.bodies()) == ([b"m0", b"m2"], [b"m1", b"m3"])


def test_higher_priority_consumers_first_then_lower():
    """x-priority: consumers of the top priority get messages while they have credit, round-robin."""
    q = Queue("q", "/")
    low = FakeConsumer("low")
    q.add_consumer(low)
    hi1, hi2 = FakeConsumer("hi1", priority=5, credit=1), FakeConsumer("hi2", priority=5, credit=1)
    q.add_consumer(hi1)
    q.add_consumer(hi2)
    fill(q, 4)
    assert hi1.bodies() == [b"m0"]
    assert hi2.bodies() == [b"m1"]
    assert low.bodies() == [b"m2", b"m3"]
    hi1.credit = 1
    fill(q, 1, start=4)
    assert hi1.bodies() == [b"m0", b"m4"]


def test_requeue_returns_entries_to_original_positions_marked_redelivered():
    """Requeued messages go back where they were relative to the still-ready ones."""
    q = Queue("q", "/")
    fill(q, 6)
    taken = [q.take() for _ in range(3)]  # m0, m1, m2
    for entry in taken:
        q.hold(entry)
    q.settle([taken[2]], Settle.REQUEUE)
    q.settle([taken[0]], Settle.REQUEUE)
    order = [(e.message.body, e.redelivered) for e in q.ready]
    assert order == [(b"m0", True), (b"m2", True), (b"m3", False), (b"m4", False), (b"m5", False)]
    assert q.unacked_count == 1


def test_requeue_into_the_middle_of_ready_messages():
    """A requeued entry lands between ready messages by its original sequence."""
    q = Queue("q", "/")
    fill(q, 5)
    entries = [q.take() for _ in range(5)]
    for entry in entries:
        q.hold(entry)
    q.settle([entries[0], entries[4]], Settle.REQUEUE)
    q.settle([entries[2]], Settle.REQUEUE)
    assert [e.message.body for e in q.ready] == [b"m0", b"m2", b"m4"]


def test_requeue_dispatches_to_waiting_consumer():
    """A requeued message is delivered again at once to a consumer with credit."""
    q = Queue("q", "/")
    fill(q, 1)
    entry = q.take()
    q.hold(entry)
    a = FakeConsumer("a")
    q.add_consumer(a)
    q.settle([entry], Settle.REQUEUE)
    assert a.got == [entry] and entry.redelivered


def test_purge_drops_only_ready_messages():
    """Purge counts and drops ready messages; unacked ones are not touched."""
    q = Queue("q", "/")
    fill(q, 5)
    q.hold(q.take())
    q.hold(q.take())
    assert q.purge() == 3
    assert q.message_count == 0 and q.unacked_count == 2


def test_auto_delete_only_after_having_had_a_consumer():
    """An auto-delete queue is unused only once a consumer came and the last one left."""
    q = Queue("q", "/", auto_delete=True)
    assert not q.unused_auto_delete
    a, b = FakeConsumer("a"), FakeConsumer("b")
    q.add_consumer(a)
    q.add_consumer(b)
    q.remove_consumer(a)
    assert not q.unused_auto_delete
    q.remove_consumer(b)
    assert q.unused_auto_delete
    assert not Queue("p", "/").unused_auto_delete


def test_exclusive_consumer_is_reported():
    """has_exclusive_consumer reflects the consumers present."""
    q = Queue("q", "/")
    q.add_consumer(FakeConsumer("a"))
    assert not q.has_exclusive_consumer()
    ex = FakeConsumer("x", exclusive=True)
    q.add_consumer(ex)
    assert q.has_exclusive_consumer()
    q.remove_consumer(ex)
    assert not q.has_exclusive_consumer()


# -- delivery-changing arguments (TTL, limits, dead-lettering, priorities, SAC, x-expires) -----

class Clock:
    """A settable stand-in for clock.now (seconds)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(clock_module, "now", fake)
    return fake


@pytest.fixture
def vhost():
    return VirtualHost("/")


def message(body, **props):
    raw = encode_properties(commands.Basic.Properties(**props))
    expiration = props.get("expiration")
    return Message("", "q", raw, body.encode(), props.get("delivery_mode") or 0, props.get("priority"),
                   None if expiration is None else parse_expiration(expiration))


def declare(vhost, name, **args):
    return vhost.declare_queue(name, owner=None, args=args)


def bodies_of(q):
    out = []
    while (entry := q.take()) is not None:
        out.append(entry.message.body.decode())
    return out


def advance(vhost, clock, seconds):
    clock.now += seconds
    vhost.timers.run_due(clock.now)


def test_timers_run_due_callbacks_in_deadline_order_and_skip_cancelled():
    """run_due runs what is due, earliest first; a cancelled timer never runs."""
    timers, ran = Timers(), []
    timers.schedule(3.0, lambda: ran.append("c"))
    timers.schedule(1.0, lambda: ran.append("a"))
    cancelled = timers.schedule(2.0, lambda: ran.append("b"))
    cancelled.cancel()
    assert timers.next_deadline() == 1.0
    timers.run_due(2.5)
    assert ran == ["a"] and timers.next_deadline() == 3.0
    timers.run_due(3.0)
    assert ran == ["a", "c"] and timers.next_deadline() is None


def test_timers_wake_the_runner_only_for_an_earlier_deadline():
    """on_earlier fires when a new timer becomes the next one due, not otherwise."""
    timers, woken = Timers(), []
    timers.on_earlier = lambda: woken.append(True)
    timers.schedule(5.0, lambda: None)
    timers.schedule(7.0, lambda: None)
    timers.schedule(4.0, lambda: None)
    assert len(woken) == 2


def test_a_failing_timer_callback_does_not_stop_the_others():
    """One callback raising is logged; the timers after it still run."""
    timers, ran = Timers(), []
    timers.schedule(1.0, lambda: 1 / 0)
    timers.schedule(2.0, lambda: ran.append("ok"))
    timers.run_due(2.0)
    assert ran == ["ok"]


def test_plain_queue_schedules_nothing(vhost, clock):
    """A queue without arguments and messages without expiration never touch the timers."""
    q = declare(vhost, "q")
    fill(q, 3)
    assert q.features is None and len(vhost.timers) == 0 and q.message_count == 3


def test_head_expires_exactly_at_its_deadline(vhost, clock):
    """x-message-ttl 100: one timer at publish + 0.1 s; not a moment earlier, dropped at it."""
    q = declare(vhost, "q", **{"x-message-ttl": 100})
    q.enqueue(message("m"))
    assert vhost.timers.next_deadline() == pytest.approx(1000.1)
    advance(vhost, clock, 0.0999)
    assert q.message_count == 1
    advance(vhost, clock, 0.0001)
    assert q.message_count == 0 and vhost.timers.next_deadline() is None


def test_expired_in_the_middle_waits_for_the_head(vhost, clock):
    """An expired message behind a live one is counted until it becomes the head."""
    q = declare(vhost, "q")
    q.enqueue(message("a"))
    q.enqueue(message("b", expiration="10"))
    q.enqueue(message("c"))
    advance(vhost, clock, 1)
    assert q.message_count == 3
    assert q.take().message.body == b"a"
    assert q.message_count == 1 and bodies_of(q) == ["c"]


def test_expired_message_is_dead_lettered(vhost, clock):
    """With a dead-letter exchange the expired message goes there when its timer fires."""
    q = declare(vhost, "q", **{"x-message-ttl": 5, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
    dlq = declare(vhost, "dlq")
    q.enqueue(message("m"))
    advance(vhost, clock, 0.005)
    assert q.message_count == 0 and bodies_of(dlq) == ["m"]


def test_ttl_zero_goes_to_a_consumer_with_credit_else_expires(vhost, clock):
    """TTL 0: handed to a consumer that can take it, dropped when none can."""
    q = declare(vhost, "q", **{"x-message-ttl": 0})
    consumer = FakeConsumer("c", credit=1)
    q.add_consumer(consumer)
    q.enqueue(message("first"))
    q.enqueue(message("second"))
    assert consumer.bodies() == [b"first"] and q.message_count == 0


def test_priority_lanes_order_and_requeue(vhost, clock):
    """Highest priority first, FIFO within one; a requeued message returns to its own lane."""
    q = declare(vhost, "q", **{"x-max-priority": 3})
    for body, priority in (("a", 1), ("b", 3), ("c", 1), ("d", None), ("e", 7)):
        q.enqueue(message(body, priority=priority))
    first, second = q.take(), q.take()
    assert (first.message.body, second.message.body) == (b"b", b"e")
    q.hold(first)
    q.hold(second)
    q.settle([second, first], Settle.REQUEUE)
    assert bodies_of(q) == ["b", "e", "a", "c", "d"]


def test_drop_head_and_reject_publish(vhost, clock):
    """drop-head keeps the newest; reject-publish refuses (REJECTED) and keeps the oldest."""
    head = declare(vhost, "head", **{"x-max-length": 2})
    refuse = declare(vhost, "refuse", **{"x-max-length": 2, "x-overflow": "reject-publish"})
    results = [refuse.enqueue(message(f"m{i}")) for i in range(3)]
    for i in range(3):
        head.enqueue(message(f"m{i}"))
    assert results == [ACCEPTED, ACCEPTED, REJECTED]
    assert bodies_of(head) == ["m1", "m2"] and bodies_of(refuse) == ["m0", "m1"]


def test_reject_publish_dlx_dead_letters_the_refused_one(vhost, clock):
    """reject-publish-dlx: refused (REJECTED) and dead-lettered."""
    q = declare(vhost, "q", **{"x-max-length": 1, "x-overflow": "reject-publish-dlx",
                               "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
    dlq = declare(vhost, "dlq")
    assert [q.enqueue(message(body)) for body in ("a", "b")] == [ACCEPTED, REJECTED]
    assert bodies_of(q) == ["a"] and bodies_of(dlq) == ["b"]


def test_max_length_bytes_counts_ready_bodies(vhost, clock):
    """x-max-length-bytes: ready body bytes; taking a message frees its bytes."""
    q = declare(vhost, "q", **{"x-max-length-bytes": 4})
    q.enqueue(message("aa"))
    q.enqueue(message("bb"))
    assert q.ready_bytes == 4
    q.enqueue(message("c"))
    assert q.ready_bytes == 3 and bodies_of(q) == ["bb", "c"] and q.ready_bytes == 0


def test_single_active_consumer_switches_on_removal(vhost, clock):
    """Only the active consumer gets messages; on its removal the highest-priority, oldest
    remaining consumer takes over and receives what waits."""
    q = declare(vhost, "q", **{"x-single-active-consumer": True})
    a, low, high = FakeConsumer("a", credit=1), FakeConsumer("low"), FakeConsumer("high", priority=5)
    for consumer in (a, low, high):
        q.add_consumer(consumer)
    fill(q, 3)
    assert a.bodies() == [b"m0"] and low.got == [] and high.got == []
    q.remove_consumer(a)
    assert high.bodies() == [b"m1", b"m2"] and low.got == []


def test_x_expires_deletes_the_unused_queue(vhost, clock):
    """x-expires 200: touching (declare, Get) postpones it; consumers keep it; then it goes."""
    q = declare(vhost, "q", **{"x-expires": 200})
    advance(vhost, clock, 0.15)
    q.touch()
    advance(vhost, clock, 0.15)
    assert "q" in vhost.queues
    consumer = FakeConsumer("c")
    q.add_consumer(consumer)
    advance(vhost, clock, 1)
    assert "q" in vhost.queues
    q.remove_consumer(consumer)
    advance(vhost, clock, 0.2)
    assert "q" not in vhost.queues and q.deleted


def test_timers_advance_runs_due_callbacks_at_their_deadlines():
    timers, ran = Timers(), []
    start = clock_module.now()
    timers.schedule(start + 20, lambda: ran.append(("late", clock_module.now() - start)))
    timers.schedule(start + 10, lambda: (ran.append(("early", clock_module.now() - start)),
                                         timers.schedule(clock_module.now() + 5, lambda: ran.append(("chained", 0)))))
    timers.schedule(start + 100, lambda: ran.append(("beyond", 0)))
    woken: list[bool] = []
    timers.on_earlier = lambda: woken.append(True)

    timers.advance(30)
    assert [name for name, _ in ran] == ["early", "chained", "late"]
    assert 10 <= ran[0][1] < 11 and 20 <= ran[2][1] < 21  # each ran with the clock at its deadline
    assert clock_module.now() - start >= 30 and timers.next_deadline() == pytest.approx(start + 100)
    assert woken  # the timer task is told to sleep again, to the new next deadline


def test_deleted_queue_drops_its_timers(vhost, clock):
    """Deleting a queue cancels its TTL and x-expires timers."""
    q = declare(vhost, "q", **{"x-expires": 200, "x-message-ttl": 100})
    q.enqueue(message("m"))
    assert len(vhost.timers) == 2
    vhost.delete_queue("q", owner=None)
    assert len(vhost.timers) == 0


@pytest.mark.parametrize("deaths, cycle", [
    ([(b"q", b"expired")], True),
    ([(b"other", b"maxlen"), (b"q", b"expired")], True),
    ([(b"other", b"rejected"), (b"q", b"expired")], False),
    ([(b"q", b"rejected")], False),
    ([(b"other", b"expired")], False),
    ([None, (b"q", b"expired")], False),
])
def test_cycle_detection(deaths, cycle):
    """A cycle: the queue is in x-death and no death up to it was a rejection (or unknown)."""
    assert is_cycle("q", deaths) is cycle


# -- the memory ledger: bytes held by queues ---------------------------------------------------

def test_ledger_counts_ready_and_unacked_bodies_until_they_leave(vhost, clock):
    """Every way a message leaves a queue gives its bytes back: taken with no ack, settled,
    rejected into a dead-letter queue (counted there), purged, deleted, expired, dropped over a
    length limit; requeued and held ones still count."""
    ledger = vhost.memory
    plain = declare(vhost, "plain")
    for body in ("aaaa", "bbbb", "cccc", "dddd"):
        plain.enqueue(message(body))
    assert ledger.queued == 16
    consumer = FakeConsumer("c", credit=2)
    plain.add_consumer(consumer)  # two held awaiting their ack
    assert ledger.queued == 16
    plain.settle([consumer.got[1]], Settle.REQUEUE)
    plain.settle([consumer.got[0]], Settle.ACK)
    assert ledger.queued == 12
    plain.forget(plain.take())  # a no-ack Get
    assert ledger.queued == 8
    assert plain.purge() == 2
    assert ledger.queued == 0

    dlq = declare(vhost, "dlq")
    limited = declare(vhost, "limited", **{"x-max-length": 1, "x-message-ttl": 1000,
                                           "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
    limited.enqueue(message("11"))
    limited.enqueue(message("22"))  # drop-head: "11" is dead-lettered into dlq
    assert ledger.queued == 4 and dlq.message_count == 1
    advance(vhost, clock, 1)  # "22" expires into dlq too
    assert ledger.queued == 4 and dlq.message_count == 2
    vhost.remove_queue(dlq)
    assert ledger.queued == 0
