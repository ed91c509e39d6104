"""BrokerClock: the broker's time as a test moves it (``clock.advance``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amqpd.broker import clock

if TYPE_CHECKING:
    from amqpd.testing.broker import Broker


class BrokerClock:
    """``advance(seconds)`` lets that much time pass at once for everything the broker times:
    message TTL, x-expires, the consumer timeout, stream max-age, the management samples.
    Timers falling due meanwhile fire in deadline order before it returns.

    The time is the process's (amqpd.broker.clock): every vhost of every broker in the process
    shares it, so under pytest the tests of one session (one xdist worker) see each other's
    advances, and deadlines set before an advance come due that much sooner. Heartbeats and
    other network timeouts keep real time."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (ValueError for a negative number)."""
        self._broker.call(lambda: self._broker.node.timers.advance(seconds))

    @property
    def offset(self) -> float:
        """Seconds advanced so far in this process."""
        return clock.skipped()
