"""Get, Ack / Nack / Reject, Recover, Qos and the fate of unacked messages, as in RabbitMQ 3.10."""

import time

import pika
import pytest
from pamqp import commands

from tests.support.frames import consume, counts, declare, delivered, deliveries, drain, get, publish_n, until
from tests.support.raw import RawClient


def qos(raw, count, global_=False, channel=1):
    """Basic.Qos with this prefetch count, asserted to be answered by Qos-Ok."""
    raw.send(channel, commands.Basic.Qos(prefetch_count=count, global_=global_))
    raw.expect(commands.Basic.QosOk, channel)


def expect_406_unknown_tag(raw, tag, method_id, channel=1):
    """The next frame is Channel.Close 406 'unknown delivery tag <tag>' for Basic method `method_id`."""
    close = raw.expect_channel_close(channel)
    assert (close.reply_code, close.reply_text) == (406, f"PRECONDITION_FAILED - unknown delivery tag {tag}")
    assert (close.class_id, close.method_id) == (60, method_id)


# -- Get ---------------------------------------------------------------------------------------

def test_get_ok_counts_remaining_messages_then_get_empty(ch1):
    """message_count in Get-Ok is what is still ready after this one; then Get-Empty."""
    publish_n(ch1, 3)
    assert [get(ch1, no_ack=True) for _ in range(3)] == [
        (1, False, b"m0", 2), (2, False, b"m1", 1), (3, False, b"m2", 0)]
    ch1.send(1, commands.Basic.Get(queue="q"))
    assert ch1.expect(commands.Basic.GetEmpty, 1).cluster_id == ""


def test_get_missing_queue_404(ch1):
    """Channel.Close 404 with Basic.Get's ids."""
    ch1.send(1, commands.Basic.Get(queue="nosuch-q"))
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'", 60, 70)


# -- Ack / Nack / Reject -----------------------------------------------------------------------

def test_ack_single_and_multiple(ch1):
    """ack(2, multiple) settles 1 and 2; ack(3) settles 3; nothing comes back on recover."""
    publish_n(ch1, 4)
    for _ in range(4):
        get(ch1)
    ch1.send(1, commands.Basic.Ack(delivery_tag=2, multiple=True))
    ch1.send(1, commands.Basic.Ack(delivery_tag=3))
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert drain(ch1) == [(5, True, b"m3")]


@pytest.mark.parametrize("tag", [5, 0], ids=["never_delivered", "zero_without_multiple"])
def test_ack_unknown_tag_406(ch1, tag):
    """A tag never delivered (tag 0 is not a tag unless multiple is set): Channel.Close 406
    'unknown delivery tag <tag>' (60, 80)."""
    ch1.send(1, commands.Basic.Ack(delivery_tag=tag))
    expect_406_unknown_tag(ch1, tag, 80)


def test_double_ack_406(ch1):
    """Acking the same tag twice: the second is unknown."""
    publish_n(ch1, 1)
    get(ch1)
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    expect_406_unknown_tag(ch1, 1, 80)


def test_ack_of_no_ack_get_406(ch1):
    """A no_ack Get's tag is not outstanding."""
    publish_n(ch1, 1)
    get(ch1, no_ack=True)
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    expect_406_unknown_tag(ch1, 1, 80)


def test_ack_on_another_channel_406(ch1):
    """Delivery tags belong to their channel."""
    publish_n(ch1, 1)
    get(ch1)
    ch1.open_channel(2)
    ch1.send(2, commands.Basic.Ack(delivery_tag=1))
    expect_406_unknown_tag(ch1, 1, 80, channel=2)


def test_ack_multiple_beyond_the_last_tag_406(ch1):
    """multiple=true with a tag above every outstanding one is still unknown."""
    publish_n(ch1, 3)
    for _ in range(3):
        get(ch1)
    ch1.send(1, commands.Basic.Ack(delivery_tag=5, multiple=True))
    expect_406_unknown_tag(ch1, 5, 80)


def test_ack_multiple_tag_zero_settles_everything(ch1):
    """multiple=true with tag 0 acks all outstanding; with none outstanding it is a no-op."""
    ch1.send(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    publish_n(ch1, 3)
    for _ in range(3):
        get(ch1)
    ch1.send(1, commands.Basic.Ack(delivery_tag=0, multiple=True))
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    expect_406_unknown_tag(ch1, 1, 80)


def test_nack_and_reject_unknown_tags_406(ch1):
    """Nack (60, 120) and Reject (60, 90) report unknown tags the same way."""
    ch1.send(1, commands.Basic.Nack(delivery_tag=7, requeue=True))
    expect_406_unknown_tag(ch1, 7, 120)
    ch1.open_channel(2)
    ch1.send(2, commands.Basic.Reject(delivery_tag=0, requeue=True))
    expect_406_unknown_tag(ch1, 0, 90, channel=2)


def test_nack_tag_zero_multiple_with_nothing_outstanding_is_fine(ch1):
    """No error, nothing happens."""
    ch1.send(1, commands.Basic.Nack(delivery_tag=0, multiple=True, requeue=True))
    assert counts(ch1) == (0, 0)


def test_requeued_messages_return_to_their_original_positions(ch1):
    """m0..m5, Get m0-m2, nack m2 then m0: the queue reads m0*, m2*, m3, m4, m5 (* redelivered)."""
    publish_n(ch1, 6)
    for _ in range(3):
        get(ch1)
    ch1.send(1, commands.Basic.Nack(delivery_tag=3, requeue=True))
    ch1.send(1, commands.Basic.Nack(delivery_tag=1, requeue=True))
    assert drain(ch1) == [(4, True, b"m0"), (5, True, b"m2"), (6, False, b"m3"), (7, False, b"m4"),
                          (8, False, b"m5")]
    ch1.send(1, commands.Basic.Ack(delivery_tag=2))
    assert counts(ch1) == (0, 0)


def test_nack_multiple_requeues_every_tag_up_to_it(ch1):
    """nack(3, multiple, requeue) with tags 1-4 out: m0-m2 come back in order, m3 stays unacked."""
    publish_n(ch1, 5)
    for _ in range(4):
        get(ch1)
    ch1.send(1, commands.Basic.Nack(delivery_tag=3, multiple=True, requeue=True))
    assert drain(ch1) == [(5, True, b"m0"), (6, True, b"m1"), (7, True, b"m2"), (8, False, b"m4")]
    ch1.send(1, commands.Basic.Ack(delivery_tag=4))
    assert counts(ch1) == (0, 0)


def test_reject_requeue_redelivers_to_the_consumer(ch1):
    """A rejected (requeue) message goes straight back to a consumer with credit, redelivered."""
    publish_n(ch1, 2)
    consume(ch1, "k")
    assert [d[3] for d in delivered(ch1)] == [b"m0", b"m1"]
    ch1.send(1, commands.Basic.Reject(delivery_tag=1, requeue=True))
    assert delivered(ch1) == [("k", 3, True, b"m0")]


def test_consumer_nack_requeue_order(ch1):
    """Prefetch 3 consumer nacks tag 3 then tag 1: m2 then m0 are redelivered, in that order."""
    publish_n(ch1, 3)
    qos(ch1, 3)
    consume(ch1, "k")
    assert len(delivered(ch1)) == 3
    ch1.send(1, commands.Basic.Nack(delivery_tag=3, requeue=True))
    ch1.send(1, commands.Basic.Nack(delivery_tag=1, requeue=True))
    assert delivered(ch1) == [("k", 4, True, b"m2"), ("k", 5, True, b"m0")]


def test_reject_and_nack_without_requeue_drop(ch1):
    """requeue=false discards the message."""
    publish_n(ch1, 3)
    for _ in range(2):
        get(ch1)
    ch1.send(1, commands.Basic.Reject(delivery_tag=1, requeue=False))
    ch1.send(1, commands.Basic.Nack(delivery_tag=2, requeue=False))
    assert drain(ch1) == [(3, False, b"m2")]


# -- Recover -----------------------------------------------------------------------------------

def test_recover_requeue_true_redelivers_in_order(ch1):
    """Recover(requeue) returns every unacked message, marked redelivered."""
    publish_n(ch1, 2)
    get(ch1)
    get(ch1)
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert [get(ch1)[:3] for _ in range(2)] == [(3, True, b"m0"), (4, True, b"m1")]


def test_recover_redelivers_to_consumer(ch1):
    """With a consumer, the recovered messages come straight back to it."""
    publish_n(ch1, 2)
    consume(ch1, "rc")
    assert len(delivered(ch1)) == 2
    ch1.send(1, commands.Basic.Recover(requeue=True))
    frames = until(ch1, commands.Basic.RecoverOk, 1)
    assert deliveries(frames) + delivered(ch1) == [("rc", 3, True, b"m0"), ("rc", 4, True, b"m1")]


def test_recover_async_requeues_without_reply(ch1):
    """Basic.RecoverAsync(requeue=true) has no reply; the message is ready again."""
    publish_n(ch1, 1)
    get(ch1)
    ch1.send(1, commands.Basic.RecoverAsync(requeue=True))
    assert get(ch1)[:3] == (2, True, b"m0")


@pytest.mark.parametrize("method, method_id", [
    (commands.Basic.Recover(requeue=False), 110), (commands.Basic.RecoverAsync(requeue=False), 100)])
def test_recover_without_requeue_is_not_implemented(ch1, method, method_id):
    """RabbitMQ 3.10: requeue=false closes the connection 540."""
    ch1.send(1, method)
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        540, "NOT_IMPLEMENTED - requeue=false", 60, method_id)


# -- Qos ---------------------------------------------------------------------------------------

def test_per_consumer_prefetch_applies_to_consumers_created_after(ch1):
    """global=false prefetch 1 set between two consumes: the first is unlimited, the second gets 1."""
    consume(ch1, "a")
    qos(ch1, 1)
    consume(ch1, "b")
    publish_n(ch1, 6)
    assert [d[0] for d in delivered(ch1)] == ["a", "b", "a", "a", "a", "a"]


def test_per_consumer_prefetch_limits_each_consumer(ch1):
    """Prefetch 2 per consumer on two queues: two each, the rest waits until acked."""
    ch1.send(1, commands.Queue.Declare(queue="q2"))
    ch1.expect(commands.Queue.DeclareOk, 1)
    qos(ch1, 2)
    consume(ch1, "a")
    consume(ch1, "b", queue="q2")
    publish_n(ch1, 5)
    publish_n(ch1, 5, queue="q2")
    got = delivered(ch1)
    assert sorted(d[0] for d in got) == ["a", "a", "b", "b"]
    assert counts(ch1) == (3, 1)
    first_a = next(d[1] for d in got if d[0] == "a")
    ch1.send(1, commands.Basic.Ack(delivery_tag=first_a))
    assert [d[0] for d in delivered(ch1)] == ["a"]


def test_global_prefetch_is_shared_by_the_channel(ch1):
    """global=true 2 with two consumers on two queues: two deliveries in all, eight left ready."""
    ch1.send(1, commands.Queue.Declare(queue="q2"))
    ch1.expect(commands.Queue.DeclareOk, 1)
    qos(ch1, 2, global_=True)
    consume(ch1, "a")
    consume(ch1, "b", queue="q2")
    publish_n(ch1, 5)
    publish_n(ch1, 5, queue="q2")
    assert len(delivered(ch1)) == 2
    assert counts(ch1)[0] + counts(ch1, "q2")[0] == 8


def test_global_prefetch_applies_to_existing_consumers_and_keeps_round_robin(ch1):
    """global=true set after two consumes limits them at once; freed credit goes a, b in turn."""
    consume(ch1, "a")
    consume(ch1, "b")
    qos(ch1, 2, global_=True)
    publish_n(ch1, 6)
    assert [(d[0], d[3]) for d in delivered(ch1)] == [("a", b"m0"), ("b", b"m1")]
    ch1.send(1, commands.Basic.Ack(delivery_tag=2, multiple=True))
    assert [(d[0], d[3]) for d in delivered(ch1)] == [("a", b"m2"), ("b", b"m3")]


def test_per_consumer_qos_lifts_the_global_limit(ch1):
    """RabbitMQ 3.10 quirk: global=false Qos unlimits the channel (a is then unlimited, b gets 2)."""
    qos(ch1, 3, global_=True)
    consume(ch1, "a")
    qos(ch1, 2)
    consume(ch1, "b")
    publish_n(ch1, 10)
    assert [d[0] for d in delivered(ch1)] == ["a", "b", "a", "b"] + ["a"] * 6


def test_global_and_per_consumer_limits_combine(ch1):
    """global=true 3 then per-consumer 1 set before consuming: one each."""
    ch1.send(1, commands.Queue.Declare(queue="q2"))
    ch1.expect(commands.Queue.DeclareOk, 1)
    qos(ch1, 3, global_=True)
    ch1.send(1, commands.Basic.Qos(prefetch_count=1))
    ch1.expect(commands.Basic.QosOk, 1)
    consume(ch1, "a")
    consume(ch1, "b", queue="q2")
    publish_n(ch1, 3)
    publish_n(ch1, 3, queue="q2")
    assert sorted(d[0] for d in delivered(ch1)) == ["a", "b"]


def test_global_prefetch_holds_back_no_ack_consumers_without_counting_them(ch1):
    """RabbitMQ's channel limiter (checked with pika on 3.10.8; Java QosTests.noAckObeysLimit):
    at the global limit a no-ack consumer of the channel waits too, but its deliveries do not count."""
    declare(ch1, "q2")
    qos(ch1, 1, global_=True)
    consume(ch1, "a")
    publish_n(ch1, 1)
    assert [(d[0], d[3]) for d in delivered(ch1)] == [("a", b"m0")]
    consume(ch1, "b", queue="q2", no_ack=True)
    publish_n(ch1, 2, queue="q2")
    assert delivered(ch1, "q2") == []
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    assert [(d[0], d[3]) for d in delivered(ch1, "q2")] == [("b", b"m0"), ("b", b"m1")]


def test_basic_get_is_outside_the_global_limit(ch1):
    """Unacked Basic.Get deliveries neither use up nor free the channel's global prefetch
    (RabbitMQ 3.10.8, pika; Java QosTests.permutations)."""
    declare(ch1, "q2")
    qos(ch1, 1, global_=True)
    publish_n(ch1, 2, queue="q2")
    assert [get(ch1, "q2")[0] for _ in range(2)] == [1, 2]
    consume(ch1, "a")
    publish_n(ch1, 2)
    assert [(d[0], d[3]) for d in delivered(ch1)] == [("a", b"m0")]
    ch1.send(1, commands.Basic.Ack(delivery_tag=2, multiple=True))  # the two gets
    assert delivered(ch1) == []
    ch1.send(1, commands.Basic.Ack(delivery_tag=3))
    assert [(d[0], d[3]) for d in delivered(ch1)] == [("a", b"m1")]


def test_global_prefetch_freed_credit_goes_round_the_queues(ch1):
    """With one consumer on each of three queues and global=true 1, each ack offers the credit
    to the next queue in turn (RabbitMQ picks a random first queue; Java QosTests.fairness
    asks only that no queue is left behind)."""
    for q in ("q1", "q2", "q3"):
        declare(ch1, q)
    qos(ch1, 1, global_=True)
    for q in ("q1", "q2", "q3"):
        consume(ch1, q, queue=q)
    for q in ("q1", "q2", "q3"):
        publish_n(ch1, 4, queue=q)
    seen = []
    for _ in range(6):
        (tag, delivery_tag, _, _), = delivered(ch1, "q1")
        seen.append(tag)
        ch1.send(1, commands.Basic.Ack(delivery_tag=delivery_tag))
    assert set(seen) == {"q1", "q2", "q3"}, seen


def test_prefetch_size_is_not_implemented(ch1):
    """Any prefetch_size closes the connection 540 with RabbitMQ's text."""
    ch1.send(1, commands.Basic.Qos(prefetch_size=10, prefetch_count=5))
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        540, "NOT_IMPLEMENTED - prefetch_size!=0 (10)", 60, 10)


def test_pika_prefetch(broker):
    """pika basic_qos(prefetch_count=1): one unacked delivery at a time."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(3):
        ch.basic_publish("", q, f"m{i}".encode())
    ch.basic_qos(prefetch_count=1)
    seen = []
    for method, _, body in ch.consume(q, inactivity_timeout=1):
        seen.append(body)
        assert ch.queue_declare(q, passive=True).method.message_count == 3 - len(seen)
        ch.basic_ack(method.delivery_tag)
        if len(seen) == 3:
            break
    ch.cancel()
    conn.close()
    assert seen == [b"m0", b"m1", b"m2"]


# -- unacked messages when a channel or connection goes ------------------------------------------

def test_unacked_return_in_order_when_channel_closes(ch1):
    """ch2 holds m0-m2, acks m1, closes: m0 and m2 are ready again, redelivered, before m3."""
    publish_n(ch1, 5)
    ch1.open_channel(2)
    for _ in range(3):
        get(ch1, channel=2)
    ch1.send(2, commands.Basic.Ack(delivery_tag=2))
    ch1.send(2, commands.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
    ch1.expect(commands.Channel.CloseOk, 2)
    assert drain(ch1) == [(1, True, b"m0"), (2, True, b"m2"), (3, False, b"m3"), (4, False, b"m4")]


def test_unacked_return_when_channel_is_closed_by_an_error(ch1):
    """A channel error requeues that channel's unacked messages the same way."""
    publish_n(ch1, 4)
    ch1.open_channel(2)
    for _ in range(3):
        get(ch1, channel=2)
    ch1.send(2, commands.Basic.Ack(delivery_tag=2))
    ch1.send(2, commands.Queue.Declare(queue="nosuch", passive=True))
    assert ch1.expect_channel_close(2).reply_code == 404
    assert drain(ch1) == [(1, True, b"m0"), (2, True, b"m2"), (3, False, b"m3")]


def test_unacked_return_when_connection_closes(ch1, broker):
    """A consumer's connection drops with m0-m3 delivered and m2 acked: m0, m1, m3 come back redelivered."""
    publish_n(ch1, 4)
    assert counts(ch1)[0] == 4  # the publishes were handled before the other connection looks
    other = RawClient.connect(broker.port)
    consume(other, "k")
    assert len(delivered(other)) == 4
    other.send(1, commands.Basic.Ack(delivery_tag=3))
    other.send(0, commands.Connection.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    other.expect(commands.Connection.CloseOk, 0)
    other.close()
    assert drain(ch1) == [(1, True, b"m0"), (2, True, b"m1"), (3, True, b"m3")]


def test_unacked_return_when_socket_drops(ch1, broker):
    """Same when the TCP connection just goes away."""
    publish_n(ch1, 2)
    assert counts(ch1)[0] == 2  # the publishes were handled before the other connection looks
    other = RawClient.connect(broker.port)
    get(other)
    get(other)
    other.close()
    deadline = time.monotonic() + 2
    first = get(ch1, no_ack=True)
    while first is None and time.monotonic() < deadline:  # the broker notices the lost socket on its own
        first = get(ch1, no_ack=True)
    assert first[:3] == (1, True, b"m0")
    assert drain(ch1) == [(2, True, b"m1")]


def test_cancel_leaves_deliveries_unacked(ch1):
    """Cancelling a consumer keeps its unacked messages on the channel; they can still be acked."""
    publish_n(ch1, 3)
    consume(ch1, "k")
    assert len(delivered(ch1)) == 3
    ch1.send(1, commands.Basic.Cancel(consumer_tag="k"))
    ch1.expect(commands.Basic.CancelOk, 1)
    assert counts(ch1) == (0, 0)
    ch1.send(1, commands.Basic.Ack(delivery_tag=2))
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert [d[2] for d in drain(ch1)] == [b"m0", b"m2"]
