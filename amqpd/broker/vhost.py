"""A virtual host: its exchanges, queues and bindings, and the rules RabbitMQ enforces on them.

Every method here is synchronous and raises ChannelError / ConnectionError with RabbitMQ's
reply code and text; the session layer adds the offending method's ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable, Iterable, Sequence

from amqpd.broker import arguments
from amqpd.broker.cc import KeyView
from amqpd.broker.exchange import EXCHANGE_TYPES, Exchange
from amqpd.broker.explain import RouteTrace
from amqpd.broker.memory import MemoryLedger
from amqpd.broker.message import Message
from amqpd.broker.names import random_name
from amqpd.broker.policies import Effective, Policies, Policy, PolicyKind
from amqpd.broker.queue import Queue
from amqpd.broker.queue_type import QueueType
from amqpd.broker.quorum import QuorumQueue
from amqpd.broker.referable import WeaklyReferable
from amqpd.broker.routing import validate_x_match
from amqpd.broker.stats import Churn, MessageStats
from amqpd.broker.stream import StreamQueue
from amqpd.broker.taps import Tap, joined
from amqpd.broker.timers import Timers
from amqpd.broker.trace import Tracer
from amqpd.protocol import ChannelError, errors

if TYPE_CHECKING:
    from amqpd.store import Store

DEFAULT_EXCHANGES = (
    ("amq.direct", "direct", False),
    ("amq.fanout", "fanout", False),
    ("amq.topic", "topic", False),
    ("amq.headers", "headers", False),
    ("amq.match", "headers", False),
    ("amq.rabbitmq.trace", "topic", True),
)
DEFAULT_EXCHANGE_REFUSED = "operation not permitted on the default exchange"
QUEUE_CLASSES: dict[str, type[Queue]] = {"quorum": QuorumQueue}  # by x-queue-type; the rest are classic


def _bool(value: bool) -> str:
    return "true" if value else "false"


class VirtualHost(WeaklyReferable):
    """Topology of one vhost and message routing through it.

    With a store, durable exchanges and queues, bindings between durable things, and the
    persistent messages of durable queues are written to it as they change.
    """

    def __init__(self, name: str, store: "Store | None" = None, queue_window: int = 2048,
                 timers: Timers | None = None, memory: MemoryLedger | None = None) -> None:
        self.name = name
        self.timers = timers if timers is not None else Timers()
        self.memory = memory if memory is not None else MemoryLedger()  # the node's, shared by its queues
        self.store = store
        self.queue_window = queue_window
        self.exchanges: dict[str, Exchange] = {}
        self.queues: dict[str, QueueType] = {}
        self.policies = Policies()
        self.stats = MessageStats()  # the counts of its channels that have closed (live ones add theirs when read)
        self.churn = Churn()
        self.retired_queue_stats: dict[str, MessageStats] = {}  # counts of its deleted queues, by queue type
        self.tracer: Tracer | None = None  # the firehose, while tracing is on (broker/trace.py)
        self.tap: Tap | None = None  # what listens to its message flow (broker/taps.py)
        self._taps: list[Tap] = []
        self.closed_octets = (0, 0)  # bytes received and sent by its connections that have closed
        self.default_exchange = EXCHANGE_TYPES["direct"]("", durable=True)
        self.exchanges[""] = self.default_exchange
        for name_, kind, internal in DEFAULT_EXCHANGES:
            self.exchanges[name_] = EXCHANGE_TYPES[kind](name_, durable=True, internal=internal)

    def trace(self, on: bool, node_name: str) -> None:
        """Turn the firehose on or off (rabbitmqctl trace_on / trace_off)."""
        if on and self.tracer is None:
            self.tracer = Tracer(self, node_name)
            self.attach(self.tracer)
        elif not on and self.tracer is not None:
            self.detach(self.tracer)
            self.tracer = None

    def attach(self, tap: Tap) -> None:
        """Let a tap hear every publish into this vhost and every delivery from it."""
        self._taps.append(tap)
        self.tap = joined(self._taps)

    def detach(self, tap: Tap) -> None:
        self._taps.remove(tap)
        self.tap = joined(self._taps)

    def connection_gone(self, recv_oct: int, send_oct: int) -> None:
        """A connection to it closed: its byte counts stay in the vhost's, as a closed channel's
        message counts do (RabbitMQ's vhost recv_oct / send_oct count closed connections)."""
        recv, send = self.closed_octets
        self.closed_octets = (recv + recv_oct, send + send_oct)

    def _rs(self, kind: str, name: str) -> str:
        """RabbitMQ's resource name in texts: exchange 'x' in vhost '/'."""
        return f"{kind} '{name}' in vhost '{self.name}'"

    # -- lookups ---------------------------------------------------------------------------

    def exchange(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise ChannelError(errors.NOT_FOUND, f"no {self._rs('exchange', name)}")
        return exchange

    def queue(self, name: str, owner: Hashable | None = None) -> QueueType:
        """A queue by name; an exclusive queue only for the connection that owns it."""
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelError(errors.NOT_FOUND, f"no {self._rs('queue', name)}")
        self._check_exclusive(queue, owner)
        return queue

    def _check_exclusive(self, queue: QueueType, owner: Hashable | None) -> None:
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            self._locked(queue.name)

    def _locked(self, name: str) -> None:
        raise ChannelError(
            errors.RESOURCE_LOCKED,
            f"cannot obtain exclusive access to locked {self._rs('queue', name)}. "
            "It could be originally declared on another connection or the exclusive property "
            "value does not match that of the original declaration.",
        )

    # -- exchanges ---------------------------------------------------------------------------

    def declare_exchange(
        self,
        name: str,
        kind: str,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        args: dict[str, Any] | None = None,
    ) -> Exchange:
        """Exchange.Declare. A non-passive declare checks the type first (an unknown type is a
        connection error, even for an existing exchange); a passive one only the name."""
        args = args or {}
        if not passive and kind not in EXCHANGE_TYPES:
            detail = f"unknown exchange type '{kind}'" if kind else "invalid exchange type ''"
            raise errors.ConnectionError(errors.COMMAND_INVALID, detail)
        if not name:
            raise ChannelError(errors.ACCESS_REFUSED, DEFAULT_EXCHANGE_REFUSED)
        if passive:
            return self.exchange(name)
        existing = self.exchanges.get(name)
        if existing is None and name.startswith("amq."):
            raise ChannelError(
                errors.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
            )
        rs = self._rs("exchange", name)
        if existing is not None:
            for field, current, received in (
                ("type", existing.kind, kind),
                ("durable", _bool(existing.durable), _bool(durable)),
                ("auto_delete", _bool(existing.auto_delete), _bool(auto_delete)),
                ("internal", _bool(existing.internal), _bool(internal)),
            ):
                if current != received:
                    raise ChannelError(
                        errors.PRECONDITION_FAILED,
                        f"inequivalent arg '{field}' for {rs}: received '{received}' but current is '{current}'",
                    )
            arguments.check_equivalent(arguments.EXCHANGE_COMPARED, existing.arguments, args, rs)
            return existing
        arguments.validate_exchange(args, rs)
        exchange = EXCHANGE_TYPES[kind](name, durable, auto_delete, internal, args)
        if durable and self.store is not None:  # stored before it exists: a failure leaves nothing
            self.store.save_exchange(self.name, name, exchange.kind, auto_delete, internal, args)
        self.exchanges[name] = exchange
        return exchange

    def delete_exchange(self, name: str, if_unused: bool = False) -> None:
        """Exchange.Delete; deleting a missing exchange succeeds (RabbitMQ 3.10)."""
        if not name:
            raise ChannelError(errors.ACCESS_REFUSED, DEFAULT_EXCHANGE_REFUSED)
        if name.startswith("amq."):
            raise ChannelError(
                errors.ACCESS_REFUSED, f"deletion of system {self._rs('exchange', name)} not allowed"
            )
        exchange = self.exchanges.get(name)
        if exchange is None:
            return
        if if_unused and exchange.bindings:
            raise ChannelError(errors.PRECONDITION_FAILED, f"{self._rs('exchange', name)} in use")
        self._remove_exchange(exchange)

    def _remove_exchange(self, exchange: Exchange) -> None:
        self.exchanges.pop(exchange.name, None)
        if exchange.durable and self.store is not None:
            self.store.delete_exchange(self.name, exchange.name)
        for other in list(self.exchanges.values()):
            if other.unbind_all(exchange):
                self._maybe_auto_delete_exchange(other)
        exchange.bindings.clear()

    def _maybe_auto_delete_exchange(self, exchange: Exchange) -> None:
        if exchange.auto_delete and not exchange.bindings and exchange.name in self.exchanges:
            self._remove_exchange(exchange)

    # -- queues ---------------------------------------------------------------------------

    @staticmethod
    def check_queue_name(name: str) -> None:
        """A client may not name a queue amq.*."""
        if name.startswith("amq."):
            raise ChannelError(errors.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'")

    def declare_queue(
        self,
        name: str,
        owner: Hashable,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        args: dict[str, Any] | None = None,
        server_named: bool = False,
    ) -> QueueType:
        """Queue.Declare. An exclusive queue is never durable, whatever the client asks.
        `server_named`: the name was generated for the client (it may start with amq.)."""
        args = args or {}
        if passive:
            queue = self.queue(name, owner)
            queue.touch()
            return queue
        self.churn.queue_declared += 1
        server_named = server_named or not name
        if not name:
            name = random_name("amq.gen-")
        elif not server_named:
            self.check_queue_name(name)
        durable = durable and not exclusive
        rs = self._rs("queue", name)
        existing = self.queues.get(name)
        if existing is not None:
            if existing.exclusive_owner is not (owner if exclusive else None):
                self._locked(name)
            for field, current, received in (
                ("durable", existing.durable, durable),
                ("auto_delete", existing.auto_delete, auto_delete),
            ):
                if current != received:
                    raise ChannelError(
                        errors.PRECONDITION_FAILED,
                        f"inequivalent arg '{field}' for {rs}: received '{_bool(received)}' "
                        f"but current is '{_bool(current)}'",
                    )
            arguments.check_queue_equivalent(existing.arguments, args, rs)
            existing.touch()
            return existing
        arguments.validate_queue(args, durable, exclusive, auto_delete, rs, server_named)
        return self.new_queue(name, durable, owner if exclusive else None, auto_delete, args, save=True)

    def new_queue(self, name: str, durable: bool, owner: Hashable | None, auto_delete: bool,
                  args: dict[str, Any], save: bool = False) -> QueueType:
        """Add a queue object (durable ones get the store, to keep their persistent messages).

        With save, a durable queue is written to the store before it is added, so a failure
        there leaves no queue that acknowledges messages the store will never hold.
        """
        store = self.store if durable else None
        queue: Queue | StreamQueue
        kind = arguments.queue_type(args)
        if store is not None and kind == "stream":  # without a store (sans-IO) a classic queue
            queue = StreamQueue(name, self.name, args, store, self)
        else:
            queue = QUEUE_CLASSES.get(kind, Queue)(
                name, self.name, durable, owner, auto_delete, args, store, self.queue_window, self)
        if save and store is not None:
            queue.store_id = store.save_queue(self.name, name, auto_delete, args)
        self.queues[name] = queue
        if self.policies:
            effective = self.policies.effective(name, args).arguments
            if effective != args:
                queue.apply_arguments(effective)
        self.churn.queue_created += 1
        return queue

    # -- policies: applied to every queue they change at once, never looked at per message -----

    def effective_policy(self, queue: QueueType) -> Effective:
        return self.policies.effective(queue.name, queue.arguments)

    def exchange_policy(self, name: str) -> str | None:
        """The name of the policy that applies to an exchange (shown as its `policy`)."""
        policy = self.policies.match(PolicyKind.POLICY, name, False)
        return None if policy is None else policy.name

    def put_policy(self, kind: PolicyKind, policy: Policy) -> bool:
        """Add or replace a policy and apply it to the queues it changes; whether it was new."""
        created = self.policies.get(kind, policy.name) is None
        self._repolicy(kind, policy.name, policy)
        return created

    def delete_policy(self, kind: PolicyKind, name: str) -> bool:
        """Remove a policy; the queues it gave arguments lose them (their own arguments stay)."""
        if self.policies.get(kind, name) is None:
            return False
        self._repolicy(kind, name, None)
        return True

    def _repolicy(self, kind: PolicyKind, name: str, policy: Policy | None) -> None:
        """Set (or, with None, remove) a policy; each queue whose effective arguments change gets them."""
        before = {queue: self.effective_policy(queue).arguments for queue in self.queues.values()}
        self.policies.put(kind, name, policy)
        for queue, arguments in before.items():
            effective = self.effective_policy(queue).arguments
            if effective != arguments:
                queue.apply_arguments(effective)

    def purge_queue(self, name: str, owner: Hashable) -> int:
        """Queue.Purge: drops the ready messages (not the unacked ones); returns how many."""
        return self.queue(name, owner).purge()

    def delete_queue(self, name: str, owner: Hashable, if_unused: bool = False, if_empty: bool = False) -> int:
        """Queue.Delete; deleting a missing queue succeeds with a count of 0 (RabbitMQ 3.10).

        if_empty is checked first and counts ready messages only (unacked ones do not make a
        queue "not empty"), then if_unused.
        """
        queue = self.queues.get(name)
        if queue is None:
            return 0
        self._check_exclusive(queue, owner)
        if if_empty and queue.message_count:
            raise ChannelError(errors.PRECONDITION_FAILED, f"{self._rs('queue', name)} not empty")
        if if_unused and queue.consumers:
            raise ChannelError(errors.PRECONDITION_FAILED, f"{self._rs('queue', name)} in use")
        return self.remove_queue(queue)

    def remove_queue(self, queue: QueueType) -> int:
        """Delete a queue: unbind it, cancel its consumers, drop its messages; returns the count."""
        if self.queues.get(queue.name) is not queue:
            return 0
        del self.queues[queue.name]
        self.churn.queue_deleted += 1
        store_id = queue.store_id  # type: ignore[attr-defined]  # a classic queue's attribute, a stream's property
        if store_id is not None:
            self.store.delete_queue(store_id, self.name, queue.name)  # type: ignore[union-attr]
        count = queue.delete()
        self.retired_queue_stats.setdefault(queue.kind, MessageStats()).add(queue.message_stats())
        for exchange in list(self.exchanges.values()):
            if exchange.unbind_all(queue):
                self._maybe_auto_delete_exchange(exchange)
        return count

    # -- bindings ---------------------------------------------------------------------------
    # RabbitMQ refuses the default exchange on either side before looking anything up; a bind
    # then needs the source, then the destination; an unbind of anything missing succeeds.

    def bind_queue(self, queue_name: str, owner: Hashable, source_name: str, routing_key: str,
                   args: dict[str, Any]) -> None:
        self._refuse_default(source_name)
        source = self.exchange(source_name)
        self._bind(source, self.queue(queue_name, owner), routing_key, args)

    def unbind_queue(self, queue_name: str, owner: Hashable, source_name: str, routing_key: str,
                     args: dict[str, Any]) -> None:
        self._refuse_default(source_name)
        source, queue = self.exchanges.get(source_name), self.queues.get(queue_name)
        if source is None or queue is None or not source.has_binding(queue, routing_key, args):
            return
        self._check_exclusive(queue, owner)  # only an existing binding is guarded
        self._unbind(source, queue, routing_key, args)

    def bind_exchange(self, destination_name: str, source_name: str, routing_key: str, args: dict[str, Any]) -> None:
        self._refuse_default(source_name, destination_name)
        source = self.exchange(source_name)
        self._bind(source, self.exchange(destination_name), routing_key, args)

    def unbind_exchange(self, destination_name: str, source_name: str, routing_key: str, args: dict[str, Any]) -> None:
        self._refuse_default(source_name, destination_name)
        source, destination = self.exchanges.get(source_name), self.exchanges.get(destination_name)
        if source is not None and destination is not None:
            self._unbind(source, destination, routing_key, args)

    def _refuse_default(self, *names: str) -> None:
        if not all(names):
            raise ChannelError(errors.ACCESS_REFUSED, DEFAULT_EXCHANGE_REFUSED)

    def _bind(self, source: Exchange, destination: QueueType | Exchange, routing_key: str, args: dict[str, Any]) -> None:
        if source.kind == "headers":
            problem = validate_x_match(args)
            if problem:
                raise ChannelError(errors.PRECONDITION_FAILED, problem)
        if source.has_binding(destination, routing_key, args):
            return
        if self._durable_binding(source, destination):  # stored first: a failure leaves nothing
            self.store.save_binding(self.name, source.name, not isinstance(destination, Exchange),  # type: ignore[union-attr]
                                    destination.name, routing_key, args)
        source.bind(destination, routing_key, args)

    def _unbind(self, source: Exchange, destination: QueueType | Exchange, routing_key: str, args: dict[str, Any]) -> None:
        if not source.has_binding(destination, routing_key, args):
            return
        if self._durable_binding(source, destination):
            self.store.delete_binding(self.name, source.name, not isinstance(destination, Exchange),  # type: ignore[union-attr]
                                      destination.name, routing_key, args)
        source.unbind(destination, routing_key, args)
        self._maybe_auto_delete_exchange(source)

    def _durable_binding(self, source: Exchange, destination: QueueType | Exchange) -> bool:
        """RabbitMQ keeps a binding across restarts when both of its ends are durable."""
        return self.store is not None and source.durable and destination.durable

    # -- routing ---------------------------------------------------------------------------

    def route(self, exchange: Exchange, message: Message, extra_keys: Sequence[str] = (),
              trace: RouteTrace | None = None) -> set[QueueType]:
        """Every queue a message reaches, following exchange-to-exchange bindings once each.

        With extra routing keys (CC, BCC) each exchange routes on all of them, and its
        alternate exchange takes the message only when none of them matched there. A trace
        is told every hop (a route explanation; publishes pass none).
        """
        views: tuple[Message | KeyView, ...] = (
            (message, *(KeyView(message, key) for key in extra_keys)) if extra_keys else ())
        if exchange is self.default_exchange:
            if views or trace is not None:
                return self._route_named(exchange, views or (message,), trace)
            queue = self.queues.get(message.routing_key)
            return {queue} if queue is not None else set()
        queues: set[QueueType] = set()
        destinations: Iterable[Any]
        seen = {exchange}
        pending = [exchange]
        while pending:
            source = pending.pop()
            if trace is not None:
                destinations = self._route_traced(source, views or (message,), trace)
            else:
                destinations = source.route(message) if not extra_keys else {
                    dest for view in views for dest in source.route(view)}  # type: ignore[arg-type]
            if not destinations:
                alternate = self.exchanges.get(self._alternate_of(source))
                destinations = (alternate,) if alternate is not None and alternate.name else ()
                if trace is not None and alternate is not None and alternate.name:
                    trace.alternate(source, alternate, message.routing_key)
            for dest in destinations:
                if not isinstance(dest, Exchange):
                    queues.add(dest)  # type: ignore[arg-type]  # an exchange routes to queues and exchanges
                elif dest not in seen:
                    seen.add(dest)
                    pending.append(dest)
        return queues

    def _route_named(self, exchange: Exchange, views: Sequence[Message | KeyView],
                     trace: RouteTrace | None) -> set[QueueType]:
        """The default exchange: the queues named by each routing key."""
        found = set()
        for view in views:
            queue = self.queues.get(view.routing_key)
            if queue is not None:
                found.add(queue)
                if trace is not None:
                    trace.named(exchange, queue, view.routing_key, view is not views[0])
        return found

    @staticmethod
    def _route_traced(source: Exchange, views: Sequence[Message | KeyView], trace: RouteTrace) -> set[Any]:
        """One exchange's destinations, each view routed and reported to the trace."""
        destinations: set[Any] = set()
        for view in views:
            found = source.route(view)  # type: ignore[arg-type]
            trace.matched(source, view, found, view is not views[0])
            destinations.update(found)
        return destinations

    def _alternate_of(self, exchange: Exchange) -> str:
        """An exchange's alternate: its argument, else its policy's (looked up only for unroutable messages)."""
        name = exchange.arguments.get("alternate-exchange")
        if name is None and self.policies:
            name = self.policies.alternate_exchange(exchange.name)
        return name or ""
