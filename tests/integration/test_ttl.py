"""Message TTL: x-message-ttl and the per-message expiration property, as RabbitMQ 3.10.8 does it.

Expiry at the head of a queue is timer-driven; an expired message behind a live one is only
dropped when it reaches the head. Tests wait for the dead-lettered copy of an expired message
(a delivery) where expiry must be observed; where time passing is the point it passes on the
broker's clock (``broker.clock.advance``), so no test depends on how fast a loaded machine is.
Two tests keep real time, to see the server's timer task fire by itself, and check only order
and that nothing expires early.
"""

import struct
import time

import pytest
from pamqp import body as pamqp_body
from pamqp import commands

from tests.support.frames import consume, declare, delivered, deliveries, drain, get, ready, until
from tests.support.raw import RawClient
from tests.support.typed import get_raw, properties

TO_DLQ = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}


def expiring(expiration, **props):
    return commands.Basic.Properties(expiration=expiration, **props)


def next_delivery(raw, channel=1):
    """(consumer_tag, delivery_tag, redelivered, body) of the next delivery."""
    return deliveries(until(raw, pamqp_body.ContentBody, channel))[-1]


def confirmed(raw, tag, channel=1):
    """Wait until publisher confirms cover `tag` (the publishes are in their queues)."""
    while raw.expect(commands.Basic.Ack, channel).delivery_tag < tag:
        pass


def watch_dlq(raw):
    """A dead-letter queue 'dlq' with a no-ack consumer 'dl' on it."""
    declare(raw, "dlq")
    consume(raw, "dl", "dlq", no_ack=True)


def test_head_expires_on_time_without_any_activity(opened):
    """x-message-ttl 100: the message is dead-lettered 100 ms after publish (a timer, no client
    action needed) and never delivered from the source queue."""
    declare(opened, "q", arguments={"x-message-ttl": 100, **TO_DLQ})
    watch_dlq(opened)
    start = time.monotonic()
    opened.publish(1, "", "q", b"m")
    assert next_delivery(opened)[3] == b"m"
    assert time.monotonic() - start >= 0.1  # never early (how late depends on the machine's load)
    assert get(opened, "q") is None


def test_expirations_fire_in_order_and_never_early(opened):
    """Per-message expirations 30, 60 and 90 ms expire in order, none before its time."""
    declare(opened, "q", arguments=TO_DLQ)
    watch_dlq(opened)
    start = time.monotonic()
    for ms in (30, 60, 90):
        opened.publish(1, "", "q", str(ms).encode(), expiring(str(ms)))
    for ms in (30, 60, 90):
        assert next_delivery(opened)[3] == str(ms).encode()
        assert ms / 1000 <= time.monotonic() - start


def test_expired_message_behind_a_live_one_waits_for_the_head(opened, broker):
    """An expired message in the middle is still counted; it is dropped when it reaches the head,
    so Get-Ok's count after the head message no longer includes it."""
    declare(opened, "q")
    opened.send(1, commands.Confirm.Select())
    opened.expect(commands.Confirm.SelectOk, 1)
    opened.publish(1, "", "q", b"a")
    opened.publish(1, "", "q", b"b", expiring("10"))
    opened.publish(1, "", "q", b"c")
    confirmed(opened, 3)
    broker.clock.advance(1)  # b's TTL passes
    assert ready(opened, "q") == 3
    assert get(opened, "q", no_ack=True)[2:] == (b"a", 1)
    assert drain(opened, "q") == [(2, False, b"c")]


def test_declare_ok_count_drops_expired_head_messages(opened):
    """Expired head messages are gone from Declare-Ok's count as soon as they expire."""
    declare(opened, "q", arguments=TO_DLQ)
    watch_dlq(opened)
    opened.publish(1, "", "q", b"a", expiring("20"))
    opened.publish(1, "", "q", b"b")
    assert next_delivery(opened)[3] == b"a"
    assert ready(opened, "q") == 1


@pytest.mark.parametrize("queue_ttl, message_ttl", [(600_000, "20000"), (20_000, "600000")])
def test_lower_of_queue_and_message_ttl_applies(opened, broker, queue_ttl, message_ttl):
    """Queue TTL and message expiration together: whichever is lower wins."""
    declare(opened, "q", arguments={"x-message-ttl": queue_ttl, **TO_DLQ})
    watch_dlq(opened)
    opened.publish(1, "", "q", b"m", expiring(message_ttl))
    assert ready(opened, "q") == 1
    broker.clock.advance(21)
    assert next_delivery(opened)[3] == b"m"
    assert ready(opened, "q") == 0


def test_ttl_zero_delivers_to_a_consumer_that_can_take_it(opened):
    """x-message-ttl 0: a waiting consumer with credit gets the message."""
    declare(opened, "q", arguments={"x-message-ttl": 0})
    consume(opened, "c", "q", no_ack=True)
    opened.publish(1, "", "q", b"m")
    assert delivered(opened, "q") == [("c", 1, False, b"m")]


def test_ttl_zero_without_a_consumer_expires_at_once(opened):
    """x-message-ttl 0 and nobody to take it: dead-lettered (reason expired) immediately."""
    declare(opened, "q", arguments={"x-message-ttl": 0, **TO_DLQ})
    declare(opened, "dlq")
    opened.publish(1, "", "q", b"m")
    assert ready(opened, "q") == 0
    raw_props, body = get_raw(opened, "dlq")
    death = dict(dict(properties(raw_props)["headers"])["x-death"][1][0][1])
    assert body == b"m" and death["reason"] == ("S", b"expired") and death["queue"] == ("S", b"q")


def test_ttl_zero_consumer_without_credit_does_not_get_it(opened):
    """x-message-ttl 0 with a consumer at its prefetch limit: the message expires instead."""
    declare(opened, "q", arguments={"x-message-ttl": 0})
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk, 1)
    consume(opened, "c", "q")
    opened.publish(1, "", "q", b"first")
    opened.publish(1, "", "q", b"second")
    assert delivered(opened, "q") == [("c", 1, False, b"first")]
    opened.send(1, commands.Basic.Ack(delivery_tag=1))
    assert delivered(opened, "q") == []


def test_expiration_zero_at_the_head_is_dropped(opened):
    """A message with expiration "0" and no consumer is gone at once."""
    declare(opened, "q")
    opened.publish(1, "", "q", b"m", expiring("0"))
    assert ready(opened, "q") == 0


def test_expired_message_is_never_delivered(opened):
    """A consumer at its prefetch limit holds m0; m1 expires meanwhile at the head (dead-lettered);
    the ack then lets m2 through, not m1."""
    declare(opened, "q", arguments=TO_DLQ)
    watch_dlq(opened)
    opened.send(1, commands.Basic.Qos(prefetch_count=1))
    opened.expect(commands.Basic.QosOk, 1)
    consume(opened, "c", "q")
    opened.publish(1, "", "q", b"m0")
    opened.publish(1, "", "q", b"m1", expiring("30"))
    opened.publish(1, "", "q", b"m2")
    assert next_delivery(opened) == ("c", 1, False, b"m0")
    assert next_delivery(opened) == ("dl", 2, False, b"m1")
    opened.send(1, commands.Basic.Ack(delivery_tag=1))
    assert next_delivery(opened) == ("c", 3, False, b"m2")


def test_requeued_message_keeps_its_expiry(opened, broker):
    """A message fetched before its TTL and requeued after it is dropped, not redelivered."""
    declare(opened, "q", arguments={"x-message-ttl": 60_000})
    opened.publish(1, "", "q", b"m")
    tag = get(opened, "q")[0]
    broker.clock.advance(61)  # the TTL passes while the message is unacked
    opened.send(1, commands.Basic.Reject(delivery_tag=tag, requeue=True))
    assert ready(opened, "q") == 0 and get(opened, "q") is None


def test_get_ok_count_excludes_expired_head(opened, broker):
    """Get-Ok's message_count is taken after dropping the expired messages that became the head."""
    declare(opened, "q")
    opened.send(1, commands.Confirm.Select())
    opened.expect(commands.Confirm.SelectOk, 1)
    opened.publish(1, "", "q", b"a")
    opened.publish(1, "", "q", b"b", expiring("10"))
    opened.publish(1, "", "q", b"c")
    confirmed(opened, 3)
    broker.clock.advance(1)  # b's TTL passes
    assert get(opened, "q", no_ack=True)[2:] == (b"a", 1)
    assert ready(opened, "q") == 1


def test_dead_lettered_copy_has_no_expiration_and_records_it(opened, broker):
    """The expired message's copy has no expiration property; x-death has original-expiration."""
    declare(opened, "q", arguments=TO_DLQ)
    watch_dlq(opened)
    opened.send(1, commands.Basic.Cancel(consumer_tag="dl"))
    opened.expect(commands.Basic.CancelOk, 1)
    opened.publish(1, "", "q", b"m", expiring("5"))
    ready(opened, "q")  # the publish has arrived
    broker.clock.advance(1)  # the expiry passes; the copy waits in dlq
    props = properties(get_raw(opened, "dlq")[0])
    assert "expiration" not in props
    death = dict(dict(props["headers"])["x-death"][1][0][1])
    assert death["original-expiration"] == ("S", b"5") and death["reason"] == ("S", b"expired")


@pytest.mark.parametrize("expiration, reason", [
    ("abc", "no_integer"),
    ("", "no_integer"),
    (" 10", "no_integer"),
    ("-1", "{value_negative,-1}"),
    ("1.5", '{leftover_string,".5"}'),
    ("10 ", '{leftover_string," "}'),
    ("1e3", '{leftover_string,"e3"}'),
    ("315360000001", "{value_too_large,315360000001}"),
])
def test_invalid_expiration_closes_the_channel(opened, expiration, reason):
    """RabbitMQ parses expiration with string:to_integer; a bad one is 406 on the publish."""
    declare(opened, "q")
    opened.send(1, commands.Basic.Publish(exchange="", routing_key="q"))
    raw_props = b"\x01\x00" + bytes([len(expiration)]) + expiration.encode()
    opened.send_bytes(_content_header(1, raw_props, 1) + _body_frame(1, b"x"))
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406, f"PRECONDITION_FAILED - invalid expiration '{expiration}': {reason}", 60, 40)


@pytest.mark.parametrize("expiration", ["+60000", "0060000", "315360000000", "-0"])
def test_valid_expiration_forms_are_accepted(opened, expiration):
    """A sign, leading zeros and the ten-year maximum are accepted, as by RabbitMQ."""
    declare(opened, "q")
    opened.publish(1, "", "q", b"x", expiring(expiration))
    assert ready(opened, "q") == (0 if expiration == "-0" else 1)


def test_expired_persistent_message_is_removed_from_the_store(broker_factory, tmp_path):
    """A persistent message that expired in a durable queue does not come back after a restart."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "q", durable=True, arguments=TO_DLQ)
        watch_dlq(raw)
        raw.publish(1, "", "q", b"gone", expiring("10", delivery_mode=2))
        raw.publish(1, "", "q", b"kept", commands.Basic.Properties(delivery_mode=2))
        assert next_delivery(raw)[3] == b"gone"
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert drain(raw, "q") == [(1, False, b"kept")]


def _content_header(channel, raw_props, size):
    payload = struct.pack(">HHQ", 60, 0, size) + raw_props
    return struct.pack(">BHI", 2, channel, len(payload)) + payload + b"\xce"


def _body_frame(channel, data):
    return struct.pack(">BHI", 3, channel, len(data)) + data + b"\xce"
