"""A virtual host: its exchanges, queues and bindings, and the rules RabbitMQ enforces on them.

Every method here is synchronous and raises ChannelError / ConnectionError with RabbitMQ's
reply code and text; the session layer adds the offending method's ids.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Hashable

from amqpd.broker import arguments
from amqpd.broker.exchange import EXCHANGE_TYPES, Exchange
from amqpd.broker.message import Message
from amqpd.broker.queue import Queue
from amqpd.broker.routing import validate_x_match
from amqpd.protocol import errors
from amqpd.protocol.errors import ChannelError

DEFAULT_EXCHANGES = (
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def server_named_queue() -> str:
    """RabbitMQ's form: amq.gen- and 22 characters of URL-safe base64 randomness."""
    return "amq.gen-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class VirtualHost:
    """Topology of one vhost and message routing through it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.exchanges: dict[str, Exchange] = {}
        self.queues: dict[str, Queue] = {}
        self.default_exchange = EXCHANGE_TYPES["direct"]("", durable=True)
        self.exchanges[""] = self.default_exchange
        for name_, kind in DEFAULT_EXCHANGES:
            self.exchanges[name_] = EXCHANGE_TYPES[kind](name_, durable=True)

    # -- lookups ---------------------------------------------------------------------------

    def exchange(self, name: str) -> Exchange:
        exchange = self.exchanges.get(name)
        if exchange is None:
            raise ChannelError(errors.NOT_FOUND, f"no exchange '{name}' in vhost '{self.name}'")
        return exchange

    def queue(self, name: str, owner: Hashable | None = None) -> Queue:
        """A queue by name; an exclusive queue only for the connection that owns it."""
        queue = self.queues.get(name)
        if queue is None:
            raise ChannelError(errors.NOT_FOUND, f"no queue '{name}' in vhost '{self.name}'")
        if queue.exclusive_owner is not None and queue.exclusive_owner is not owner:
            raise ChannelError(
                errors.RESOURCE_LOCKED,
                f"cannot obtain exclusive access to locked queue '{name}' in vhost '{self.name}'. "
                "It could be originally declared on another connection or the exclusive property "
                "value does not match that of the original declaration.",
            )
        return queue

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
        args = args or {}
        if passive:
            if not name:
                return self.default_exchange
            return self.exchange(name)
        if name.startswith("amq.") and name not in self.exchanges:
            raise ChannelError(
                errors.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
            )
        if not name:
            raise ChannelError(errors.ACCESS_REFUSED, "operation not permitted on the default exchange")
        existing = self.exchanges.get(name)
        if existing is not None:
            self._check_exchange_equivalence(existing, kind, durable, auto_delete, internal, args)
            return existing
        cls = EXCHANGE_TYPES.get(kind)
        if cls is None:
            raise errors.ConnectionError(errors.COMMAND_INVALID, f"unknown exchange type '{kind}'")
        exchange = cls(name, durable, auto_delete, internal, args)
        self.exchanges[name] = exchange
        return exchange

    def _check_exchange_equivalence(
        self, exchange: Exchange, kind: str, durable: bool, auto_delete: bool, internal: bool,
        args: dict[str, Any],
    ) -> None:
        where = f"for exchange '{exchange.name}' in vhost '{self.name}'"
        for field, current, received in (
            ("type", exchange.kind, kind),
            ("durable", _bool(exchange.durable), _bool(durable)),
            ("auto_delete", _bool(exchange.auto_delete), _bool(auto_delete)),
            ("internal", _bool(exchange.internal), _bool(internal)),
        ):
            if current != received:
                raise ChannelError(
                    errors.PRECONDITION_FAILED,
                    f"inequivalent arg '{field}' {where}: received '{received}' but current is '{current}'",
                )
        arguments.check_equivalent(arguments.EXCHANGE_COMPARED, exchange.arguments, args, where)

    def delete_exchange(self, name: str, if_unused: bool = False) -> None:
        if not name or name.startswith("amq."):
            self._refuse_reserved_exchange(name)
        exchange = self.exchange(name)
        if if_unused and exchange.bindings:
            raise ChannelError(
                errors.PRECONDITION_FAILED, f"exchange '{name}' in vhost '{self.name}' in use"
            )
        self._remove_exchange(exchange)

    def _refuse_reserved_exchange(self, name: str) -> None:
        if not name:
            raise ChannelError(errors.ACCESS_REFUSED, "operation not permitted on the default exchange")
        raise ChannelError(
            errors.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'"
        )

    def _remove_exchange(self, exchange: Exchange) -> None:
        self.exchanges.pop(exchange.name, None)
        for other in list(self.exchanges.values()):
            if other.unbind_all(exchange):
                self._maybe_auto_delete_exchange(other)
        exchange.bindings.clear()

    def _maybe_auto_delete_exchange(self, exchange: Exchange) -> None:
        if exchange.auto_delete and not exchange.bindings and exchange.name in self.exchanges:
            self._remove_exchange(exchange)

    # -- queues ---------------------------------------------------------------------------

    def declare_queue(
        self,
        name: str,
        owner: Hashable,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        args: dict[str, Any] | None = None,
    ) -> Queue:
        args = args or {}
        if passive:
            return self.queue(name, owner)
        if not name:
            name = server_named_queue()
        elif name.startswith("amq."):
            raise ChannelError(
                errors.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'"
            )
        where = f"for queue '{name}' in vhost '{self.name}'"
        existing = self.queues.get(name)
        if existing is not None:
            self.queue(name, owner)  # exclusivity check
            if exclusive and existing.exclusive_owner is None:
                self.queue(name, object())  # RESOURCE_LOCKED, as RabbitMQ answers
            for field, current, received in (
                ("durable", existing.durable, durable),
                ("auto_delete", existing.auto_delete, auto_delete),
            ):
                if current != received:
                    raise ChannelError(
                        errors.PRECONDITION_FAILED,
                        f"inequivalent arg '{field}' {where}: received '{_bool(received)}' "
                        f"but current is '{_bool(current)}'",
                    )
            arguments.check_equivalent(arguments.QUEUE_COMPARED, existing.arguments, args, where)
            return existing
        arguments.validate_queue_arguments(args, where)
        queue = Queue(name, self.name, durable, owner if exclusive else None, auto_delete, args)
        self.queues[name] = queue
        return queue

    def delete_queue(self, name: str, owner: Hashable, if_unused: bool = False, if_empty: bool = False) -> int:
        queue = self.queue(name, owner)
        if if_unused and queue.consumers:
            raise ChannelError(errors.PRECONDITION_FAILED, f"queue '{name}' in vhost '{self.name}' in use")
        if if_empty and queue.ready:
            raise ChannelError(errors.PRECONDITION_FAILED, f"queue '{name}' in vhost '{self.name}' not empty")
        return self.remove_queue(queue)

    def remove_queue(self, queue: Queue) -> int:
        """Delete a queue: unbind it, cancel its consumers, drop its messages; returns the count."""
        if self.queues.get(queue.name) is not queue:
            return 0
        del self.queues[queue.name]
        queue.deleted = True
        count = queue.purge()
        for consumer in list(queue.consumers):
            consumer.cancel_by_server()
        queue.consumers.clear()
        for exchange in list(self.exchanges.values()):
            if exchange.unbind_all(queue):
                self._maybe_auto_delete_exchange(exchange)
        return count

    # -- bindings ---------------------------------------------------------------------------

    def bind(self, destination: Queue | Exchange, source_name: str, routing_key: str, args: dict[str, Any]) -> None:
        if not source_name:
            raise ChannelError(errors.ACCESS_REFUSED, "operation not permitted on the default exchange")
        source = self.exchange(source_name)
        if source.kind == "headers":
            problem = validate_x_match(args)
            if problem:
                raise ChannelError(errors.PRECONDITION_FAILED, problem)
        source.bind(destination, routing_key, args)

    def unbind(self, destination: Queue | Exchange, source_name: str, routing_key: str, args: dict[str, Any]) -> None:
        if not source_name:
            raise ChannelError(errors.ACCESS_REFUSED, "operation not permitted on the default exchange")
        source = self.exchange(source_name)
        if source.unbind(destination, routing_key, args):
            self._maybe_auto_delete_exchange(source)

    # -- routing ---------------------------------------------------------------------------

    def route(self, exchange: Exchange, message: Message) -> set[Queue]:
        """Every queue a message reaches, following exchange-to-exchange bindings once each."""
        if exchange is self.default_exchange:
            queue = self.queues.get(message.routing_key)
            return {queue} if queue is not None else set()
        queues: set[Queue] = set()
        seen = {exchange}
        pending = [exchange]
        while pending:
            source = pending.pop()
            destinations = source.route(message)
            if not destinations:
                alternate = self.exchanges.get(source.arguments.get("alternate-exchange", ""))
                destinations = (alternate,) if alternate is not None and alternate.name else ()
            for dest in destinations:
                if isinstance(dest, Queue):
                    queues.add(dest)
                elif dest not in seen:
                    seen.add(dest)
                    pending.append(dest)
        return queues
