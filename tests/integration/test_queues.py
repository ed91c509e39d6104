"""Queues end to end: declare (passive, server-named, flags, argument equivalence and validation),
exclusivity, auto-delete, purge, delete and counts, as RabbitMQ 3.10.8 answers them."""

from __future__ import annotations

import re

import pytest
from pamqp import body, commands, header

from tests.support.blocking import refused
from tests.support.frames import close_of, declare, get
from tests.support.raw import RawClient

LOCKED = ("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q' in vhost '/'. It could be "
          "originally declared on another connection or the exclusive property value does not match that "
          "of the original declaration.")


def test_server_named_queues(channel) -> None:
    """amq.gen- plus 22 URL-safe base64 characters, unique; the name is reserved for clients."""
    names = {channel.queue_declare("", exclusive=True).method.queue for _ in range(5)}
    assert len(names) == 5 and all(re.fullmatch(r"amq\.gen-[A-Za-z0-9_-]{22}", n) for n in names)
    name = names.pop()
    assert refused(channel.queue_declare, name) == (
        403, f"ACCESS_REFUSED - queue name '{name}' contains reserved prefix 'amq.*'")


@pytest.mark.parametrize("method, expected", [
    (commands.Queue.Declare(queue="nosuch-q", passive=True), (404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'", 50, 10)),
    (commands.Queue.Declare(queue="", passive=True), (404, "NOT_FOUND - no queue '' in vhost '/'", 50, 10)),
    (commands.Queue.Declare(queue="amq.foo"), (403, "ACCESS_REFUSED - queue name 'amq.foo' contains reserved prefix 'amq.*'", 50, 10)),
    (commands.Queue.Declare(queue="amq.gen-xyz"), (403, "ACCESS_REFUSED - queue name 'amq.gen-xyz' contains reserved prefix 'amq.*'", 50, 10)),
    (commands.Queue.Declare(queue="amq.foo", passive=True), (404, "NOT_FOUND - no queue 'amq.foo' in vhost '/'", 50, 10)),
    (commands.Queue.Purge(queue="nosuch-q"), (404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'", 50, 30)),
])
def test_queue_name_errors(opened, method, expected) -> None:
    assert close_of(opened, 1, method) == expected


def test_passive_declare_ignores_flags_and_counts(opened) -> None:
    declare(opened, "q", exclusive=True)
    opened.publish(1, "", "q", b"m")
    opened.send(1, commands.Queue.Declare(queue="q", passive=True, durable=True, auto_delete=True,
                                          arguments={"x-message-ttl": 5}))
    ok = opened.expect(commands.Queue.DeclareOk, 1)
    assert (ok.queue, ok.message_count, ok.consumer_count) == ("q", 1, 0)


@pytest.mark.parametrize("first, second, expected", [
    ({}, {"durable": True}, (406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'")),
    ({"auto_delete": True}, {}, (406, "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'q' in vhost '/': received 'false' but current is 'true'")),
    ({}, {"durable": True, "auto_delete": True}, (406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'")),
    ({"exclusive": True}, {}, (405, LOCKED)),
    ({}, {"exclusive": True}, (405, LOCKED)),
    ({"arguments": {"x-message-ttl": 10}}, {"arguments": {"x-message-ttl": 10.0}},
     (406, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '10.0' but current is '10'")),
    ({"arguments": {"x-message-ttl": 10}}, {"arguments": {"x-message-ttl": "10"}},
     (406, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '10' but current is '10'")),
    ({"arguments": {"x-dead-letter-exchange": "a"}}, {"arguments": {"x-dead-letter-exchange": "b"}},
     (406, "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': received 'b' but current is 'a'")),
    ({"arguments": {"x-queue-type": "classic"}}, {"arguments": {"x-queue-type": "quorum"}},
     (406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'quorum' but current is 'classic'")),
])
def test_queue_redeclare_mismatch(opened, first, second, expected) -> None:
    """Compared on the same connection: exclusivity (405), durable, auto_delete, then arguments."""
    declare(opened, "q", **first)
    assert close_of(opened, 1, commands.Queue.Declare(queue="q", **second)) == (*expected, 50, 10)


@pytest.mark.parametrize("first, second, detail", [
    ({}, {"x-message-ttl": 10}, "received the value '10' of type 'signedint' but current is none"),
    ({"x-message-ttl": 10}, {}, "received none but current is the value '10' of type 'signedint'"),
    ({"x-message-ttl": 10}, {"x-message-ttl": 20}, "received '20' but current is '10'"),
    ({}, {"x-queue-mode": "default"}, "received the value 'default' of type 'longstr' but current is none"),
    ({"x-single-active-consumer": True}, {}, "received none but current is the value 'true' of type 'bool'"),
])
def test_queue_argument_added_removed_changed(channel, first, second, detail) -> None:
    channel.queue_declare("q", exclusive=True, arguments=first)
    key = next(iter(first or second))
    code, text = refused(channel.queue_declare, "q", exclusive=True, arguments=second)
    assert (code, text) == (406, f"PRECONDITION_FAILED - inequivalent arg '{key}' for queue 'q' in vhost '/': {detail}")


def test_queue_redeclare_accepted(channel) -> None:
    """Integer widths compare equal, classic = no type, unknown arguments are never compared,
    and durable is ignored for exclusive queues."""
    channel.queue_declare("q", exclusive=True, arguments={"x-message-ttl": 10, "x-foo": "a"})
    channel.queue_declare("q", exclusive=True, durable=True, arguments={"x-message-ttl": 10, "x-foo": "b",
                                                                         "x-queue-type": "classic", "x-bar": 1})
    ok = channel.queue_declare("q", exclusive=True, arguments={"x-message-ttl": 10})
    assert ok.method.queue == "q"


INVALID = "PRECONDITION_FAILED - invalid arg '{}' for queue 'q' in vhost '/': {}"


@pytest.mark.parametrize("arguments, text", [
    ({"x-message-ttl": -1}, INVALID.format("x-message-ttl", "{value_negative,-1}")),
    ({"x-message-ttl": "10"}, INVALID.format("x-message-ttl", '"expected integer, got longstr"')),
    ({"x-message-ttl": True}, INVALID.format("x-message-ttl", '"expected integer, got bool"')),
    ({"x-expires": 0}, INVALID.format("x-expires", "{value_zero,0}")),
    ({"x-max-length": -1}, INVALID.format("x-max-length", "{value_negative,-1}")),
    ({"x-max-priority": 300}, INVALID.format("x-max-priority", "{max_value_exceeded,300}")),
    ({"x-max-priority": -1}, INVALID.format("x-max-priority", "{value_negative,-1}")),
    ({"x-overflow": "bar"}, INVALID.format("x-overflow", "invalid_overflow")),
    ({"x-overflow": 1}, INVALID.format("x-overflow", "{unacceptable_type,signedint}")),
    ({"x-queue-type": "foo"}, INVALID.format("x-queue-type", "\"unsupported queue type 'foo'\"")),
    ({"x-queue-type": 1}, INVALID.format("x-queue-type", "{unacceptable_type,signedint}")),
    ({"x-queue-mode": "foo"}, INVALID.format("x-queue-mode", "\"unsupported queue mode 'foo'\"")),
    ({"x-queue-version": 3}, INVALID.format("x-queue-version", "\"unsupported queue version '3'\"")),
    ({"x-single-active-consumer": "yes"}, INVALID.format("x-single-active-consumer", "{unacceptable_type,longstr}")),
    ({"x-dead-letter-routing-key": "k"}, INVALID.format("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined")),
    ({"x-dead-letter-exchange": 1},
     "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"),
    ({"x-delivery-limit": 5},
     "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue 'q' in vhost '/' of queue type rabbit_classic_queue"),
    ({"x-queue-type": "quorum"}, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 'q' in vhost '/'"),
    ({"x-max-length": -1, "x-message-ttl": -1}, INVALID.format("x-message-ttl", "{value_negative,-1}")),
])
def test_invalid_arguments_at_first_declare(connect, arguments, text) -> None:
    ch = connect().channel()
    assert refused(ch.queue_declare, "q", exclusive=True, arguments=arguments) == (406, text)
    ch = ch.connection.channel()
    assert refused(ch.queue_declare, "q", passive=True)[0] == 404


def test_quorum_queue_must_be_durable(channel) -> None:
    assert refused(channel.queue_declare, "q", arguments={"x-queue-type": "quorum"}) == (
        406, "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'q' in vhost '/'")


def test_accepted_argument_values(channel) -> None:
    args = {"x-message-ttl": 0, "x-max-priority": 255, "x-overflow": "reject-publish-dlx", "x-queue-mode": "lazy",
            "x-dead-letter-exchange": "nosuch", "x-foo": None, "x-queue-type": "classic"}
    assert channel.queue_declare("q", exclusive=True, arguments=args).method.queue == "q"


def test_invalid_argument_with_nowait_still_closes(opened) -> None:
    opened.send(1, commands.Queue.Declare(queue="q", nowait=True, arguments={"x-max-length": -1}))
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.class_id, close.method_id) == (406, 50, 10)


@pytest.mark.parametrize("method, ids", [
    (commands.Queue.Declare(queue="q", exclusive=True), (50, 10)),
    (commands.Queue.Declare(queue="q"), (50, 10)),
    (commands.Queue.Declare(queue="q", passive=True), (50, 10)),
    (commands.Queue.Bind(queue="q", exchange="amq.direct", routing_key="j"), (50, 20)),
    (commands.Queue.Unbind(queue="q", exchange="amq.direct", routing_key="k"), (50, 50)),
    (commands.Basic.Consume(queue="q"), (60, 20)),
    (commands.Basic.Get(queue="q"), (60, 70)),
    (commands.Queue.Purge(queue="q"), (50, 30)),
    (commands.Queue.Delete(queue="q"), (50, 40)),
])
def test_exclusive_queue_locked_to_its_connection(broker, opened, method, ids) -> None:
    declare(opened, "q", exclusive=True)
    opened.send(1, commands.Queue.Bind(queue="q", exchange="amq.direct", routing_key="k"))
    opened.expect(commands.Queue.BindOk, 1)
    with RawClient.connect(broker.port) as other:
        assert close_of(other, 1, method) == (405, LOCKED, *ids)


def test_exclusive_queue_other_connection_may_publish_and_unbind_nothing(broker, opened) -> None:
    declare(opened, "q", exclusive=True)
    with RawClient.connect(broker.port) as other:
        other.publish(1, "", "q", b"from-other")
        other.send(1, commands.Queue.Unbind(queue="q", exchange="amq.direct", routing_key="never"))
        other.expect(commands.Queue.UnbindOk, 1)
    assert get(opened, "q")[2] == b"from-other"


def test_exclusive_queue_deleted_with_its_connection(connect) -> None:
    owner, other = connect(), connect().channel()
    owner.channel().queue_declare("q", exclusive=True)
    assert refused(other.queue_declare, "q", passive=True) == (405, LOCKED)
    owner.close()
    other = other.connection.channel()
    assert refused(other.queue_declare, "q", passive=True) == (404, "NOT_FOUND - no queue 'q' in vhost '/'")


def test_auto_delete_queue_goes_with_its_last_consumer(connect) -> None:
    """Not before any consumer came; not while one remains; at once when the last is cancelled."""
    ch = connect().channel()
    ch.queue_declare("ad", auto_delete=True)
    assert ch.queue_declare("ad", passive=True).method.consumer_count == 0
    a = ch.basic_consume("ad", lambda *a: None)
    b = ch.basic_consume("ad", lambda *a: None)
    assert ch.queue_declare("ad", passive=True).method.consumer_count == 2
    ch.basic_cancel(a)
    assert ch.queue_declare("ad", passive=True).method.consumer_count == 1
    ch.basic_cancel(b)
    assert refused(ch.queue_declare, "ad", passive=True) == (404, "NOT_FOUND - no queue 'ad' in vhost '/'")


def test_auto_delete_queue_goes_when_consuming_channel_closes(connect) -> None:
    conn = connect()
    ch, consumer = conn.channel(), conn.channel()
    ch.queue_declare("ad", auto_delete=True)
    consumer.basic_consume("ad", lambda *a: None)
    consumer.close()
    assert refused(ch.queue_declare, "ad", passive=True)[0] == 404


def test_counts_purge_and_delete(opened) -> None:
    """Counts are of ready messages: fetched-but-unacked ones are neither counted nor purged."""
    declare(opened, "q", exclusive=True)
    for i in range(5):
        opened.publish(1, "", "q", b"m%d" % i)
    assert [get(opened, "q")[2], get(opened, "q")[2]] == [b"m0", b"m1"]
    opened.send(1, commands.Queue.Declare(queue="q", passive=True))
    assert opened.expect(commands.Queue.DeclareOk, 1).message_count == 3
    opened.send(1, commands.Queue.Purge(queue="q"))
    assert opened.expect(commands.Queue.PurgeOk, 1).message_count == 3
    opened.publish(1, "", "q", b"z")
    opened.send(1, commands.Queue.Delete(queue="q"))
    assert opened.expect(commands.Queue.DeleteOk, 1).message_count == 1
    opened.send(1, commands.Queue.Delete(queue="q", if_empty=True, if_unused=True))
    assert opened.expect(commands.Queue.DeleteOk, 1).message_count == 0


def test_declare_ok_counts_ready_messages_and_consumers(channel) -> None:
    channel.queue_declare("q", exclusive=True)
    for i in range(3):
        channel.basic_publish("", "q", b"m")
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume("q", lambda *a: None)
    channel.basic_consume("q", lambda *a: None)
    ok = channel.queue_declare("q", passive=True).method
    assert (ok.message_count, ok.consumer_count) == (1, 2)


def consume_one_unacked(raw) -> None:
    """Reopen channel 1 with prefetch 1 and a consumer "t" on q, and take the one delivery it gets."""
    raw.open_channel(1)
    raw.send(1, commands.Basic.Qos(prefetch_count=1))
    raw.expect(commands.Basic.QosOk, 1)
    raw.send(1, commands.Basic.Consume(queue="q", consumer_tag="t"))
    raw.expect(commands.Basic.ConsumeOk, 1)
    raw.expect(commands.Basic.Deliver, 1)
    raw.expect(header.ContentHeader, 1)
    raw.expect(body.ContentBody, 1)


def test_delete_if_unused_and_if_empty(opened) -> None:
    declare(opened, "q", exclusive=True)
    opened.publish(1, "", "q", b"m")
    assert close_of(opened, 1, commands.Queue.Delete(queue="q", if_empty=True)) == (
        406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty", 50, 40)
    consume_one_unacked(opened)
    # an unacked message does not make the queue "not empty"; a consumer makes it "in use"
    assert close_of(opened, 1, commands.Queue.Delete(queue="q", if_unused=True, if_empty=True)) == (
        406, "PRECONDITION_FAILED - queue 'q' in vhost '/' in use", 50, 40)
    consume_one_unacked(opened)  # closing the channel had requeued the message
    opened.publish(1, "", "q", b"n")  # stays ready: the consumer's prefetch is used up
    assert close_of(opened, 1, commands.Queue.Delete(queue="q", if_unused=True, if_empty=True)) == (
        406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty", 50, 40)
