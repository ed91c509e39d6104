"""Publisher confirms of one channel: every publish numbered, acked in order once it is safe.

A publish is safe once routed, or, when it went to a durable queue as a persistent message,
once the store's batch holding it is on disk. Acks go out in publish order, coalesced with
`multiple`; a batch the store failed to write is nacked instead.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from amqpd.protocol import frames

if TYPE_CHECKING:
    from amqpd.session.channel import Channel


class PublisherConfirms:
    def __init__(self, channel: "Channel") -> None:
        self.channel = channel
        self.seq = 0  # publishes so far (the last delivery tag given out)
        self.confirmed = 0  # every publish up to here has been acked or nacked
        self.waiting: deque[tuple[int, int]] = deque()  # (publish seq, store ticket), in order
        self.watched = 0  # the last store ticket a callback is registered for
        self.closed = False

    def published(self, ticket: int) -> None:
        """Count a publish; a non-zero ticket is the store batch its safety waits for."""
        self.seq += 1
        if not ticket:
            return
        self.waiting.append((self.seq, ticket))
        if ticket != self.watched:
            self.watched = ticket
            store = self.channel.connection.node.store
            assert store is not None
            store.when_durable(ticket, lambda ok: self._batch_done(ticket, ok))

    def flush(self) -> None:
        """Ack, in one frame, every publish before the first that still waits for the disk."""
        upto = self.waiting[0][0] - 1 if self.waiting else self.seq
        if upto > self.confirmed:
            self._send(True, upto, upto - self.confirmed > 1)

    def _send(self, ack: bool, tag: int, multiple: bool) -> None:
        self.confirmed = tag
        self.channel.connection.send(frames.confirm_frame(self.channel.number, ack, tag, multiple))

    def _batch_done(self, ticket: int, ok: bool) -> None:
        if self.closed:
            return
        waiting = self.waiting
        while waiting and waiting[0][1] <= ticket:
            seq, batch = waiting[0]
            if not ok and batch == ticket:
                self.flush()
                self._send(False, seq, False)
            waiting.popleft()
        self.flush()
