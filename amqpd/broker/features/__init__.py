"""Queue features: components a queue holds, one module per feature, each named after it.

    max_length.py              x-max-length, x-max-length-bytes, x-overflow
    message_ttl.py             x-message-ttl and per-message expiration
    expires.py                 x-expires
    priority.py                x-max-priority (declaration-time only)
    single_active_consumer.py  x-single-active-consumer (declaration-time only)
    dead_letter.py             x-dead-letter-exchange, x-dead-letter-routing-key
    delivery_limit.py          x-delivery-limit (held by quorum queues, broker/quorum.py)

``Features`` holds those that act on messages; x-expires acts on the queue's lifetime only, so
the queue holds it beside them and a queue with nothing else stays on the plain path.
``Features.declared`` makes them from a new queue's arguments, ``Features.applied`` from a live
queue's new effective arguments, carrying over what must survive the change; a queue with none
holds ``None`` and takes the plain path.
"""

from __future__ import annotations

from typing import Any

from amqpd.broker.features.dead_letter import DeadLetter
from amqpd.broker.features.expires import Expires
from amqpd.broker.features.max_length import MaxLength, Overflow
from amqpd.broker.features.message_ttl import MessageTTL
from amqpd.broker.features.priority import Priority
from amqpd.broker.features.single_active_consumer import SingleActiveConsumer

__all__ = ["DeadLetter", "Expires", "Features", "MaxLength", "MessageTTL", "Overflow", "Priority",
           "SingleActiveConsumer"]


class Features:
    """The features that act on one queue's messages (None where it has not)."""

    __slots__ = ("max_length", "message_ttl", "priority", "single_active", "dead_letter")

    def __init__(self, max_length: MaxLength | None = None, message_ttl: MessageTTL | None = None,
                 priority: Priority | None = None, single_active: SingleActiveConsumer | None = None,
                 dead_letter: DeadLetter | None = None) -> None:
        self.max_length = max_length
        self.message_ttl = message_ttl
        self.priority = priority
        self.single_active = single_active
        self.dead_letter = dead_letter

    @classmethod
    def declared(cls, arguments: dict[str, Any]) -> "Features | None":
        """The features a queue declared with ``arguments`` has; None when there are none."""
        ttl = MessageTTL.ttl_of(arguments)
        return cls(MaxLength.of(arguments), None if ttl is None else MessageTTL(ttl), Priority.of(arguments),
                   SingleActiveConsumer.of(arguments), DeadLetter.of(arguments)).or_none()

    @classmethod
    def applied(cls, arguments: dict[str, Any], current: "Features | None") -> "Features | None":
        """The features of a live queue whose effective arguments became ``arguments``.

        Priority lanes and single active consumer stay as declared; a message TTL component
        stays (with the new TTL, maybe none) so that deadlines already given keep running.
        """
        ttl = MessageTTL.ttl_of(arguments)
        message_ttl = current.message_ttl if current is not None else None
        if message_ttl is not None:
            message_ttl.ttl = ttl
        elif ttl is not None:
            message_ttl = MessageTTL(ttl)
        priority = current.priority if current is not None else None
        single_active = current.single_active if current is not None else None
        return cls(MaxLength.of(arguments), message_ttl, priority, single_active, DeadLetter.of(arguments)).or_none()

    def or_none(self) -> "Features | None":
        return self if any(getattr(self, name) is not None for name in self.__slots__) else None

    def stop(self) -> None:
        """The queue is deleted: its timer must not keep it alive."""
        if self.message_ttl is not None:
            self.message_ttl.stop()
