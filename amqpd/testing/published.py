"""PublishLog: the tap (broker/taps.py) behind a vhost handle's ``published``: each message a
client publishes into the vhost, with the queues it was routed to, copied as it is routed."""

from __future__ import annotations

from typing import Iterable, Sequence

from amqpd.broker import Message, QueueType
from amqpd.testing.messages import PublishedMessage, properties

Seen = tuple[str, str, list[str], bytes, bytes]  # exchange, routing key, queues, raw properties, body


class PublishLog:
    """Kept in the broker's thread; the bytes are copied at once, so a later edit of the message
    (dead-lettering adds x-death) does not show."""

    def __init__(self) -> None:
        self._seen: list[Seen] = []

    def published(self, message: Message, queues: Iterable[QueueType], extra_keys: Sequence[str],
                  connection: str, channel: int, user: str) -> None:
        self._seen.append((message.exchange, message.routing_key, sorted(queue.name for queue in queues),
                           bytes(message.raw_properties), bytes(message.body)))

    def delivered(self, queue: str, message: Message, redelivered: bool, connection: str, channel: int,
                  user: str) -> None:
        """Deliveries are not part of the record."""

    def messages(self) -> list[PublishedMessage]:
        return [PublishedMessage(exchange, key, list(queues), body, properties(raw))
                for exchange, key, queues, raw, body in self._seen]
