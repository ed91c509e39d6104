"""Priority queues (x-max-priority) as RabbitMQ 3.10.8 orders them."""

from pamqp import commands

from tests.support.frames import consume, declare, delivered, drain, get, ready
from tests.support.raw import RawClient


def publish(raw, queue, body, priority=None, **props):
    raw.publish(1, "", queue, body.encode(), commands.Basic.Properties(priority=priority, **props))


def confirm_mode(raw):
    raw.send(1, commands.Confirm.Select())
    raw.expect(commands.Confirm.SelectOk, 1)


def confirmed(raw, tag):
    """Wait until publisher confirms cover `tag` (those publishes are in their queue)."""
    while raw.expect(commands.Basic.Ack, 1).delivery_tag < tag:
        pass


def bodies(raw, queue):
    return [body.decode() for _, _, body in drain(raw, queue)]


def test_highest_priority_first_fifo_within_and_above_max_is_max(opened):
    """Max 5: 9 counts as 5 (FIFO with the real 5s), no priority counts as 0."""
    declare(opened, "q", arguments={"x-max-priority": 5})
    for i, priority in enumerate([None, 9, 1, 5, 3, 0, 9]):
        publish(opened, "q", f"m{i}-p{priority}", priority)
    assert bodies(opened, "q") == ["m1-p9", "m3-p5", "m6-p9", "m4-p3", "m2-p1", "m0-pNone", "m5-p0"]


def test_requeue_keeps_priority_and_position(opened):
    """Requeued messages return to their priority, ahead of later ones of the same priority."""
    declare(opened, "q", arguments={"x-max-priority": 5})
    publish(opened, "q", "a-p1", 1)
    publish(opened, "q", "b-p2", 2)
    publish(opened, "q", "c-p1", 1)
    first, second = get(opened, "q"), get(opened, "q")
    assert (first[2], second[2]) == (b"b-p2", b"a-p1")
    publish(opened, "q", "d-p2", 2)
    for tag in (second[0], first[0]):
        opened.send(1, commands.Basic.Reject(delivery_tag=tag, requeue=True))
    assert [(body, redelivered) for _, redelivered, body in drain(opened, "q")] == [
        (b"b-p2", True), (b"d-p2", False), (b"a-p1", True), (b"c-p1", False)]


def test_consumer_gets_the_highest_priority_waiting(opened):
    """With prefetch 1 the next delivery is always the highest priority ready message."""
    declare(opened, "q", arguments={"x-max-priority": 10})
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk, 1)
    publish(opened, "q", "first", 1)
    consume(opened, "c", "q")
    assert [d[3] for d in delivered(opened, "q")] == [b"first"]
    confirm_mode(opened)
    for body, priority in (("low", 2), ("high", 8), ("mid", 5)):
        publish(opened, "q", body, priority)
    confirmed(opened, 3)
    got = []
    for tag in range(1, 4):
        opened.send(1, commands.Basic.Ack(delivery_tag=tag))
        got += [d[3] for d in delivered(opened, "q")]
    assert got == [b"high", b"mid", b"low"]


def test_drop_head_drops_the_highest_priority(opened):
    """x-max-length with priorities: the head that makes way is the next to deliver."""
    declare(opened, "q", arguments={"x-max-priority": 5, "x-max-length": 2})
    publish(opened, "q", "a-p1", 1)
    publish(opened, "q", "b-p3", 3)
    publish(opened, "q", "c-p0", 0)
    assert bodies(opened, "q") == ["a-p1", "c-p0"]


def test_max_priority_zero_is_fifo(opened):
    """x-max-priority 0: every message is priority 0, so plain FIFO."""
    declare(opened, "q", arguments={"x-max-priority": 0})
    publish(opened, "q", "a-p3", 3)
    publish(opened, "q", "b-p0", 0)
    assert bodies(opened, "q") == ["a-p3", "b-p0"]


def test_counts_cover_every_priority(opened):
    """Declare-Ok and Get-Ok count the ready messages of all priorities."""
    declare(opened, "q", arguments={"x-max-priority": 3})
    confirm_mode(opened)
    for i, priority in enumerate([0, 1, 2, 3, None]):
        publish(opened, "q", f"m{i}", priority)
    confirmed(opened, 5)
    assert ready(opened, "q") == 5
    assert get(opened, "q", no_ack=True)[3] == 4


def test_delete_if_empty_sees_every_priority(opened):
    """Queue.Delete if_empty refuses a priority queue with only high-priority messages."""
    declare(opened, "q", arguments={"x-max-priority": 3})
    publish(opened, "q", "m", 3)
    opened.send(1, commands.Queue.Delete(queue="q", if_empty=True))
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty")


def test_priority_order_survives_restart(broker_factory, tmp_path):
    """A durable priority queue's persistent messages come back in priority order."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "q", durable=True, arguments={"x-max-priority": 5})
        for body, priority in (("low", 1), ("high", 5), ("none", None), ("mid", 3)):
            publish(raw, "q", body, priority, delivery_mode=2)
        assert ready(raw, "q") == 4
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert bodies(raw, "q") == ["high", "mid", "low", "none"]
