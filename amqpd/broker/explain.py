"""Route explanation: the hops a message takes from an exchange to its queues.

A ``RouteTrace`` is handed to ``VirtualHost.route``, which reports each step to it as it routes:
the explanation is made by the code that routes real publishes, so it cannot drift from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Hashable

from amqpd.broker.exchange import Exchange


class Via(enum.Enum):
    """How a hop was taken."""

    BINDING = "binding"  # a binding matched the publish's routing key
    CC = "cc"  # a binding (or the default exchange) matched a CC or BCC header's key
    ALTERNATE_EXCHANGE = "alternate-exchange"  # nothing matched: the exchange's alternate took it
    DEFAULT_EXCHANGE = "default-exchange"  # the default exchange: the queue named by the key


@dataclass(frozen=True)
class Hop:
    """One step: from an exchange to a queue or an exchange."""

    source: Exchange
    destination: Hashable  # a queue or an exchange
    routing_key: str  # the binding's key (or the key the message carried, off the bindings)
    arguments: dict[str, Any]
    via: Via


class RouteTrace:
    """The hops ``VirtualHost.route`` took, in the order it took them."""

    def __init__(self) -> None:
        self.hops: list[Hop] = []

    def matched(self, source: Exchange, message: Any, destinations: Any, extra_key: bool) -> None:
        """`source` routed `message` (or one of its extra-key views) to `destinations`: a hop per
        binding that matched, as the exchange itself decides (Exchange.bindings_matching)."""
        via = Via.CC if extra_key else Via.BINDING
        for destination in destinations:
            for routing_key, arguments in source.bindings_matching(message, destination):
                self.hops.append(Hop(source, destination, routing_key, arguments, via))

    def named(self, source: Exchange, queue: Hashable, routing_key: str, extra_key: bool) -> None:
        """The default exchange delivered to the queue named `routing_key`."""
        self.hops.append(Hop(source, queue, routing_key, {}, Via.CC if extra_key else Via.DEFAULT_EXCHANGE))

    def alternate(self, source: Exchange, alternate: Exchange, routing_key: str) -> None:
        """Nothing matched at `source`: its alternate exchange took the message."""
        self.hops.append(Hop(source, alternate, routing_key, {}, Via.ALTERNATE_EXCHANGE))
