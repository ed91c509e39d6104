"""The consumer timeout (RabbitMQ's consumer_timeout): a channel whose oldest unacknowledged
delivery is older than the node's timeout is closed with 406 PRECONDITION_FAILED.

RabbitMQ stamps each delivery and looks at the channel's oldest one on the channel's tick
(every 60 s). Here no delivery is stamped: while a channel holds unacknowledged deliveries,
one timer ticks every CHECK_EVERY (or half the timeout when that is shorter) and notes the
highest delivery tag sent so far; a tag noted at least the timeout ago bounds the deliveries
that are at least that old. So the channel closes no earlier than the timeout after the
delivery and at most two ticks later (RabbitMQ: one tick).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from amqpd.broker import clock
from amqpd.protocol import errors

if TYPE_CHECKING:
    from amqpd.broker import Timer
    from amqpd.session.channel import Channel

CHECK_EVERY = 60.0  # seconds: RabbitMQ's channel_tick_interval


class AckDeadline:
    """Watches one channel's unacknowledged deliveries against the timeout (milliseconds)."""

    __slots__ = ("_channel", "_timeout_ms", "_timeout", "_interval", "_marks", "_timer")

    def __init__(self, channel: Channel, timeout_ms: int) -> None:
        self._channel = channel
        self._timeout_ms = timeout_ms
        self._timeout = timeout_ms / 1000
        self._interval = min(CHECK_EVERY, self._timeout / 2)
        self._marks: deque[tuple[int, float]] = deque()  # (highest tag sent, when), oldest first
        self._timer: Timer | None = None

    def arm(self) -> None:
        """A delivery awaits its ack: tick from now on, unless already ticking."""
        if self._timer is None:
            self._timer = self._channel.connection.node.timers.schedule(clock.now() + self._interval, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        channel = self._channel
        oldest = channel.oldest_unacked()
        marks = self._marks
        if oldest is None:  # all acknowledged: rest until the next delivery arms again
            marks.clear()
            return
        now = clock.now()
        marks.append((channel.delivery_tag, now))
        horizon = now - self._timeout
        while len(marks) > 1 and marks[1][1] <= horizon:
            marks.popleft()  # a later mark is old enough, and bounds more deliveries
        tag, noted = marks[0]
        if noted <= horizon and oldest <= tag:
            channel.connection.log.warning("consumer timed out waiting for delivery acknowledgement",
                                           channel=channel.number, delivery_tag=oldest, timeout_ms=self._timeout_ms)
            channel.close_by_broker(errors.ChannelError(
                errors.PRECONDITION_FAILED,
                f"delivery acknowledgement on channel {channel.number} timed out. Timeout value used: "
                f"{self._timeout_ms} ms. This timeout value can be configured, see consumers doc guide to learn more"))
            return
        self.arm()


def watch(channel: Channel) -> AckDeadline | None:
    """The channel's watch, or None when the node has the timeout off."""
    timeout = channel.connection.node.settings.consumer_timeout
    return None if timeout is False else AckDeadline(channel, timeout)
