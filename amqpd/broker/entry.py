"""What a queue's lanes hold, an Entry or a Paged id, and putting entries back in their place.

It sits below both queue.py and queue_options.py because both create entries and requeue them.
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Iterable

from amqpd.broker.message import Message


class Entry:
    """A message's place in one queue, whether it was delivered before, and when it expires.

    Message ids grow with publish order, so the id is also the message's position in any queue.
    ``expires`` (a timers.clock() deadline) is set only on queues that take the special path.
    """

    __slots__ = ("message", "redelivered", "expires")

    def __init__(self, message: Message, redelivered: bool = False, expires: float | None = None) -> None:
        self.message = message
        self.redelivered = redelivered
        self.expires = expires

    @property
    def seq(self) -> int:
        return self.message.id


# A stored message whose body is not in memory is held in the ready deque as its bare id,
# negated when it had been delivered before a restart (about 36 bytes instead of a few hundred).
Paged = int


def _position(item: Entry | Paged) -> int:
    return abs(item) if type(item) is int else item.seq  # type: ignore[union-attr]


def insert(lane: deque[Entry | Paged], entries: Iterable[Entry]) -> None:
    """Put entries back into a lane at their original positions (by message id)."""
    for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
        if not lane or entry.seq < _position(lane[0]):
            lane.appendleft(entry)
        elif entry.seq > _position(lane[-1]):
            lane.append(entry)
        else:
            lane.insert(bisect.bisect([_position(item) for item in lane], entry.seq), entry)
