"""VirtualHostHandle: what a test does to its vhost beyond what a client can (look into queues
and at what was published, wait for the traffic to settle, move time, restart the broker, block
publishers, drop connections)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable

from amqpd.protocol import errors
from amqpd.testing import idle
from amqpd.testing.clock import BrokerClock
from amqpd.testing.messages import PeekedMessage, PublishedMessage, properties
from amqpd.testing.published import PublishLog

if TYPE_CHECKING:
    from amqpd.broker import VirtualHost
    from amqpd.testing.broker import Broker

DROP_REASON = "Closed via amqpd.testing"
RESTART_GRACE = 1.0  # seconds clients get to answer Connection.Close 320 at restart()


class VirtualHostHandle:
    """One vhost of a Broker. Each call runs in the broker's thread; restart(), the clock and the
    publisher block act on the whole broker (every vhost), as a restart, time and the memory
    alarm do in RabbitMQ.

    What was published is recorded from the moment the handle first finds the vhost (made with
    it by ``Broker.add_vhost``, or existing when the handle was made)."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.broker = broker
        self.name = name
        self.clock = BrokerClock(broker)
        self._log = PublishLog()
        self._watching: VirtualHost | None = None
        broker.call(self._watch)

    @property
    def url(self) -> str:
        return self.broker.url_for(self.name)

    def _watch(self) -> None:
        """Attach the publish log to the vhost (again after a restart made a new one)."""
        found = self.broker.node.vhosts.get(self.name)
        if found is not None and found is not self._watching:
            found.attach(self._log)
            self._watching = found

    def forget(self) -> None:
        """Stop recording (the vhost is being deleted)."""
        def detach() -> None:
            if self._watching is not None and self.broker.node.vhosts.get(self.name) is self._watching:
                self._watching.detach(self._log)
            self._watching = None

        self.broker.call(detach)

    def peek(self, queue: str) -> list[PeekedMessage]:
        """The queue's ready messages in delivery order, nothing taken, reordered or marked
        (the queue's own peek, as the management API's peek route); KeyError for no such queue."""
        def look() -> list[PeekedMessage]:
            found = self.broker.node.vhosts[self.name].queues[queue]
            return [PeekedMessage(bytes(entry.message.body), properties(entry.message.raw_properties),
                                  entry.message.exchange, entry.message.routing_key, entry.redelivered)
                    for entry in found.peek(found.message_count)]

        return self.broker.call(look)

    @property
    def published(self) -> list[PublishedMessage]:
        """Every message a client published into the vhost, in order, with the queues it was
        routed to (``[]`` when unroutable); a transaction's messages appear at its commit."""
        def read() -> list[PublishedMessage]:
            self._watch()
            return self._log.messages()

        return self.broker.call(read)

    def wait_until_idle(self, timeout: float = 5.0) -> Awaitable[None] | None:
        """Return once every message routed into the vhost was delivered and settled or waits in
        a queue without a consumer to take it, and nothing sent by or to its connections waits
        in the broker; NotIdle (a TimeoutError) naming what is still in flight after ``timeout``
        seconds. Inside an async test (asyncio or trio) ``await`` it: it then waits without
        blocking the loop the test's clients run on."""
        return idle.wait_until_idle(self.broker, self.name, timeout)

    def restart(self) -> None:
        """Stop the app and start it from the data directory (rabbitmqctl stop_app / start_app):
        clients are closed with 320, durable objects and persistent messages remain."""
        server = self.broker.server

        async def cycle() -> None:
            await server.stop_app(RESTART_GRACE)
            await server.start_app()

        self.broker.call_async(cycle)
        self.broker.call(self._watch)

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
