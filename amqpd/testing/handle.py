"""VirtualHostHandle: what a test does to its vhost beyond what a client can (look into queues,
restart the broker, block publishers, drop connections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pamqp import header

from amqpd.protocol import errors

if TYPE_CHECKING:
    from amqpd.testing.broker import Broker

BASIC_CLASS = 60
DROP_REASON = "Closed via amqpd.testing"
RESTART_GRACE = 1.0  # seconds clients get to answer Connection.Close 320 at restart()


@dataclass(frozen=True)
class PeekedMessage:
    """A ready message as it sits in its queue; properties holds the set ones under pika's names."""

    body: bytes
    properties: dict[str, Any]
    exchange: str
    routing_key: str
    redelivered: bool


class VirtualHostHandle:
    """One vhost of a Broker. Each call runs in the broker's thread; restart() and the publisher
    block act on the whole broker (every vhost), as the memory alarm and a restart do in RabbitMQ."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.broker = broker
        self.name = name

    @property
    def url(self) -> str:
        return self.broker.url_for(self.name)

    def peek(self, queue: str) -> list[PeekedMessage]:
        """The queue's ready messages in delivery order, nothing taken, reordered or marked
        (the queue's own peek, as the management API's peek route); KeyError for no such queue."""
        def look() -> list[PeekedMessage]:
            found = self.broker.node.vhosts[self.name].queues[queue]
            return [PeekedMessage(bytes(entry.message.body), properties(entry.message.raw_properties),
                                  entry.message.exchange, entry.message.routing_key, entry.redelivered)
                    for entry in found.peek(found.message_count)]

        return self.broker.call(look)

    def restart(self) -> None:
        """Stop the app and start it from the data directory (rabbitmqctl stop_app / start_app):
        clients are closed with 320, durable objects and persistent messages remain."""
        server = self.broker.server

        async def cycle() -> None:
            await server.stop_app(RESTART_GRACE)
            await server.start_app()

        self.broker.call_async(cycle)

    def block_publishers(self) -> None:
        """Raise the memory alarm by hand: a connection that publishes gets Connection.Blocked."""
        self.broker.call(self.broker.server.alarm.hold, "memory", True)

    def unblock_publishers(self) -> None:
        """Clear it: the blocked connections get Connection.Unblocked."""
        self.broker.call(self.broker.server.alarm.hold, "memory", False)

    def drop_connections(self) -> int:
        """Close every client connection of this vhost with 320 CONNECTION_FORCED (as the management
        API's DELETE of a connection); how many there were."""
        def drop() -> int:
            mine = [conn for conn in self.broker.node.connections if conn.vhost is not None
                    and conn.vhost.name == self.name]
            for conn in mine:
                conn.close_with(errors.ConnectionError(errors.CONNECTION_FORCED, DROP_REASON))
            return len(mine)

        return self.broker.call(drop)


def properties(raw: bytes) -> dict[str, Any]:
    """Raw Basic property bytes as a dict of the set ones, under pika's names (``type``, not
    pamqp's ``message_type``)."""
    content = header.ContentHeader()
    content.unmarshal(BASIC_CLASS.to_bytes(2, "big") + bytes(10) + raw)
    flags = int.from_bytes(raw[:2], "big")
    shown = {name: getattr(content.properties, name) for bit, name in enumerate(content.properties.attributes())
             if flags & (0x8000 >> bit)}  # the flag word names the set properties, in this order
    if "message_type" in shown:
        shown["type"] = shown.pop("message_type")
    return shown
