"""The queue type interface: what the session (and the management plane) may ask of any queue.

The classic queue (broker/queue.py) implements it; stream and quorum queues will implement it
beside it. Outcomes are typed: ``Enqueued`` says what became of a published message, ``Settle``
how a client finished a delivery.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Iterable, Protocol, TypeVar

from amqpd.broker.stats import MessageStats, with_deliveries

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # only mypyc reads the mark (scripts/build-accelerated): interpreted, a no-op
    _C = TypeVar("_C")

    def mypyc_attr(*_attrs: str, **_kwattrs: object) -> Callable[[_C], _C]:
        return lambda cls: cls

if TYPE_CHECKING:
    from amqpd.broker.entry import Entry
    from amqpd.broker.message import Message


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # in the queue (or delivered), nothing to wait for
    STORED = "stored"  # safe once the store's batch ``Enqueued.batch`` is on disk
    DROPPED = "dropped"  # taken, but gone at once (a length limit of 0, a TTL already over)
    REJECTED = "rejected"  # refused by a reject-publish length limit: the publish is nacked


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What ``enqueue`` did with a message (LavinMQ's PublishResult)."""

    outcome: Outcome
    batch: int = 0  # the store batch a STORED message waits on


ACCEPTED = Enqueued(Outcome.ACCEPTED)
DROPPED = Enqueued(Outcome.DROPPED)
REJECTED = Enqueued(Outcome.REJECTED)
_last_stored = Enqueued(Outcome.STORED, 0)


def stored(batch: int) -> Enqueued:
    """STORED in ``batch``; consecutive messages of one batch share one value (no allocation)."""
    global _last_stored
    if _last_stored.batch != batch:
        _last_stored = Enqueued(Outcome.STORED, batch)
    return _last_stored


def combined(results: Iterable[Enqueued]) -> Enqueued:
    """One message's outcome over every queue it reached: refused if any queue refused it,
    else stored in the latest batch any copy waits on, else accepted (dropped if all dropped)."""
    batch, outcome = 0, Outcome.DROPPED
    for result in results:
        if result.outcome is Outcome.REJECTED:
            return REJECTED
        if result.batch > batch:
            batch = result.batch
        if result.outcome is not Outcome.DROPPED:
            outcome = Outcome.ACCEPTED
    if batch:
        return stored(batch)
    return DROPPED if outcome is Outcome.DROPPED else ACCEPTED


@dataclass(frozen=True)
class ReadySummary:
    """A queue's ready messages as the management API's memory fields count them (counted when
    read, in one walk): those whose bodies are in memory, those paged out to the store (bodies on
    disk), the persistent ones among them (stored: persistent messages in a durable queue), the
    next one if its body is in memory (for head_message_timestamp), and the first and last id
    paged out (RabbitMQ's ``delta``)."""

    in_memory: int
    in_memory_bytes: int
    paged_out: int
    paged_out_bytes: int
    persistent: int
    persistent_bytes: int
    head: "Message | None"
    paged_ids: tuple[int, int] | None


class Settle(enum.Enum):
    """How a client finished a held delivery."""

    ACK = "ack"  # acked: gone for good
    REQUEUE = "requeue"  # back to its original position, marked redelivered
    RELEASE = "release"  # its channel or connection went away: requeued (a quorum queue counts it apart)
    DROP = "drop"  # rejected without requeue: gone, and dead-lettered where configured


class Consumer(Protocol):
    """What a queue needs from a consumer (the session layer implements it)."""

    tag: str
    priority: int
    exclusive: bool
    no_ack: bool
    delivered: int  # messages it was given (broker/stats.py reads it)

    def has_credit(self) -> bool: ...

    def deliver(self, queue: "QueueType", entry: "Entry") -> None: ...

    def cancel_by_server(self) -> None: ...


@mypyc_attr(allow_interpreted_subclasses=True)  # the stream queue stays interpreted
class QueueType(ABC):
    """A queue as the session and the management plane see it, whatever its type."""

    name: str
    vhost_name: str
    durable: bool
    auto_delete: bool
    exclusive_owner: Hashable | None
    arguments: dict[str, Any]  # as declared (redeclare equivalence, the store)
    consumers: list[Consumer]
    unacked_count: int  # messages delivered and awaiting their ack
    deleted: bool
    stats: MessageStats  # its message counts (broker/stats.py), counted by the session
    supports_global_qos: ClassVar[bool] = True  # Basic.Consume with a global prefetch: quorum queues refuse it
    kind: ClassVar[str] = "classic"  # its x-queue-type, as the management API and Prometheus name the type

    @property
    def exclusive(self) -> bool:
        return self.exclusive_owner is not None

    @property
    @abstractmethod
    def message_count(self) -> int:
        """Messages ready for delivery (what Declare-Ok and Get-Ok report)."""

    @property
    def consumer_count(self) -> int:
        return len(self.consumers)

    def unsettled(self) -> str | None:
        """What of its messages is still on its way, in words (amqpd.testing's wait_until_idle);
        None once each was settled or waits with no consumer able to take it."""
        parts = []
        if self.unacked_count:
            parts.append(f"{self.unacked_count} unacknowledged")
        if self.message_count and any(consumer.has_credit() for consumer in self.consumers):
            parts.append(f"{self.message_count} ready with {len(self.consumers)} consumer(s)")
        return ", ".join(parts) or None

    @property
    def declare_counts(self) -> tuple[int, int]:
        """The message and consumer counts Queue.Declare-Ok reports."""
        return self.message_count, len(self.consumers)

    def message_stats(self) -> MessageStats:
        """Its message counts (what the management API and Prometheus report), read now."""
        return with_deliveries(self.stats, self.consumers)

    @abstractmethod
    def message_bytes_ready(self) -> int:
        """Body bytes of the ready messages in memory, counted when read (the management API's
        message_bytes_ready; never kept per message)."""

    @abstractmethod
    def ready_summary(self) -> ReadySummary:
        """Its ready messages by where their bodies are (management API; never per message)."""

    @abstractmethod
    def enqueue(self, message: "Message") -> Enqueued: ...

    @abstractmethod
    def take(self) -> "Entry | None":
        """Remove the next ready message (for a consumer), or None."""

    def get(self) -> "Entry | None":
        """Remove the next ready message as Basic.Get delivers it, or None."""
        return self.take()

    @abstractmethod
    def peek(self, count: int) -> "list[Entry]":
        """The first ``count`` ready messages in delivery order, left as they are: nothing taken,
        reordered, marked redelivered or read into the queue's memory (the message browser)."""

    @abstractmethod
    def hold(self, entry: "Entry") -> None:
        """A delivered message now awaits its ack."""

    @abstractmethod
    def forget(self, entry: "Entry") -> None:
        """A delivered message needs no ack (no_ack): it leaves the queue."""

    @abstractmethod
    def settle(self, entries: list["Entry"], how: Settle) -> None:
        """Finish held deliveries (ack, requeue or drop), then dispatch again."""

    def check_consume(self, no_ack: bool, prefetch: int, arguments: dict[str, Any] | None) -> None:
        """Refuse a Basic.Consume before it is answered (stream queues have rules of their own)."""

    def subscribe(self, consumer: Consumer, arguments: dict[str, Any] | None) -> None:
        """Attach a consumer with its Basic.Consume arguments (a stream reads x-stream-offset)."""
        self.add_consumer(consumer)

    def check_reject(self) -> None:
        """Refuse Basic.Nack / Basic.Reject of its deliveries (stream queues do)."""

    @abstractmethod
    def add_consumer(self, consumer: Consumer) -> None: ...

    @abstractmethod
    def remove_consumer(self, consumer: Consumer) -> None: ...

    @abstractmethod
    def has_exclusive_consumer(self) -> bool: ...

    @property
    @abstractmethod
    def single_active_consumer(self) -> bool:
        """Whether consumers take turns as one active consumer (x-single-active-consumer)."""

    @property
    @abstractmethod
    def unused_auto_delete(self) -> bool:
        """An auto-delete queue that had a consumer and lost the last one: it goes now."""

    @abstractmethod
    def dispatch(self) -> None:
        """Offer ready messages to consumers with credit (after credit came back)."""

    @abstractmethod
    def touch(self) -> None:
        """The queue was used (declare, Basic.Get): x-expires counts again from now."""

    @abstractmethod
    def purge(self) -> int:
        """Drop every ready message; returns how many."""

    @abstractmethod
    def delete(self) -> int:
        """The queue is gone: drop its messages, stop its timers, cancel its consumers."""

    @abstractmethod
    def apply_arguments(self, effective: dict[str, Any]) -> None:
        """Recompute the queue's features from effective arguments (declared ones and a
        policy's) and attach, change or remove them on the live queue, messages kept."""
