"""The message and churn counters, sans-IO: what a queue, an exchange, a channel, a vhost and the
node count after publishes, deliveries, gets, acks, requeues and unroutable messages. The
expected figures are what RabbitMQ 3.10.8's management API showed for the same steps (an
exchange's publish_out counts each queue reached; a queue's get counts a Get-Ok with manual ack)."""

from __future__ import annotations

from pamqp import body, commands, frame, header

from amqpd.broker.stats import Rates
from tests.session.test_handshake import opened, send, sent


def publish(conn, exchange: str, routing_key: str, payload: bytes = b"hello", mandatory: bool = False) -> None:
    conn.feed(frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory), 1)
              + frame.marshal(header.ContentHeader(0, len(payload), commands.Basic.Properties()), 1)
              + frame.marshal(body.ContentBody(payload), 1))


def channel_one(**settings):
    conn = opened(**settings)
    send(conn, 1, commands.Channel.Open())
    sent(conn)
    return conn


def delivery_tags(conn) -> list[int]:
    return [m.delivery_tag for _, m in sent(conn) if isinstance(m, (commands.Basic.GetOk, commands.Basic.Deliver))]


def test_publishes_count_on_the_channel_the_exchange_and_each_queue_reached():
    conn = channel_one()
    send(conn, 1, commands.Exchange.Declare(exchange="fx", exchange_type="fanout"))
    for name in ("q1", "q2"):
        send(conn, 1, commands.Queue.Declare(queue=name))
        send(conn, 1, commands.Queue.Bind(queue=name, exchange="fx"))
    for _ in range(3):
        publish(conn, "fx", "")
    publish(conn, "amq.direct", "nowhere")
    publish(conn, "amq.direct", "nowhere", mandatory=True)
    vhost = conn.vhost
    assert (vhost.exchanges["fx"].stats.publish_in, vhost.exchanges["fx"].stats.publish_out) == (3, 6)
    assert vhost.queues["q1"].stats.publish == 3 and vhost.queues["q2"].stats.publish == 3
    channel = conn.channels[1].stats
    assert (channel.publish, channel.drop_unroutable, channel.return_unroutable) == (5, 1, 1)


def test_gets_acks_and_redeliveries_count_on_the_queue_and_the_channel():
    conn = channel_one()
    send(conn, 1, commands.Queue.Declare(queue="q"))
    for _ in range(4):
        publish(conn, "", "q")
    sent(conn)
    send(conn, 1, commands.Basic.Get(queue="q"))
    send(conn, 1, commands.Basic.Ack(delivery_tag=delivery_tags(conn)[0]))
    send(conn, 1, commands.Basic.Get(queue="q", no_ack=True))
    send(conn, 1, commands.Basic.Get(queue="q"))
    send(conn, 1, commands.Basic.Nack(delivery_tag=delivery_tags(conn)[-1], requeue=True))
    send(conn, 1, commands.Basic.Get(queue="q", no_ack=True))  # the requeued one, redelivered
    send(conn, 1, commands.Basic.Get(queue="q", no_ack=True))
    send(conn, 1, commands.Basic.Get(queue="q"))  # empty
    expected = {"publish": 4, "get": 2, "get_no_ack": 3, "get_empty": 1, "redeliver": 1, "ack": 1,
                "deliver": 0, "deliver_no_ack": 0, "deliver_get": 5}
    queue = conn.vhost.queues["q"].message_stats().report()
    assert {k: queue[k] for k in expected} == expected
    channel = conn.channels[1].message_stats().report()
    assert {k: channel[k] for k in expected} == expected


def test_consumer_deliveries_and_multiple_acks_count():
    conn = channel_one()
    send(conn, 1, commands.Queue.Declare(queue="q"))
    send(conn, 1, commands.Queue.Declare(queue="auto"))
    send(conn, 1, commands.Basic.Consume(queue="q", consumer_tag="manual"))
    send(conn, 1, commands.Basic.Consume(queue="auto", consumer_tag="auto", no_ack=True))
    for _ in range(3):
        publish(conn, "", "q")
        publish(conn, "", "auto")
    tags = [m.delivery_tag for _, m in sent(conn) if isinstance(m, commands.Basic.Deliver) and m.consumer_tag == "manual"]
    send(conn, 1, commands.Basic.Ack(delivery_tag=tags[-1], multiple=True))
    channel, queue = conn.channels[1], conn.vhost.queues["q"]
    stats = channel.message_stats()
    assert (stats.deliver, stats.deliver_no_ack, stats.ack, stats.deliver_get) == (3, 3, 3, 6)
    assert (queue.message_stats().deliver, queue.message_stats().ack) == (3, 3)
    assert conn.vhost.queues["auto"].message_stats().deliver_no_ack == 3
    # the consumers go (one cancelled, the other with its queue): their counts stay
    send(conn, 1, commands.Basic.Cancel(consumer_tag="manual"))
    send(conn, 1, commands.Queue.Delete(queue="auto"))
    assert not channel.consumers
    stats = channel.message_stats()
    assert (stats.deliver, stats.deliver_no_ack) == (3, 3)
    assert queue.message_stats().deliver == 3
    publish(conn, "", "q")  # no consumer: not delivered
    assert conn.node.message_stats().deliver_get == 6


def test_confirms_count_each_publish_confirmed():
    conn = channel_one()
    send(conn, 1, commands.Confirm.Select())
    send(conn, 1, commands.Queue.Declare(queue="q"))
    for _ in range(3):
        publish(conn, "", "q")
    publish(conn, "amq.direct", "nowhere")
    assert conn.channels[1].stats.confirm == 4


def test_vhost_and_node_totals_keep_the_counts_of_closed_channels_and_connections():
    conn = channel_one()
    node, vhost = conn.node, conn.vhost
    send(conn, 1, commands.Queue.Declare(queue="q"))
    publish(conn, "", "q")
    send(conn, 2, commands.Channel.Open())
    send(conn, 2, commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    assert node.message_stats().publish == 1  # the live channel's count
    send(conn, 1, commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    assert node.message_stats(vhost).publish == 1  # kept by the vhost once the channel closed
    send(conn, 0, commands.Connection.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    churn = node.churn()
    assert (churn.connection_created, churn.connection_closed) == (1, 1)
    assert (churn.channel_created, churn.channel_closed) == (2, 2)
    assert (churn.queue_declared, churn.queue_created, churn.queue_deleted) == (1, 1, 0)
    assert node.message_stats().publish == 1


def test_connection_counts_the_bytes_fed_and_taken():
    conn = channel_one()
    received, sent_before = conn.recv_oct, conn.send_oct
    data = frame.marshal(commands.Queue.Declare(queue="q"), 1)
    conn.feed(data)
    out = conn.data_to_send()
    assert conn.recv_oct - received == len(data)
    assert conn.send_oct - sent_before == len(out) > 0


def test_rates_span_at_least_the_sample_interval():
    rates = Rates()
    assert rates.details("q", {"publish": 10}, now=100.0) == {"publish": 10, "publish_details": {"rate": 0.0}}
    assert rates.of("q", {"publish": 20}, now=102.0) == {"publish": 0.0}  # too soon: the last rates
    assert rates.of("q", {"publish": 60}, now=110.0) == {"publish": 5.0}
    assert rates.of("q", {"publish": 60}, now=111.0) == {"publish": 5.0}
