"""Direct reply-to (amq.rabbitmq.reply-to), as RabbitMQ 3.10.8 does it (each case checked there)."""

from __future__ import annotations

import pika
from pamqp import commands

from tests.support.blocking import refused
from tests.support.frames import close_of

PSEUDO = "amq.rabbitmq.reply-to"


def _request_reply(connect):
    """A requester consumes the pseudo-queue and publishes a request; a server answers on reply_to."""
    client = connect().channel()
    replies = []
    client.basic_consume(PSEUDO, lambda ch, m, p, b: replies.append((m.exchange, m.routing_key, p.correlation_id, b)),
                         auto_ack=True)
    server = connect().channel()
    queue = server.queue_declare("", exclusive=True).method.queue
    client.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=PSEUDO, correlation_id="c1"))
    method, props, body = None, None, None
    while method is None:
        method, props, body = server.basic_get(queue, auto_ack=True)
    server.basic_publish("", props.reply_to, b"response", pika.BasicProperties(correlation_id=props.correlation_id))
    while not replies:
        client.connection.process_data_events(time_limit=0.05)
    return props.reply_to, replies, server


def test_reply_reaches_the_requesting_consumer(connect):
    """reply_to is rewritten to amq.rabbitmq.reply-to.<token>; the answer arrives via the default exchange."""
    reply_to, replies, _ = _request_reply(connect)
    assert reply_to.startswith(PSEUDO + ".") and len(reply_to) > len(PSEUDO) + 10
    assert replies == [("", reply_to, "c1", b"response")]


def test_reply_name_can_be_checked_with_a_passive_declare(connect):
    """The server side may passive-declare the reply name, and the pseudo-queue itself."""
    reply_to, _, server = _request_reply(connect)
    assert server.queue_declare(reply_to, passive=True).method.queue == reply_to
    declared = server.queue_declare(PSEUDO, passive=True).method
    assert (declared.queue, declared.message_count, declared.consumer_count) == (PSEUDO, 0, 1)


def test_reply_consumer_must_not_ack(channel):
    assert refused(channel.basic_consume, PSEUDO, lambda *a: None, auto_ack=False) == (
        406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")


def test_request_without_reply_consumer_is_refused(opened):
    """Publishing with reply_to amq.rabbitmq.reply-to needs a reply consumer on the same channel."""
    opened.publish(1, "", "nowhere", b"x", commands.Basic.Properties(reply_to=PSEUDO))
    opened.send(1, commands.Queue.Declare(queue="", exclusive=True))
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406, "PRECONDITION_FAILED - fast reply consumer does not exist", 60, 40)


def test_second_reply_consumer_on_a_channel_is_refused(opened):
    opened.send(1, commands.Basic.Consume(queue=PSEUDO, consumer_tag="a", no_ack=True))
    opened.expect(commands.Basic.ConsumeOk, 1)
    assert close_of(opened, 1, commands.Basic.Consume(queue=PSEUDO, consumer_tag="b", no_ack=True)) == (
        406, "PRECONDITION_FAILED - reply consumer already set", 60, 20)


def test_reply_name_goes_with_its_consumer(connect):
    """Once the requester cancels, the reply name routes nowhere: a mandatory reply comes back and
    a passive declare of the name is 404."""
    client = connect().channel()
    tag = client.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
    server = connect().channel()
    queue = server.queue_declare("", exclusive=True).method.queue
    client.basic_publish("", queue, b"request", pika.BasicProperties(reply_to=PSEUDO))
    method, props, _ = None, None, None
    while method is None:
        method, props, _ = server.basic_get(queue, auto_ack=True)
    client.basic_cancel(tag)
    returned = []
    server.add_on_return_callback(lambda ch, method, props_, body: returned.append(body))
    server.basic_publish("", props.reply_to, b"late", mandatory=True)
    while not returned:
        server.connection.process_data_events(time_limit=0.05)
    assert returned == [b"late"]
    assert refused(server.queue_declare, props.reply_to, passive=True)[0] == 404
