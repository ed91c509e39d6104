"""The quorum queue, on a single node, as RabbitMQ 3.10.8 behaves (checked on the real broker).

It is the classic queue (broker/queue.py) with these differences:

- every message is stored, whatever its delivery mode (the queue is always durable);
- returns are counted per message (features/delivery_limit.py): a message returned more often
  than x-delivery-limit is dropped or dead-lettered with reason ``delivery_limit``;
- the count is shown as the x-delivery-count header: on every Basic.Get-Ok (0 included), on a
  Basic.Deliver only once it is above 0; the stored message never carries it (a dead-lettered
  copy neither);
- a message requeued by Nack / Reject / Recover goes to the back of the queue when there is no
  delivery limit and to the front when there is one; messages returned because their channel
  or connection closed go to the front, in delivery order;
- Basic.Consume on a channel with a global prefetch (Basic.Qos global=true, count above 0) is
  refused with 540 (session/basic.py asks ``supports_global_qos``);
- length limits: reject-publish refuses only once the queue is over the limit (one over is
  admitted) and reject-publish-dlx acts as drop-head (features/max_length.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable

from amqpd.broker import clock, headers
from amqpd.broker.entry import Entry
from amqpd.broker.features.delivery_limit import DeliveryLimit
from amqpd.broker.message import Message
from amqpd.broker.queue import Queue
from amqpd.broker.queue_type import Settle

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost
    from amqpd.store import Store

DELIVERY_COUNT = b"x-delivery-count"


class QuorumQueue(Queue):
    """A quorum queue: the classic queue's ready messages and dispatch, with counted returns."""

    supports_global_qos = False
    kind = "quorum"

    def __init__(self, name: str, vhost_name: str, durable: bool = False, exclusive_owner: Hashable | None = None,
                 auto_delete: bool = False, arguments: dict[str, Any] | None = None, store: Store | None = None,
                 window: int = 2048, vhost: VirtualHost | None = None) -> None:  # spelled out: mypyc cannot forward *args
        super().__init__(name, vhost_name, durable, exclusive_owner, auto_delete, arguments, store, window, vhost)
        self.delivery = DeliveryLimit(DeliveryLimit.limit_of(self.arguments))
        # deliveries shown with the x-delivery-count header -> the queue's own entries, by message id
        self._shown: dict[int, Entry] = {}

    def __repr__(self) -> str:
        return f"<QuorumQueue {self.name!r} in {self.vhost_name!r}>"

    def _stores(self, message: Message) -> bool:
        return self.store_id is not None and not self.deleted

    def restore(self, stored_messages: list[tuple[int, int]]) -> None:
        """Recovered messages with their counts: the store counts deliveries, and each delivery
        before the restart ended in a return (the restart returned those still unacknowledged)."""
        for seq, deliveries in stored_messages:
            if deliveries:
                self.delivery.restored(seq, deliveries)
        super().restore(stored_messages)

    def take(self) -> Entry | None:
        """The next message for a consumer: with the header once it has been returned."""
        entry = super().take()
        if entry is None or not self.delivery.count(entry.seq):
            return entry
        return self._with_count(entry)

    def get(self) -> Entry | None:
        """The next message for Basic.Get: always with the header."""
        entry = super().take()
        return None if entry is None else self._with_count(entry)

    def _with_count(self, entry: Entry) -> Entry:
        """The delivery of an entry: its message with x-delivery-count set (a copy; the stored
        message stays as published)."""
        message = entry.message
        props = headers.Properties(message.raw_properties)
        props.headers = headers.set_field(props.headers, DELIVERY_COUNT, headers.long(self.delivery.count(entry.seq)))
        shown = Message(message.exchange, message.routing_key, props.encode(), message.body,
                        2 if message.persistent else 1, message.priority, message.expiration, message.id)
        self._shown[message.id] = entry
        return Entry(shown, entry.redelivered, entry.expires)

    def _own(self, entry: Entry) -> Entry:
        """The queue's entry for a delivery (the same one unless it was shown with the header)."""
        return self._shown.pop(entry.seq, entry)

    def forget(self, entry: Entry) -> None:
        entry = self._own(entry)
        self.delivery.forget(entry.seq)
        super().forget(entry)

    def settle(self, entries: list[Entry], how: Settle) -> None:
        """ACK and DROP as the classic queue; a return is counted, and what is over the delivery
        limit leaves (reason delivery_limit) while the rest go to the front or the back."""
        entries = [self._own(entry) for entry in entries]
        if how is Settle.ACK or how is Settle.DROP or self.deleted:
            super().settle(entries, how)
            return
        self.unacked_count -= len(entries)
        kept = []
        for entry in entries:
            if self.delivery.returned(entry.seq):
                self.discard(entry, "delivery_limit")
            else:
                kept.append(entry)
        if kept:
            self._return(kept, front=how is Settle.RELEASE or self.delivery.limit is not None)
        self.dispatch()

    def _return(self, entries: list[Entry], front: bool) -> None:
        for entry in entries:
            entry.redelivered = True
        self.in_memory += len(entries)
        if front:
            self.ready.extendleft(reversed(entries))
        else:
            self.ready.extend(entries)
        if self.features is not None:
            self.ready_bytes += sum(entry.message.size for entry in entries)
            self._trim(clock.now())

    def apply_arguments(self, effective: dict[str, Any]) -> None:
        """The classic queue's features, and the delivery limit (argument or policy, the lower)."""
        self.delivery.limit = DeliveryLimit.limit_of(effective)
        super().apply_arguments(effective)

    def delete(self) -> int:
        count = super().delete()
        self.delivery.clear()
        self._shown.clear()
        return count
