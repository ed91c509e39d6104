"""x-dead-letter-exchange and x-dead-letter-routing-key: where a queue's rejected, expired and
length-limited messages go (the x-death headers are written by broker/deadletter.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amqpd.broker import deadletter
from amqpd.broker.tables import text

if TYPE_CHECKING:
    from amqpd.broker.message import Message
    from amqpd.broker.queue import Queue


class DeadLetter:
    __slots__ = ("exchange", "routing_key")

    def __init__(self, exchange: str, routing_key: str | None) -> None:
        self.exchange = exchange
        self.routing_key = routing_key

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> "DeadLetter | None":
        exchange, routing_key = arguments.get("x-dead-letter-exchange"), arguments.get("x-dead-letter-routing-key")
        if exchange is None:
            return None
        return cls(text(exchange), None if routing_key is None else text(routing_key))

    def publish(self, queue: "Queue", message: "Message", reason: str) -> None:
        """Republish one of the queue's messages to the dead-letter exchange (if it exists)."""
        if queue.vhost is not None:
            deadletter.publish(queue.vhost, queue.name, self.exchange, self.routing_key, message, reason)
