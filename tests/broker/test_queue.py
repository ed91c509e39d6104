"""The queue model on its own: ordering, round-robin, credit, priorities and requeue positions."""

from amqpd.broker.message import Message
from amqpd.broker.queue import Entry, Queue


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
    assert q.unacked == 7 and q.message_count == 0


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
    q.requeue([taken[2]])
    q.requeue([taken[0]])
    order = [(e.message.body, e.redelivered) for e in q.ready]
    assert order == [(b"m0", True), (b"m2", True), (b"m3", False), (b"m4", False), (b"m5", False)]
    assert q.unacked == 1


def test_requeue_into_the_middle_of_ready_messages():
    """A requeued entry lands between ready messages by its original sequence."""
    q = Queue("q", "/")
    fill(q, 5)
    entries = [q.take() for _ in range(5)]
    for entry in entries:
        q.hold(entry)
    q.requeue([entries[0], entries[4]])
    q.requeue([entries[2]])
    assert [e.message.body for e in q.ready] == [b"m0", b"m2", b"m4"]


def test_requeue_dispatches_to_waiting_consumer():
    """A requeued message is delivered again at once to a consumer with credit."""
    q = Queue("q", "/")
    fill(q, 1)
    entry = q.take()
    q.hold(entry)
    a = FakeConsumer("a")
    q.add_consumer(a)
    q.requeue([entry])
    assert a.got == [entry] and entry.redelivered


def test_purge_drops_only_ready_messages():
    """Purge counts and drops ready messages; unacked ones are not touched."""
    q = Queue("q", "/")
    fill(q, 5)
    q.hold(q.take())
    q.hold(q.take())
    assert q.purge() == 3
    assert q.message_count == 0 and q.unacked == 2


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
