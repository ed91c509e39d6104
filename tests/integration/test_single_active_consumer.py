"""x-single-active-consumer on a classic queue, as RabbitMQ 3.10.8 does it."""

from pamqp import commands

from tests.support.frames import close_of, consume, counts, declare, delivered, deliveries, drain, get, publish_n, until
from tests.support.raw import RawClient

SAC = {"x-single-active-consumer": True}


def cancel(raw, tag, channel=1):
    raw.send(channel, commands.Basic.Cancel(consumer_tag=tag))
    raw.expect(commands.Basic.CancelOk, channel)


def test_only_the_first_consumer_receives(opened):
    """Two consumers: every message goes to the first one; both are counted."""
    declare(opened, "q", arguments=SAC)
    consume(opened, "a", "q", no_ack=True)
    consume(opened, "b", "q", no_ack=True)
    opened.send(1, commands.Confirm.Select())
    opened.expect(commands.Confirm.SelectOk, 1)
    publish_n(opened, 3, "q")
    frames = []
    while not any(isinstance(f, commands.Basic.Ack) and f.delivery_tag == 3 for _, f in frames):
        frames += until(opened, commands.Basic.Ack, 1)
    assert [d[0] for d in deliveries(frames) + delivered(opened, "q")] == ["a", "a", "a"]
    assert counts(opened, "q") == (0, 2)


def test_next_consumer_takes_over_after_cancel(opened):
    """When the active consumer cancels, the next one gets the waiting messages at once; the
    cancelled one's unacked deliveries stay with its channel. (RabbitMQ 3.10.8 leaves them
    waiting instead, and its queue process crashes on the next publish: not reproduced.)"""
    declare(opened, "q", arguments=SAC)
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk, 1)
    consume(opened, "a", "q")
    consume(opened, "b", "q")
    publish_n(opened, 3, "q")
    assert delivered(opened, "q") == [("a", 1, False, b"m0")]
    cancel(opened, "a")
    assert delivered(opened, "q") == [("b", 2, False, b"m1")]
    opened.send(1, commands.Basic.Ack(delivery_tag=1))
    opened.send(1, commands.Basic.Ack(delivery_tag=2))
    assert delivered(opened, "q") == [("b", 3, False, b"m2")]


def test_next_consumer_takes_over_when_the_channel_closes(broker):
    """The active consumer's channel closes: its unacked message is requeued and redelivered to
    the consumer that takes over."""
    with RawClient.connect(broker.port) as first, RawClient.connect(broker.port) as second:
        declare(first, "q", arguments=SAC)
        consume(first, "a", "q")
        consume(second, "b", "q")
        publish_n(first, 2, "q")
        assert [d[:2] for d in delivered(first, "q")] == [("a", 1), ("a", 2)]
        first.send(1, commands.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
        first.expect(commands.Channel.CloseOk, 1)
        assert delivered(second, "q") == [("b", 1, True, b"m0"), ("b", 2, True, b"m1")]


def test_higher_priority_newcomer_does_not_take_over(broker):
    """A consumer with a higher x-priority joining later waits until the active one cancels; then
    the highest-priority waiting consumer becomes active."""
    with RawClient.connect(broker.port) as raw:
        declare(raw, "q", arguments=SAC)
        consume(raw, "a", "q", no_ack=True)
        consume(raw, "low", "q", no_ack=True)
        raw.send(1, commands.Basic.Consume(queue="q", consumer_tag="high", no_ack=True,
                                           arguments={"x-priority": 10}))
        raw.expect(commands.Basic.ConsumeOk, 1)
        publish_n(raw, 1, "q")
        assert [d[0] for d in delivered(raw, "q")] == ["a"]
        cancel(raw, "a")
        publish_n(raw, 1, "q", start=1)
        assert [d[0] for d in delivered(raw, "q")] == ["high"]


def test_exclusive_consume_is_refused(opened):
    """An exclusive consumer on a single-active-consumer queue: 403, even with no consumers."""
    declare(opened, "q", arguments=SAC)
    assert close_of(opened, 1, commands.Basic.Consume(queue="q", consumer_tag="x", exclusive=True)) == (
        403, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use", 60, 20)


def test_get_still_works(opened):
    """Basic.Get is allowed on a classic single-active-consumer queue."""
    declare(opened, "q", arguments=SAC)
    publish_n(opened, 1, "q")
    assert get(opened, "q", no_ack=True)[2] == b"m0"


def test_messages_wait_when_the_active_consumer_has_no_credit(opened):
    """The other consumers never get messages, even when the active one is at its prefetch limit."""
    declare(opened, "q", arguments=SAC)
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk, 1)
    consume(opened, "a", "q")
    consume(opened, "b", "q")
    publish_n(opened, 3, "q")
    assert [d[0] for d in delivered(opened, "q")] == ["a"]
    assert counts(opened, "q") == (2, 2)
    cancel(opened, "b")
    cancel(opened, "a")
    assert [body for _, _, body in drain(opened, "q")] == [b"m1", b"m2"]
