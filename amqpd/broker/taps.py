"""Taps: observers of a vhost's message flow, told of each publish (with the queues it was
routed to) and each delivery. The firehose (broker/trace.py) is one; amqpd.testing's record of
published messages is another.

A vhost holds its taps behind one attribute, ``vhost.tap``: None while nothing listens (the
session's per-message paths then test ``is not None`` and nothing more), the tap itself while
one listens, a ``Fanout`` while several do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

if TYPE_CHECKING:
    from amqpd.broker.message import Message
    from amqpd.broker.queue_type import QueueType


class Tap(Protocol):
    def published(self, message: Message, queues: Iterable[QueueType], extra_keys: Sequence[str],
                  connection: str, channel: int, user: str) -> None:
        """A client's message was routed (``queues`` is empty when it was unroutable)."""

    def delivered(self, queue: str, message: Message, redelivered: bool, connection: str, channel: int,
                  user: str) -> None:
        """A Basic.Deliver or Get-Ok of the message from a queue."""


class Fanout:
    """Several taps heard as one, in the order they were attached."""

    def __init__(self, taps: Sequence[Tap]) -> None:
        self.taps = tuple(taps)

    def published(self, message: Message, queues: Iterable[QueueType], extra_keys: Sequence[str],
                  connection: str, channel: int, user: str) -> None:
        routed = list(queues)
        for tap in self.taps:
            tap.published(message, routed, extra_keys, connection, channel, user)

    def delivered(self, queue: str, message: Message, redelivered: bool, connection: str, channel: int,
                  user: str) -> None:
        for tap in self.taps:
            tap.delivered(queue, message, redelivered, connection, channel, user)


def joined(taps: Sequence[Tap]) -> Tap | None:
    """What ``vhost.tap`` holds for these taps."""
    if not taps:
        return None
    return taps[0] if len(taps) == 1 else Fanout(taps)
