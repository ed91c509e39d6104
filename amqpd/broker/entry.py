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
    ``expires`` (a clock.now() deadline) is set only on queues with the message TTL feature.
    """

    __slots__ = ("message", "redelivered", "expires")

    def __init__(self, message: Message, redelivered: bool = False, expires: float | None = None) -> None:
        self.message = message
        self.redelivered = redelivered
        self.expires = expires

    @property
    def seq(self) -> int:
        return self.message.id


# A stored message whose body is not in memory is held in its lane as its bare id (its position).
# An object per paged message carrying its own delivered flag would take 88 bytes instead of 40
# and be walked by every full garbage collection (1,000,000 paged: 108 ms instead of 25 ms), so
# the queue names the few delivered before a restart in a set (Queue.delivered_before_restart).
Paged = int


def position(item: Entry | Paged) -> int:
    """Where an item of a lane stands (its message id)."""
    return item if type(item) is int else item.seq  # type: ignore[return-value,union-attr]


def insert(lane: deque[Entry | Paged], entries: Iterable[Entry]) -> None:
    """Put entries back into a lane at their original positions (by message id)."""
    for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
        if not lane or entry.seq < position(lane[0]):
            lane.appendleft(entry)
        elif entry.seq > position(lane[-1]):
            lane.append(entry)
        else:
            lane.insert(bisect.bisect([position(item) for item in lane], entry.seq), entry)
