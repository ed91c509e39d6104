"""x-max-priority: ready messages wait in one lane per priority, the highest delivered first.

Declaration-time only: RabbitMQ refuses max-priority in a policy, so a live queue never gains
or loses lanes (Queue.apply_arguments keeps the declared ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amqpd.broker.message import Message


class Priority:
    __slots__ = ("max_priority",)

    def __init__(self, max_priority: int) -> None:
        self.max_priority = min(max_priority, 255)

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "Priority | None":
        max_priority = arguments.get("x-max-priority")
        return None if max_priority is None else cls(max_priority)

    @property
    def lanes(self) -> int:
        return self.max_priority + 1

    def lane_of(self, message: "Message") -> int:
        """A message's lane: none is 0, above the maximum is the maximum."""
        return min(message.priority or 0, self.max_priority)
