"""The stream queue (x-queue-type: stream) over AMQP 0-9-1, as RabbitMQ 3.10 serves it.

Messages go to the stream's log (log.py), never to a queue in memory; they are readable once the
store's batch that carries their chunk is on disk, which is also when their confirms go out.
Every consumer reads the whole log from where its x-stream-offset put it, a chunk at a time
while it has credit (its prefetch: a chunk is delivered whole, as RabbitMQ does); acks only
return credit. Get, purge, nack, reject and no-ack consumers are RabbitMQ's 540s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from amqpd.broker import clock
from amqpd.broker.entry import Entry
from amqpd.broker.headers import Properties, long, set_field
from amqpd.broker.message import Message
from amqpd.broker.queue_type import Consumer, Enqueued, QueueType, ReadySummary, Settle, stored
from amqpd.broker.stats import MessageStats
from amqpd.broker.stream.log import DEFAULT_SEGMENT_BYTES, Retention, Sealed, StreamLog, StreamRecord
from amqpd.broker.stream.offsets import Anchor, OffsetSpec, Since, interval_seconds, offset_spec
from amqpd.broker.tables import text
from amqpd.protocol import ChannelError, errors

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost
    from amqpd.store import Store

_OFFSET_KEY = b"x-stream-offset"


def _now_ms() -> int:
    return int(clock.wall() * 1000)


def retention_of(arguments: dict[str, Any]) -> Retention:
    """A stream's retention from its effective arguments (declared, or a policy's)."""
    age = arguments.get("x-max-age")
    seconds = interval_seconds(text(age)) if age is not None else None
    return Retention(arguments.get("x-max-length-bytes"), None if seconds is None else seconds * 1000,
                     arguments.get("x-stream-max-segment-size-bytes", DEFAULT_SEGMENT_BYTES))


class StreamQueue(QueueType):
    """A durable stream in a vhost. Its log lives under ``<data dir>/streams/<store id>/``,
    opened when the queue gets its store id (declared or recovered)."""

    kind = "stream"

    def __init__(self, name: str, vhost_name: str, arguments: dict[str, Any], store: "Store",
                 vhost: "VirtualHost | None" = None) -> None:
        self.name = name
        self.vhost_name = vhost_name
        self.durable = True
        self.exclusive_owner = None
        self.auto_delete = False
        self.arguments = arguments
        self.consumers: list[Consumer] = []
        self.unacked_count = 0
        self.deleted = False
        self.stats = MessageStats()
        self.store = store
        self.vhost = vhost
        self.log: StreamLog | None = None
        self._store_id: int | None = None
        self._sealed: Sealed | None = None  # the chunks of the batch being written
        self._retention = retention_of(arguments)
        self._positions: dict[Consumer, int] = {}  # the next offset each consumer reads
        self._cached: tuple[int, list[StreamRecord]] = (-1, [])  # the last chunk read, by its first offset

    def __repr__(self) -> str:
        return f"<StreamQueue {self.name!r} in {self.vhost_name!r}>"

    @property
    def store_id(self) -> int | None:
        return self._store_id

    @store_id.setter
    def store_id(self, value: int) -> None:
        """The id the store keeps the queue under names its log's directory."""
        self._store_id = value
        self.log = StreamLog(Path(self.store.data_dir) / "streams" / str(value), self._retention)

    def _rs(self) -> str:
        return f"queue '{self.name}' in vhost '{self.vhost_name}'"

    def _unsupported(self, what: str) -> errors.ConnectionError:
        return errors.ConnectionError(errors.NOT_IMPLEMENTED, f"{what} not supported by stream queues {self._rs()}")

    # -- counts ------------------------------------------------------------------------------------

    @property
    def message_count(self) -> int:
        """The messages retention keeps in the log (the management API's messages and
        messages_ready; RabbitMQ shows them a stats interval late, amqpd at once)."""
        return 0 if self.log is None else self.log.next - self.log.first

    @property
    def declare_counts(self) -> tuple[int, int]:
        """RabbitMQ's Declare-Ok for a stream counts its messages but never its consumers."""
        return self.message_count, 0

    def message_bytes_ready(self) -> int:
        return 0

    def ready_summary(self) -> ReadySummary:
        return ReadySummary(0, 0, 0, 0, 0, 0, None, None)

    # -- publishing: the store's batch carries the chunk and its fsync -----------------------------

    def enqueue(self, message: Message) -> Enqueued:
        assert self.log is not None
        self.log.append(message.exchange, message.routing_key, message.raw_properties, message.body)
        return stored(self.store.journal(self))

    def seal(self) -> Callable[[], None]:
        """The store takes a batch: the pending messages become chunks written on its thread."""
        assert self.log is not None
        sealed = self.log.seal(_now_ms())
        self._sealed = sealed
        return sealed.write

    def written(self, ok: bool) -> None:
        """The batch is on disk (or failed): consumers may read the new chunks."""
        if self.log is not None and self._sealed is not None:
            self.log.written(self._sealed, ok, _now_ms())
        if ok and not self.deleted:
            self.dispatch()

    # -- consuming ---------------------------------------------------------------------------------

    def check_consume(self, no_ack: bool, prefetch: int, arguments: dict[str, Any] | None) -> None:
        if no_ack:
            raise self._unsupported("automatic acknowledgement")
        if not prefetch:
            raise ChannelError(errors.PRECONDITION_FAILED, f"consumer prefetch count is not set for '{self._rs()}'")
        offset_spec(arguments)

    def subscribe(self, consumer: Consumer, arguments: dict[str, Any] | None) -> None:
        self._positions[consumer] = self._start(offset_spec(arguments))
        self.add_consumer(consumer)

    def _start(self, spec: OffsetSpec) -> int:
        log = self.log
        assert log is not None
        if spec is Anchor.FIRST:
            return log.first
        if spec is Anchor.LAST:
            return log.last_chunk_offset()
        if spec is Anchor.NEXT:
            return log.next
        if isinstance(spec, Since):
            return log.offset_at(spec.millis)
        return min(max(spec, log.first), log.next)

    def add_consumer(self, consumer: Consumer) -> None:
        self._positions.setdefault(consumer, self.log.next if self.log is not None else 0)
        self.consumers.append(consumer)
        self.dispatch()

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self.consumers:
            self.consumers.remove(consumer)
        self._positions.pop(consumer, None)

    def has_exclusive_consumer(self) -> bool:
        return any(c.exclusive for c in self.consumers)

    @property
    def single_active_consumer(self) -> bool:
        return False

    @property
    def unused_auto_delete(self) -> bool:
        return False

    def dispatch(self) -> None:
        """Each consumer with credit gets the rest of the chunk at its position, chunk by chunk."""
        log = self.log
        if log is None:
            return
        for consumer in list(self.consumers):
            position = self._positions.get(consumer)
            while position is not None and position < log.next and consumer.has_credit():
                position = max(position, log.first)  # retention may have dropped what it was at
                records = self._chunk(position)
                if not records:
                    break
                for record in records:
                    if record[0] >= position:
                        consumer.deliver(self, self._entry(record))
                position = records[-1][0] + 1
                if consumer in self._positions:
                    self._positions[consumer] = position

    def unsettled(self) -> str | None:
        """Unacknowledged deliveries, and consumers with credit not yet at the end of the log."""
        log = self.log
        behind = sum(1 for consumer, position in self._positions.items()
                     if log is not None and position < log.next and consumer.has_credit())
        parts = [f"{self.unacked_count} unacknowledged"] if self.unacked_count else []
        if behind:
            parts.append(f"{behind} consumer(s) behind the end of the stream")
        return ", ".join(parts) or None

    def _chunk(self, offset: int) -> list[StreamRecord]:
        first, records = self._cached
        if records and first <= offset <= records[-1][0]:
            return records
        assert self.log is not None
        records = self.log.read_chunk(offset)
        if records:
            self._cached = (records[0][0], records)
        return records

    @staticmethod
    def _entry(record: StreamRecord) -> Entry:
        """A delivery of a stream message: its headers gain x-stream-offset (a long)."""
        offset, exchange, routing_key, raw_properties, body = record
        properties = Properties(raw_properties)
        properties.headers = set_field(properties.headers, _OFFSET_KEY, long(offset))
        return Entry(Message.restore(offset, exchange, routing_key, properties.encode(), body))

    def hold(self, entry: Entry) -> None:
        """Its consumer's credit counts it; the stream does not (unacked_count stays 0: a
        delivered message is still in the log, counted in message_count)."""

    def forget(self, entry: Entry) -> None:
        """Nothing leaves a stream when it is delivered."""

    def settle(self, entries: list[Entry], how: Settle) -> None:
        """Acks (and the requeue of a closing channel) only give credit back."""
        self.dispatch()

    def check_reject(self) -> None:
        raise self._unsupported("basic.nack and basic.reject")

    # -- what a stream refuses ---------------------------------------------------------------------

    def take(self) -> Entry | None:
        raise self._unsupported("basic.get")

    def peek(self, count: int) -> list[Entry]:
        return []

    def purge(self) -> int:
        raise self._unsupported("queue.purge")

    # -- lifetime ----------------------------------------------------------------------------------

    def touch(self) -> None:
        """Streams have no x-expires."""

    def delete(self) -> int:
        """The stream is gone: its consumers are cancelled and its files removed; Delete-Ok says 0."""
        self.deleted = True
        for consumer in list(self.consumers):
            consumer.cancel_by_server()
        self.consumers.clear()
        self._positions.clear()
        if self.log is not None:
            self.log.destroy()
        return 0

    def apply_arguments(self, effective: dict[str, Any]) -> None:
        """A policy's max-age / max-length-bytes: the new retention applies at once."""
        self._retention = retention_of(effective)
        if self.log is not None:
            self.log.retention = self._retention
            self.log.apply_retention(_now_ms())

    def restore(self, stored_messages: list[tuple[int, bool]]) -> None:
        """Start-up (recovery.py): a stream's messages are in its log, none in the store's rows."""
