"""wait_until_idle: a vhost is idle when every message routed into it was delivered and settled
or waits in a queue no consumer can take it from, and none of its connections has bytes the
broker has not read or written yet. That must hold at two looks ``POLL`` apart with no byte
moving between them, so a client that acks and then at once publishes (a worker sending its
result) is not caught in between.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable

import sniffio

if TYPE_CHECKING:
    from amqpd.testing.broker import Broker

POLL = 0.002  # seconds between looks


class NotIdle(TimeoutError):
    """wait_until_idle timed out; the message names what was still in flight."""


@dataclass(frozen=True)
class Look:
    """One look at a vhost, taken in the broker's thread."""

    in_flight: tuple[str, ...]  # what is on its way, in words; empty when idle
    traffic: int  # bytes its connections have read and written so far


def look(broker: Broker, vhost: str) -> Look:
    """Run in the broker's thread."""
    found = broker.node.vhosts.get(vhost)
    if found is None:
        return Look((), 0)
    busy = [f"queue {queue.name!r}: {state}" for queue in found.queues.values()
            if (state := queue.unsettled()) is not None]
    for backlog in broker.server.backlogs(vhost):
        if backlog.unread or backlog.unsent:
            busy.append(f"connection {backlog.connection!r}: {backlog.unread} bytes unread, "
                        f"{backlog.unsent} bytes unsent")
    traffic = sum(conn.recv_oct + conn.send_oct for conn in broker.node.connections if conn.vhost is found)
    return Look(tuple(busy), traffic)


class IdleWatch:
    """Successive looks at one vhost until two in a row find it idle with no traffic between."""

    def __init__(self, broker: Broker, vhost: str, timeout: float) -> None:
        self.broker = broker
        self.vhost = vhost
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.last: Look | None = None

    def settled(self) -> bool:
        """Take a look: True when idle; NotIdle once the timeout has passed."""
        seen = self.broker.call(look, self.broker, self.vhost)
        previous, self.last = self.last, seen
        if not seen.in_flight and previous is not None and not previous.in_flight \
                and previous.traffic == seen.traffic:
            return True
        if time.monotonic() >= self.deadline:
            raise NotIdle(f"vhost {self.vhost!r} not idle after {self.timeout:g} s: "
                          + ("; ".join(seen.in_flight) or "bytes still moving on its connections"))
        return False


def wait_until_idle(broker: Broker, vhost: str, timeout: float) -> Awaitable[None] | None:
    """Block until idle; called inside a running asyncio or trio loop, return an awaitable that
    waits without blocking it instead (the test's own clients run on that loop)."""
    watch = IdleWatch(broker, vhost, timeout)
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        while not watch.settled():
            time.sleep(POLL)
        return None
    return _waited(watch)


async def _waited(watch: IdleWatch) -> None:
    import anyio  # only async tests get here; anyio runs on asyncio and trio alike

    while not watch.settled():
        await anyio.sleep(POLL)
