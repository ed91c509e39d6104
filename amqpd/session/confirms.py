"""Publisher confirms of one channel: every publish numbered, acked in order once it is safe.

A publish is safe once routed, or, when it went to a durable queue as a persistent message,
once the store's batch holding it is on disk. Acks go out in publish order, coalesced with
`multiple`; a batch the store failed to write is nacked instead, and so is a publish a queue's
length limit refused (reject-publish), with runs of them coalesced the same way.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from amqpd.broker import ACCEPTED, REJECTED, Enqueued
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
        self.rejected: set[int] = set()  # publishes to nack (refused by a queue), not yet sent
        self.closed = False

    def published(self, result: Enqueued) -> None:
        """Count a publish: a STORED one waits for its store batch, a REJECTED one is nacked."""
        self.seq += 1
        if result is ACCEPTED:
            return
        ticket = result.batch
        if not ticket:
            if result is REJECTED:
                self.rejected.add(self.seq)
            return
        self.waiting.append((self.seq, ticket))
        if ticket != self.watched:
            self.watched = ticket
            store = self.channel.connection.node.store
            assert store is not None
            store.when_durable(ticket, lambda ok: self._batch_done(ticket, ok))

    def flush(self) -> None:
        """Confirm every publish before the first that still waits for the disk: acks in one
        frame; with refused publishes among them, frames as RabbitMQ's channel makes them."""
        upto = self.waiting[0][0] - 1 if self.waiting else self.seq
        if upto <= self.confirmed:
            return
        start, self.confirmed = self.confirmed + 1, upto
        self.channel.stats.confirm += upto - start + 1  # RabbitMQ counts the nacks among them too
        if not self.rejected:
            self._send(True, upto, upto > start)
            return
        nacks = sorted(seq for seq in self.rejected if seq <= upto)
        self.rejected.difference_update(nacks)
        refused = set(nacks)
        acks = [seq for seq in range(start, upto + 1) if seq not in refused]
        if len(acks) == 1:
            self._send(True, acks[0], False)
        elif acks:
            self._coalesce(True, acks, nacks)
        if nacks:
            self._coalesce(False, nacks, acks)

    def _coalesce(self, ack: bool, tags: list[int], others: list[int]) -> None:
        """RabbitMQ's coalesce_and_send: the tags below both the first unconfirmed publish and
        the first tag of the other kind go in one multiple frame, the rest one by one."""
        cutoff = min([self.waiting[0][0] if self.waiting else tags[-1] + 1, *others])
        below = [tag for tag in tags if tag < cutoff]
        if below:
            self._send(ack, below[-1], True)
        for tag in tags[len(below):]:
            self._send(ack, tag, False)

    def _send(self, ack: bool, tag: int, multiple: bool) -> None:
        self.channel.connection.send(frames.confirm_frame(self.channel.number, ack, tag, multiple))

    def close(self) -> None:
        """The channel is gone: batches that become durable from now on confirm nothing."""
        self.closed = True

    def _batch_done(self, ticket: int, ok: bool) -> None:
        if self.closed:
            return
        waiting = self.waiting
        while waiting and waiting[0][1] <= ticket:
            seq, batch = waiting[0]
            if not ok and batch == ticket:
                self.flush()
                self.confirmed = seq
                self._send(False, seq, False)
            waiting.popleft()
        self.flush()
