"""The consumer timeout (RabbitMQ's consumer_timeout): a delivery left unacknowledged longer than
the node's timeout closes its channel with RabbitMQ 3.10.8's 406 text; acked deliveries, and the
x-consumer-timeout argument (accepted and ignored in 3.10), change nothing."""

from __future__ import annotations

import pika
import pytest
from pamqp import commands

from amqpd import cli, config
from amqpd.settings import ConfigError
from tests.support.raw import RawClient

TIMEOUT_MS = 200


def timed_out_text(channel: int) -> str:
    return (f"PRECONDITION_FAILED - delivery acknowledgement on channel {channel} timed out. Timeout value used: "
            f"{TIMEOUT_MS} ms. This timeout value can be configured, see consumers doc guide to learn more")


def consume_one(raw: RawClient, channel: int, queue: str, **arguments) -> commands.Basic.Deliver:
    raw.send(channel, commands.Basic.Qos(prefetch_count=1))
    raw.expect(commands.Basic.QosOk, channel)
    raw.send(channel, commands.Basic.Consume(queue=queue, arguments=arguments))
    raw.expect(commands.Basic.ConsumeOk, channel)
    deliver = raw.expect(commands.Basic.Deliver, channel)
    raw.recv_frame(), raw.recv_frame()  # content header and body
    return deliver


@pytest.fixture
def raw(broker_factory):
    broker = broker_factory(consumer_timeout=TIMEOUT_MS)
    with RawClient(broker.port) as client:
        client.handshake()
        client.open_channel(1)
        client.send(1, commands.Queue.Declare(queue="work", arguments={"x-consumer-timeout": 50}))
        client.expect(commands.Queue.DeclareOk, 1)
        yield client


def test_unacked_delivery_closes_its_channel_not_the_acked_one(raw):
    """Channel 1 acks its delivery, channel 2 leaves its later one unacknowledged: channel 2 is
    closed with 406 (no method ids), channel 1, whose delivery was older, stays open."""
    raw.open_channel(2)
    raw.send(2, commands.Queue.Declare(queue="slow"))
    raw.expect(commands.Queue.DeclareOk, 2)
    raw.publish(1, "", "work", b"acked")
    raw.publish(2, "", "slow", b"left")
    deliver = consume_one(raw, 1, "work")
    raw.send(1, commands.Basic.Ack(delivery_tag=deliver.delivery_tag))
    consume_one(raw, 2, "slow", **{"x-consumer-timeout": 60_000})  # ignored, as in 3.10
    close = raw.expect_channel_close(2)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406, timed_out_text(2), 0, 0)
    raw.send(1, commands.Basic.Qos(prefetch_count=5))
    raw.expect(commands.Basic.QosOk, 1)


def test_basic_get_awaiting_its_ack_times_out_too(raw):
    """RabbitMQ watches every delivery awaiting an ack, Basic.Get-Ok included; the message
    goes back to the queue."""
    raw.publish(1, "", "work", b"got")
    raw.send(1, commands.Basic.Get(queue="work"))
    raw.expect(commands.Basic.GetOk, 1)
    raw.recv_frame(), raw.recv_frame()  # content header and body
    close = raw.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (406, timed_out_text(1))
    raw.open_channel(3)
    raw.send(3, commands.Queue.Declare(queue="work", passive=True))
    assert raw.expect(commands.Queue.DeclareOk, 3).message_count == 1


def test_pika_consumer_sees_the_channel_closed(broker_factory):
    """What a pika consumer that never acks gets: its channel closed with the 406."""
    broker = broker_factory(consumer_timeout=TIMEOUT_MS)
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"slow")
    ch.basic_qos(prefetch_count=1)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        for _ in ch.consume(q, inactivity_timeout=5):
            pass
    assert (caught.value.reply_code, caught.value.reply_text) == (406, timed_out_text(1))
    assert conn.is_open
    conn.close()


def test_option_default_values_and_off():
    assert cli.settings_from([]).consumer_timeout == 1_800_000
    assert cli.settings_from(["--consumer-timeout", "900"]).consumer_timeout == 900
    assert cli.settings_from(["--consumer-timeout", "false"]).consumer_timeout is False
    assert config.build({"consumer_timeout": False}, {}, environ={}).consumer_timeout is False
    assert config.build({}, {}, environ={"AMQPD_CONSUMER_TIMEOUT": "5000"}).consumer_timeout == 5000
    for bad in (0, -1, True):
        with pytest.raises(ConfigError, match="consumer_timeout must be a positive number of milliseconds or false"):
            config.build({"consumer_timeout": bad}, {}, environ={})


def test_config_file_takes_false(tmp_path):
    path = tmp_path / "amqpd.toml"
    path.write_text("consumer_timeout = false\n")
    assert config.build(config.load_file(str(path)), {}, environ={}).consumer_timeout is False
    path.write_text('consumer_timeout = "soon"\n')
    with pytest.raises(ConfigError, match="is not an integer or false"):
        config.load_file(str(path))
