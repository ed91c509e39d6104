"""What a queue's lanes hold, an Entry or a Paged message, and putting entries back in their place.

It sits below queue.py and the features because they all create entries and requeue them.
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Iterable

from amqpd.broker.message import Message


class Entry:
    """A message's place in one queue, whether it was delivered before, and when it expires.

    Message ids grow with publish order, so the id is also the message's position in any queue.
    ``expires`` (a timers.clock() deadline) is set only on queues with the message TTL feature.
    """

    __slots__ = ("message", "redelivered", "expires")

    def __init__(self, message: Message, redelivered: bool = False, expires: float | None = None) -> None:
        self.message = message
        self.redelivered = redelivered
        self.expires = expires

    @property
    def seq(self) -> int:
        return self.message.id


class Paged:
    """A stored message whose body is not in memory: its id (its position) and whether it had
    been delivered before a restart. Far smaller than an Entry and its Message."""

    __slots__ = ("seq", "delivered")

    def __init__(self, seq: int, delivered: bool = False) -> None:
        self.seq = seq
        self.delivered = delivered


def insert(lane: deque[Entry | Paged], entries: Iterable[Entry]) -> None:
    """Put entries back into a lane at their original positions (by message id)."""
    for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
        if not lane or entry.seq < lane[0].seq:
            lane.appendleft(entry)
        elif entry.seq > lane[-1].seq:
            lane.append(entry)
        else:
            lane.insert(bisect.bisect([item.seq for item in lane], entry.seq), entry)
