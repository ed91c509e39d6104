"""A consumer: a channel's subscription to a queue, with the credit that bounds its deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from amqpd.broker import Entry, QueueType, retire_deliveries
from amqpd.protocol import frames

if TYPE_CHECKING:
    from amqpd.session.channel import Channel

OUTBOX_HIGH_WATER: Final = 1 << 20  # stop feeding a connection whose socket is not keeping up


class ChannelConsumer:
    """Implements the broker's Consumer protocol for one Basic.Consume."""

    __slots__ = ("channel", "queue", "tag", "wire_tag", "no_ack", "exclusive", "priority", "prefetch", "unacked",
                 "delivered")

    def __init__(self, channel: "Channel", queue: QueueType, tag: str, no_ack: bool, exclusive: bool,
                 priority: int, prefetch: int) -> None:
        self.channel = channel
        self.queue = queue
        self.tag = tag
        self.wire_tag = frames.shortstr(tag)
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.priority = priority
        self.prefetch = prefetch
        self.unacked = 0
        self.delivered = 0  # the message counts of its channel and queue, until retire()

    def has_credit(self) -> bool:
        """Room for another delivery; none once the channel is closing (a single active
        consumer of it could otherwise take over while its channel is being released)."""
        channel = self.channel
        if channel.closed or len(channel.connection.outbox) > OUTBOX_HIGH_WATER:
            return False
        if channel.global_prefetch and channel.consumer_unacked >= channel.global_prefetch:
            return False  # holds back no-ack consumers too, as RabbitMQ's channel limiter
        return self.no_ack or not self.prefetch or self.unacked < self.prefetch

    def deliver(self, queue: QueueType, entry: Entry) -> None:
        self.channel.deliver(self, queue, entry)

    def cancel_by_server(self) -> None:
        self.channel.consumer_cancelled_by_server(self)

    def retire(self) -> None:
        """It is gone from its channel: its deliveries join the channel's and queue's counts."""
        retire_deliveries(self.delivered, self.no_ack, self.channel.stats, self.queue.stats)
        self.delivered = 0
