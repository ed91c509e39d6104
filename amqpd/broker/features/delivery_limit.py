"""x-delivery-limit (and the delivery-limit policy) of a quorum queue: each message's returns are
counted (what the x-delivery-count header shows), and a message returned more often than the
limit leaves the queue (dead-lettered, reason delivery_limit).

Every return counts, as in RabbitMQ 3.10.8: Basic.Nack / Reject / Recover with requeue and a
channel or connection that closed with the message unacknowledged. A limit of N thus allows
N + 1 deliveries; a limit that is not an integer is no limit (RabbitMQ accepts any value).
"""

from __future__ import annotations

from typing import Any

from amqpd.broker.tables import type_class


class DeliveryLimit:
    __slots__ = ("limit", "_counts")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._counts: dict[int, int] = {}  # message id -> returns, for messages returned at least once

    @staticmethod
    def limit_of(arguments: dict[str, Any]) -> int | None:
        limit = arguments.get("x-delivery-limit")
        return limit if limit is not None and type_class(limit) == "int" else None

    def count(self, seq: int) -> int:
        """How often the message was returned (its x-delivery-count)."""
        return self._counts.get(seq, 0)

    def returned(self, seq: int) -> bool:
        """Count a return; True when the message is now over the limit (it must go)."""
        count = self._counts[seq] = self._counts.get(seq, 0) + 1
        return self.limit is not None and count > self.limit

    def restored(self, seq: int, count: int) -> None:
        """A recovered message's count."""
        self._counts[seq] = count

    def forget(self, seq: int) -> None:
        """The message left the queue."""
        self._counts.pop(seq, None)

    def clear(self) -> None:
        self._counts.clear()
