"""clock.advance: what the broker times fires as if that much time had passed, at once."""

from __future__ import annotations

import time

import pika
import pytest

from amqpd.testing import VirtualHostHandle
from tests.testing.blocking import connect, pump_until, pump_while


def test_message_ttl_expires_and_dead_letters_when_the_clock_passes_it(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.exchange_declare("dlx", "fanout")
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx")
    channel.queue_declare("work", arguments={"x-message-ttl": 60_000, "x-dead-letter-exchange": "dlx"})
    channel.confirm_delivery()
    channel.basic_publish("", "work", b"late")
    channel.basic_publish("", "work", b"later", pika.BasicProperties(expiration="120000"))
    stamped = time.time()

    amqpd.clock.advance(59)
    assert [m.body for m in amqpd.peek("work")] == [b"late", b"later"]
    amqpd.clock.advance(2)
    assert [m.body for m in amqpd.peek("work")] == []  # the second's own 120 s is capped by the queue's 60 s
    dead = amqpd.peek("dead")
    assert [m.body for m in dead] == [b"late", b"later"]
    death = dead[0].properties["headers"]["x-death"][0]
    assert (death["reason"], death["queue"], death["count"]) == ("expired", "work", 1)
    assert death["time"].timestamp() >= int(stamped) + 60  # stamps move with the clock too


def test_timers_set_inside_the_window_fire_in_order_within_one_advance(amqp_url: str, amqpd: VirtualHostHandle):
    """Expired into a queue with its own TTL: the second expiry is scheduled by the first and
    still falls inside the same advance."""
    channel = connect(amqp_url).channel()
    channel.exchange_declare("to-b", "fanout")
    channel.exchange_declare("to-c", "fanout")
    channel.queue_declare("a", arguments={"x-message-ttl": 10_000, "x-dead-letter-exchange": "to-b"})
    channel.queue_declare("b", arguments={"x-message-ttl": 10_000, "x-dead-letter-exchange": "to-c"})
    channel.queue_declare("c")
    channel.queue_bind("b", "to-b")
    channel.queue_bind("c", "to-c")
    channel.confirm_delivery()
    channel.basic_publish("", "a", b"hop")

    amqpd.clock.advance(25)
    assert [m.body for m in amqpd.peek("c")] == [b"hop"]
    reasons = [(d["queue"], d["reason"]) for d in amqpd.peek("c")[0].properties["headers"]["x-death"]]
    assert reasons == [("b", "expired"), ("a", "expired")]


def test_x_expires_deletes_an_unused_queue(amqp_url: str, amqpd: VirtualHostHandle):
    channel = connect(amqp_url).channel()
    channel.queue_declare("brief", arguments={"x-expires": 600_000})
    amqpd.clock.advance(599)
    channel.queue_declare("brief", passive=True)  # declaring it (even passively) counts as use
    amqpd.clock.advance(599)
    channel.queue_declare("brief", passive=True)
    amqpd.clock.advance(601)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
        channel.queue_declare("brief", passive=True)
    assert gone.value.reply_code == 404


def test_consumer_timeout_closes_the_channel_of_an_unacked_delivery(amqp_url: str, amqpd: VirtualHostHandle):
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.queue_declare("jobs")
    got: list[bytes] = []
    channel.basic_consume("jobs", lambda ch, method, props, body: got.append(body))
    channel.basic_publish("", "jobs", b"never acked")
    pump_until(connection, got)
    assert got == [b"never acked"]

    amqpd.clock.advance(30 * 60 + 60)  # the default consumer_timeout, 30 minutes, and a tick
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        channel.queue_declare("jobs", passive=True)  # answered by the Channel.Close already sent
    assert closed.value.reply_code == 406
    assert closed.value.reply_text.startswith("PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out")
    assert [(m.body, m.redelivered) for m in amqpd.peek("jobs")] == [(b"never acked", True)]  # back in the queue


def test_advance_adds_up_and_never_goes_back(amqpd: VirtualHostHandle, amqpd_broker):
    before = amqpd.clock.offset
    amqpd.clock.advance(1.5)
    amqpd_broker.clock.advance(0.5)  # the broker's clock is the handle's
    assert amqpd.clock.offset - before == pytest.approx(2.0, abs=1e-9)  # real time passing meanwhile is not skipped
    with pytest.raises(ValueError, match="time only moves forward"):
        amqpd.clock.advance(-1)



def test_stream_max_age_drops_old_segments_at_the_next_write(amqp_url: str, amqpd: VirtualHostHandle):
    """As in RabbitMQ, a stream's retention is applied when it is written, to whole segments."""
    connection = connect(amqp_url)
    channel = connection.channel()
    channel.queue_declare("log", durable=True, arguments={
        "x-queue-type": "stream", "x-max-age": "60s", "x-stream-max-segment-size-bytes": 200})
    channel.confirm_delivery()
    for n in range(4):
        channel.basic_publish("", "log", b"old %d" % n + bytes(100))  # about a segment each

    amqpd.clock.advance(61)
    channel.basic_publish("", "log", b"fresh")
    channel.basic_qos(prefetch_count=10)
    got: list[bytes] = []
    channel.basic_consume("log", lambda ch, method, props, body: got.append(body[:5]),
                          arguments={"x-stream-offset": "first"})
    pump_while(connection, lambda: b"fresh" not in got)
    assert got == [b"fresh"]  # every segment of old messages went (each a segment of its own)
