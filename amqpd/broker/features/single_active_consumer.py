"""x-single-active-consumer: one consumer gets every message; when it goes, the next (highest
priority, then oldest) takes over.

Declaration-time only: RabbitMQ refuses single-active-consumer in a policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amqpd.broker.queue_type import Consumer


class SingleActiveConsumer:
    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active: Consumer | None = None

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "SingleActiveConsumer | None":
        return cls() if arguments.get("x-single-active-consumer") is True else None

    def added(self, consumer: "Consumer") -> None:
        if self.active is None:
            self.active = consumer

    def left(self, consumer: "Consumer", remaining: list["Consumer"]) -> bool:
        """A consumer left; True when it was the active one (the next one took over)."""
        if consumer is not self.active:
            return False
        self.active = remaining[0] if remaining else None
        return True

    def pick(self) -> "Consumer | None":
        """Only the active consumer is ever picked, when it has credit."""
        active = self.active
        return active if active is not None and active.has_credit() else None
