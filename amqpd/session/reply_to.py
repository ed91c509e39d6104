"""Direct reply-to: RPC replies straight to a requester's consumer, with no queue to declare.

A client consumes (no_ack) from the pseudo-queue ``amq.rabbitmq.reply-to`` and publishes its
requests with that name as reply_to; the broker rewrites reply_to to a name of its own making,
``amq.rabbitmq.reply-to.<token>``, which routes through the default exchange to that consumer
alone. Here the name is a real auto-delete queue, so it goes when the consumer or its channel
does, and routing, delivery and no-ack bookkeeping are the ordinary ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from amqpd.broker import Message, Properties, QueueType, random_name
from amqpd.protocol import ChannelError, errors

if TYPE_CHECKING:
    from amqpd.session.channel import Channel

PSEUDO_QUEUE: Final = "amq.rabbitmq.reply-to"
_MARK: Final = PSEUDO_QUEUE.encode()
REPLY_TO_BIT: Final = 0x02  # the reply_to flag in the first byte of the flag word
REPLY_RANDOM_BYTES = 18  # 24 base64 characters after the pseudo-queue's name


def reply_queue(channel: "Channel", no_ack: bool) -> QueueType:
    """The queue behind a Basic.Consume of the pseudo-queue (made for this consumer)."""
    if not no_ack:
        raise ChannelError(errors.PRECONDITION_FAILED, "reply consumer cannot acknowledge")
    if channel.reply_queue is not None and not channel.reply_queue.deleted:
        raise ChannelError(errors.PRECONDITION_FAILED, "reply consumer already set")
    name = random_name(f"{PSEUDO_QUEUE}.", REPLY_RANDOM_BYTES)
    channel.reply_queue = channel.vhost.new_queue(name, False, None, True, {})
    return channel.reply_queue


def rewrite(channel: "Channel", message: Message) -> Message:
    """A request whose reply_to names the pseudo-queue gets the channel's reply queue instead;
    every other property keeps its bytes."""
    raw = message.raw_properties  # cheap tests first: this runs for every publish
    if not raw[0] & REPLY_TO_BIT or raw.find(_MARK) < 0:  # find: `in` raises and clears a TypeError
        return message
    props = Properties(message.raw_properties)
    if props.reply_to != PSEUDO_QUEUE:
        return message
    queue = channel.reply_queue
    if queue is None or queue.deleted:
        raise ChannelError(errors.PRECONDITION_FAILED, "fast reply consumer does not exist")
    props.reply_to = queue.name
    return Message(message.exchange, message.routing_key, props.encode(), message.body,
                   2 if message.persistent else 1, message.priority, message.expiration)
