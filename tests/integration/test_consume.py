"""Basic.Consume / Cancel and how deliveries are spread, as RabbitMQ 3.10 does it."""

import re
import time

import pika
from pamqp import body as pamqp_body
from pamqp import commands

from tests.support.frames import consume, declare, delivered, deliveries, publish_n, until
from tests.support.raw import RawClient


def test_no_ack_consumer_gets_messages_in_order_and_queue_keeps_none(ch1):
    """no_ack deliveries are settled at once: nothing is left ready or unacked."""
    consume(ch1, "k", "q", no_ack=True)
    publish_n(ch1, 5, "q")
    got = delivered(ch1, "q")
    assert got == [("k", i + 1, False, f"m{i}".encode()) for i in range(5)]
    ch1.send(1, commands.Basic.Cancel(consumer_tag="k"))
    ch1.expect(commands.Basic.CancelOk, 1)
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    ch1.send(1, commands.Queue.Declare(queue="q", passive=True))
    assert ch1.expect(commands.Queue.DeclareOk, 1).message_count == 0


def test_delivery_tags_continue_the_channel_sequence(ch1):
    """A Get and a consumer on one channel share one delivery-tag counter."""
    publish_n(ch1, 2, "q")
    ch1.send(1, commands.Basic.Get(queue="q"))
    assert until(ch1, pamqp_body.ContentBody, 1)[0][1].delivery_tag == 1
    consume(ch1, "k", "q", no_ack=True)
    assert [d[1] for d in delivered(ch1, "q")] == [2]


def test_server_generated_consumer_tags(ch1):
    """An empty tag gets amq.ctag- and 22 URL-safe base64 characters, unique per consume."""
    tags = {consume(ch1, "", "q") for _ in range(3)}
    assert len(tags) == 3
    for tag in tags:
        assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", tag), tag


def test_exclusive_consumer_blocks_a_second_consumer_403(ch1):
    """A consumer on a queue with an exclusive consumer: Channel.Close 403 'in exclusive use'."""
    consume(ch1, "ex", "q", exclusive=True)
    ch1.open_channel(2)
    ch1.send(2, commands.Basic.Consume(queue="q", consumer_tag="c2"))
    close = ch1.expect_channel_close(2)
    assert (close.reply_code, close.reply_text) == (403, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use")
    assert (close.class_id, close.method_id) == (60, 20)


def test_exclusive_consume_on_a_queue_with_consumers_403(ch1):
    """Asking for exclusivity when someone already consumes is refused with the same text."""
    consume(ch1, "c1", "q")
    ch1.send(1, commands.Basic.Consume(queue="q", consumer_tag="ex", exclusive=True))
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (403, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use")
    assert (close.class_id, close.method_id) == (60, 20)


def test_duplicate_consumer_tag_closes_connection_530(ch1):
    """Reusing a tag on the same channel (even for another queue) is a connection error."""
    consume(ch1, "dup", "q")
    ch1.send(1, commands.Basic.Consume(queue="q", consumer_tag="dup"))
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'")
    assert (close.class_id, close.method_id) == (60, 20)


def test_duplicate_consumer_tag_is_checked_before_the_queue(ch1):
    """RabbitMQ reports the reused tag (530) rather than the missing queue (404)."""
    consume(ch1, "dup", "q")
    ch1.send(1, commands.Basic.Consume(queue="nosuch-q", consumer_tag="dup"))
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'")


def test_same_tag_on_two_channels_is_fine(ch1):
    """Consumer tags are per channel."""
    consume(ch1, "dup", "q")
    ch1.open_channel(2)
    assert consume(ch1, "dup", "q", channel=2) == "dup"


def test_consume_missing_queue_404(ch1):
    """Channel.Close 404 with class/method of Basic.Consume."""
    ch1.send(1, commands.Basic.Consume(queue="nosuch-q", consumer_tag="k"))
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'")
    assert (close.class_id, close.method_id) == (60, 20)


def test_cancel_stops_deliveries(ch1):
    """After Cancel-Ok the consumer gets nothing more; messages stay ready."""
    consume(ch1, "k", "q", no_ack=True)
    ch1.send(1, commands.Basic.Cancel(consumer_tag="k"))
    assert ch1.expect(commands.Basic.CancelOk, 1).consumer_tag == "k"
    publish_n(ch1, 2, "q")
    ch1.send(1, commands.Queue.Declare(queue="q", passive=True))
    frames = until(ch1, commands.Queue.DeclareOk, 1)
    assert deliveries(frames) == []
    assert (frames[-1][1].message_count, frames[-1][1].consumer_count) == (2, 0)


def test_cancel_unknown_tag_is_answered(ch1):
    """Cancel of a tag that does not exist: Cancel-Ok echoing it (nothing with nowait)."""
    ch1.send(1, commands.Basic.Cancel(consumer_tag="nosuch", nowait=True))
    ch1.send(1, commands.Basic.Cancel(consumer_tag="nosuch"))
    frames = until(ch1, commands.Basic.CancelOk, 1)
    assert len(frames) == 1 and frames[0][1].consumer_tag == "nosuch"


def test_queue_deleted_under_consumer_sends_cancel_after_delete_ok(ch1):
    """consumer_cancel_notify: Delete-Ok first, then Basic.Cancel(nowait) for the consumer, same channel."""
    consume(ch1, "cc", "q")
    ch1.send(1, commands.Queue.Delete(queue="q"))
    ch, first = ch1.recv_frame()
    assert isinstance(first, commands.Queue.DeleteOk)
    cancel = ch1.expect(commands.Basic.Cancel, 1)
    assert (cancel.consumer_tag, cancel.nowait) == ("cc", True)


def test_queue_deleted_from_another_channel_cancels_consumer(ch1):
    """The Cancel goes to the consumer's channel; its tag is free again afterwards."""
    consume(ch1, "cc", "q")
    ch1.open_channel(2)
    ch1.send(2, commands.Queue.Delete(queue="q"))
    seen = []  # the two replies go to different channels; RabbitMQ orders them either way
    while len(seen) < 2:
        ch, value = ch1.recv_frame()
        seen.append((ch, type(value).__name__, getattr(value, "consumer_tag", None)))
    assert sorted(seen) == [(1, "Cancel", "cc"), (2, "DeleteOk", None)]
    ch1.send(1, commands.Queue.Declare(queue="q"))
    ch1.expect(commands.Queue.DeclareOk, 1)
    assert consume(ch1, "cc", "q") == "cc"


def test_no_cancel_for_client_without_consumer_cancel_notify(broker):
    """A client that did not announce the capability gets no Basic.Cancel; its Cancel later still works."""
    with RawClient.connect(broker.port, capabilities={}) as raw:
        declare(raw, "q")
        consume(raw, "cc", "q")
        raw.send(1, commands.Queue.Delete(queue="q"))
        raw.send(1, commands.Basic.Cancel(consumer_tag="cc"))
        frames = until(raw, commands.Basic.CancelOk, 1)
        assert [type(f).__name__ for _, f in frames] == ["DeleteOk", "CancelOk"]


def test_round_robin_across_consumers(ch1):
    """Three unlimited consumers take turns in the order they subscribed."""
    for tag in "abc":
        consume(ch1, tag, "q", no_ack=True)
    publish_n(ch1, 7, "q")
    assert [(d[0], d[3]) for d in delivered(ch1, "q")] == [
        ("a", b"m0"), ("b", b"m1"), ("c", b"m2"), ("a", b"m3"), ("b", b"m4"), ("c", b"m5"), ("a", b"m6")]


def test_round_robin_within_prefetch(ch1):
    """Prefetch 1 each: one message per consumer, the next goes to whoever acks, in ack order."""
    ch1.send(1, commands.Basic.Qos(prefetch_count=1))
    ch1.expect(commands.Basic.QosOk, 1)
    for tag in "abc":
        consume(ch1, tag, "q")
    publish_n(ch1, 9, "q")
    assert [(d[0], d[1], d[3]) for d in delivered(ch1, "q")] == [("a", 1, b"m0"), ("b", 2, b"m1"), ("c", 3, b"m2")]
    for tag in (3, 1, 2):
        ch1.send(1, commands.Basic.Ack(delivery_tag=tag))
    assert [(d[0], d[3]) for d in delivered(ch1, "q")] == [("c", b"m3"), ("a", b"m4"), ("b", b"m5")]


def test_single_consumer_receives_in_publish_order(ch1):
    """In-order delivery of many messages to one consumer."""
    consume(ch1, "k", "q", no_ack=True)
    publish_n(ch1, 200, "q")
    assert [d[3] for d in delivered(ch1, "q")] == [f"m{i}".encode() for i in range(200)]


def test_consumer_priorities(ch1):
    """x-priority 5 consumers (prefetch 1) are served first; the priority-0 one takes the overflow."""
    consume(ch1, "low", "q")
    ch1.send(1, commands.Basic.Qos(prefetch_count=1))
    ch1.expect(commands.Basic.QosOk, 1)
    consume(ch1, "hi1", "q", arguments={"x-priority": 5})
    consume(ch1, "hi2", "q", arguments={"x-priority": 5})
    publish_n(ch1, 6, "q")
    assert [d[0] for d in delivered(ch1, "q")] == ["hi1", "hi2", "low", "low", "low", "low"]
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    publish_n(ch1, 1, "q", start=6)
    assert [(d[0], d[3]) for d in delivered(ch1, "q")] == [("hi1", b"m6")]


def test_auto_delete_queue_goes_with_its_last_consumer(ch1):
    """Cancelling one of two consumers keeps it; cancelling the last deletes it (passive declare 404)."""
    ch1.send(1, commands.Queue.Declare(queue="ad", auto_delete=True))
    ch1.expect(commands.Queue.DeclareOk, 1)
    consume(ch1, "a", "ad")
    consume(ch1, "b", "ad")
    ch1.send(1, commands.Basic.Cancel(consumer_tag="a"))
    ch1.expect(commands.Basic.CancelOk, 1)
    ch1.send(1, commands.Queue.Declare(queue="ad", passive=True))
    assert ch1.expect(commands.Queue.DeclareOk, 1).consumer_count == 1
    ch1.send(1, commands.Basic.Cancel(consumer_tag="b"))
    ch1.expect(commands.Basic.CancelOk, 1)
    ch1.send(1, commands.Queue.Declare(queue="ad", passive=True))
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no queue 'ad' in vhost '/'")


def test_channel_flow_active_false_is_not_implemented(ch1):
    """RabbitMQ 3.10: Channel.Flow(active=false) closes the connection 540."""
    ch1.send(1, commands.Channel.Flow(active=False))
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (540, "NOT_IMPLEMENTED - active=false")
    assert (close.class_id, close.method_id) == (20, 20)


def test_channel_flow_active_true_is_acknowledged(ch1):
    """Channel.Flow(active=true) gets Flow-Ok(active=true) and deliveries carry on."""
    ch1.send(1, commands.Channel.Flow(active=True))
    assert ch1.expect(commands.Channel.FlowOk, 1).active is True
    consume(ch1, "k", "q", no_ack=True)
    publish_n(ch1, 1, "q")
    assert len(delivered(ch1, "q")) == 1


def test_flow_ok_from_client_is_an_unimplemented_method(ch1):
    """A client Channel.Flow-Ok: Connection.Close 503 'unimplemented method' with its ids."""
    ch1.send(1, commands.Channel.FlowOk(active=True))
    close = ch1.expect_connection_close()
    assert (close.reply_code, close.reply_text) == (503, "COMMAND_INVALID - unimplemented method")
    assert (close.class_id, close.method_id) == (20, 21)


def test_pika_consumer_sees_server_cancel(broker):
    """pika (announces consumer_cancel_notify) gets its on-cancel callback when the queue is deleted."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.queue_declare("pq")
    cancelled = []
    ch.basic_consume("pq", lambda *a: None, consumer_tag="pk")
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    other = conn.channel()
    other.queue_delete("pq")
    deadline = time.monotonic() + 2
    while not cancelled and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    conn.close()
    assert cancelled == ["pk"]
