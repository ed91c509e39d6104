"""x-max-length, x-max-length-bytes and x-overflow: how many ready messages (or body bytes) a
queue keeps, and what happens to a publish over the limit.

drop-head drops (dead-letters, reason maxlen) the oldest ready messages; reject-publish refuses
the new one (its publish is nacked); reject-publish-dlx also dead-letters it. Quorum queues
(RabbitMQ 3.10.8) refuse only once the queue is already over the limit, so one publish over it
is admitted, and treat reject-publish-dlx as drop-head.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from amqpd.broker.tables import text

if TYPE_CHECKING:
    from amqpd.broker.message import Message
    from amqpd.broker.queue import Queue


class Overflow(enum.Enum):
    DROP_HEAD = "drop-head"
    REJECT_PUBLISH = "reject-publish"
    REJECT_PUBLISH_DLX = "reject-publish-dlx"


class MaxLength:
    __slots__ = ("max_length", "max_bytes", "overflow", "refusing", "counted")

    def __init__(self, max_length: int | None, max_bytes: int | None, overflow: Overflow = Overflow.DROP_HEAD,
                 counts_publish: bool = True) -> None:
        self.max_length = max_length
        self.max_bytes = max_bytes
        self.overflow = overflow
        self.refusing = overflow is not Overflow.DROP_HEAD  # per message: cheaper than an Enum lookup
        # a publish is refused if the queue would be over with it (classic), or is already over (quorum)
        self.counted = 1 if counts_publish else 0

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "MaxLength | None":
        max_length, max_bytes = arguments.get("x-max-length"), arguments.get("x-max-length-bytes")
        if max_length is None and max_bytes is None:
            return None
        overflow = Overflow(text(arguments.get("x-overflow", "drop-head")))
        if text(arguments.get("x-queue-type", "classic")) != "quorum":
            return cls(max_length, max_bytes, overflow)
        if overflow is Overflow.REJECT_PUBLISH_DLX:
            overflow = Overflow.DROP_HEAD
        return cls(max_length, max_bytes, overflow, counts_publish=False)

    def over(self, queue: "Queue", extra_messages: int = 0, extra_bytes: int = 0) -> bool:
        """Whether the ready messages (plus those extra) exceed a limit."""
        max_length, max_bytes = self.max_length, self.max_bytes
        return ((max_length is not None and queue.message_count + extra_messages > max_length)
                or (max_bytes is not None and queue.ready_bytes + extra_bytes > max_bytes))

    def refuses(self, queue: "Queue", message: "Message") -> bool:
        """reject-publish(-dlx): whether this message would take the queue over a limit."""
        return self.refusing and self.over(queue, self.counted, self.counted * message.size)

    def trim(self, queue: "Queue") -> None:
        """drop-head: the next messages to deliver make way while the queue is over a limit."""
        if not self.refusing:
            self.drop_head(queue)

    def drop_head(self, queue: "Queue") -> None:
        """Drop from the head until the queue is within its limits. A limit attached to (or
        lowered on) a live queue does this whatever the overflow mode, as RabbitMQ 3.10 does."""
        while self.over(queue):
            head = queue.head()
            if head is None:
                return
            queue.discard(queue.pop(head[0]), "maxlen")
