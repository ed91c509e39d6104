"""Exchanges: named routers from a message to the queues and exchanges bound to them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, Hashable, Iterable

from amqpd.broker.message import Message
from amqpd.broker.referable import WeaklyReferable
from amqpd.broker.routing import DirectIndex, HeadersIndex, TopicTrie
from amqpd.broker.stats import MessageStats
from amqpd.broker.tables import freeze

if TYPE_CHECKING:
    from amqpd.broker.cc import KeyView  # a message routed on one of its CC/BCC keys

BindingKey = tuple[Hashable, str, Any]  # destination, routing key, frozen arguments


class Exchange(WeaklyReferable):
    """Common state of every exchange type; subclasses supply the routing index."""

    kind: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = internal
        self.arguments = arguments or {}
        self.bindings: dict[BindingKey, dict[str, Any]] = {}
        self.stats = MessageStats()  # publish_in / publish_out

    def bind(self, destination: Hashable, routing_key: str, arguments: dict[str, Any]) -> bool:
        """Add a binding; False when the same binding already existed."""
        key = (destination, routing_key, freeze(arguments))
        if key in self.bindings:
            return False
        self.bindings[key] = arguments
        self._index_add(key, arguments)
        return True

    def has_binding(self, destination: Hashable, routing_key: str, arguments: dict[str, Any]) -> bool:
        return (destination, routing_key, freeze(arguments)) in self.bindings

    def unbind(self, destination: Hashable, routing_key: str, arguments: dict[str, Any]) -> bool:
        """Remove a binding; False when there was none."""
        key = (destination, routing_key, freeze(arguments))
        if key not in self.bindings:
            return False
        del self.bindings[key]
        self._index_remove(key)
        return True

    def unbind_all(self, destination: Hashable) -> int:
        """Drop every binding to a destination (it is being deleted); returns how many."""
        doomed = [key for key in self.bindings if key[0] is destination]
        for key in doomed:
            del self.bindings[key]
            self._index_remove(key)
        return len(doomed)

    def route(self, message: Message | KeyView) -> Iterable[Hashable]:
        raise NotImplementedError

    def bindings_matching(self, message: Any, destination: Hashable) -> list[tuple[str, dict[str, Any]]]:
        """Routing key and arguments of each binding to `destination` that `message` matches: each
        tried alone in a new exchange of this type, so ``route`` decides (route explanations only)."""
        found = []
        for (bound, routing_key, _), arguments in self.bindings.items():
            if bound is destination:
                probe = type(self)(self.name)
                probe.bind(destination, routing_key, arguments)
                if destination in probe.route(message):
                    found.append((routing_key, arguments))
        return found

    def _index_add(self, key: BindingKey, arguments: dict[str, Any]) -> None:
        pass

    def _index_remove(self, key: BindingKey) -> None:
        """`key` is the stored key object where there is one (unbind_all), so a lookup by it
        never compares deep argument tables."""
        pass


class KeyedExchange(Exchange):
    """Direct and topic: an index from routing key (or pattern) to destinations.

    The same destination and key may be bound twice with different arguments; a reference
    count keeps it in the index until the last such binding goes.
    """

    def __init__(self, name: str, durable: bool = False, auto_delete: bool = False, internal: bool = False,
                 arguments: dict[str, Any] | None = None) -> None:  # spelled out: mypyc cannot forward *args
        super().__init__(name, durable, auto_delete, internal, arguments)
        self._refs: Counter[tuple[Hashable, str]] = Counter()
        self._index: DirectIndex | TopicTrie = self._new_index()

    def _new_index(self) -> DirectIndex | TopicTrie:
        raise NotImplementedError

    def _index_add(self, key: BindingKey, arguments: dict[str, Any]) -> None:
        destination, routing_key = key[0], key[1]
        self._refs[(destination, routing_key)] += 1
        if self._refs[(destination, routing_key)] == 1:
            self._index.add(routing_key, destination)

    def _index_remove(self, key: BindingKey) -> None:
        destination, routing_key = key[0], key[1]
        self._refs[(destination, routing_key)] -= 1
        if self._refs[(destination, routing_key)] <= 0:
            del self._refs[(destination, routing_key)]
            self._index.remove(routing_key, destination)

    def route(self, message: Message | KeyView) -> Iterable[Hashable]:
        return self._index.match(message.routing_key)


class DirectExchange(KeyedExchange):
    kind = "direct"

    def _new_index(self) -> DirectIndex:
        return DirectIndex()


class TopicExchange(KeyedExchange):
    kind = "topic"

    def _new_index(self) -> TopicTrie:
        return TopicTrie()


class FanoutExchange(Exchange):
    kind = "fanout"

    def route(self, message: Message | KeyView) -> Iterable[Hashable]:
        return {dest for dest, _, _ in self.bindings}


class HeadersExchange(Exchange):
    """Bindings in a HeadersIndex: a publish checks the bindings its headers can match, not all."""

    kind = "headers"

    def __init__(self, name: str, durable: bool = False, auto_delete: bool = False, internal: bool = False,
                 arguments: dict[str, Any] | None = None) -> None:  # spelled out: mypyc cannot forward *args
        super().__init__(name, durable, auto_delete, internal, arguments)
        self._index: HeadersIndex[Hashable] = HeadersIndex()

    def _index_add(self, key: BindingKey, arguments: dict[str, Any]) -> None:
        self._index.add(key, key[0], arguments)

    def _index_remove(self, key: BindingKey) -> None:
        self._index.remove(key)

    def route(self, message: Message | KeyView) -> Iterable[Hashable]:
        if not self.bindings:
            return ()
        return self._index.match(message.headers)


EXCHANGE_TYPES: dict[str, type[Exchange]] = {
    cls.kind: cls for cls in (DirectExchange, FanoutExchange, TopicExchange, HeadersExchange)
}
