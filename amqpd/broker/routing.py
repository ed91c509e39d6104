"""Matching logic of the direct, topic and headers exchange types.

Pure and synchronous: no I/O, no locking.  The structures are generic over
the bound target (a queue or an exchange; anything hashable) so that the
exchange layer decides what a binding points at and this module only decides
*which* bindings a message matches, the way RabbitMQ 3.10 does.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Collection, Hashable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from amqpd.broker.tables import erl_term, field_type

__all__ = [
    "DirectIndex",
    "HeadersIndex",
    "TopicTrie",
    "X_MATCH_VALUES",
    "headers_match",
    "split_topic",
    "validate_x_match",
]

T = TypeVar("T", bound=Hashable)
_NOTHING: frozenset[Any] = frozenset()

# ---------------------------------------------------------------------------
# Direct exchange
# ---------------------------------------------------------------------------


class DirectIndex(Generic[T]):
    """Routing key -> targets, for exact-match (direct) routing.

    A dict of sets keeps routing O(1) per message however many bindings exist;
    empty entries are dropped so deleted queues leave nothing behind.
    """

    __slots__ = ("_by_key", "_count")

    def __init__(self) -> None:
        self._by_key: dict[str, set[T]] = {}
        self._count = 0

    def add(self, routing_key: str, target: T) -> None:
        """Bind ``target`` under ``routing_key``; re-adding is a no-op (AMQP binds are idempotent)."""
        targets = self._by_key.setdefault(routing_key, set())
        if target not in targets:
            targets.add(target)
            self._count += 1

    def remove(self, routing_key: str, target: T) -> None:
        """Unbind; unknown bindings are ignored so callers need not check first."""
        targets = self._by_key.get(routing_key)
        if targets is None or target not in targets:
            return
        targets.discard(target)
        self._count -= 1
        if not targets:
            del self._by_key[routing_key]

    def match(self, routing_key: str) -> Collection[T]:
        """Targets bound with exactly ``routing_key``: the index's own set, to read, not to
        change (no copy per message: routing runs once per publish)."""
        return self._by_key.get(routing_key, _NOTHING)

    def is_empty(self) -> bool:
        return self._count == 0

    def __len__(self) -> int:
        """Number of (routing key, target) bindings."""
        return self._count

    def __contains__(self, binding: object) -> bool:
        """``(routing_key, target) in index``; lets the caller detect duplicate binds cheaply."""
        if not isinstance(binding, tuple) or len(binding) != 2:
            return False
        targets = self._by_key.get(binding[0])
        return targets is not None and binding[1] in targets


# ---------------------------------------------------------------------------
# Topic exchange
# ---------------------------------------------------------------------------


def split_topic(key: str) -> list[str]:
    """Split a routing key or binding pattern into words the way RabbitMQ does.

    The empty string has zero words (so ``*`` cannot match it but ``#`` can);
    otherwise every '.' separates words, and empty words are real words
    ("a..b" has three words, the middle one empty).
    """
    return key.split(".") if key else []


class _Node(Generic[T]):
    """One trie node; identity-hashed so (node, index) pairs can be memoised."""

    __slots__ = ("children", "targets", "is_hash")

    def __init__(self, is_hash: bool = False) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.targets: set[T] = set()
        # True when the edge leading here is '#': such a node may also absorb
        # any number of further words while staying in place.
        self.is_hash = is_hash

    def is_prunable(self) -> bool:
        return not self.targets and not self.children


TOPIC_CACHE_SIZE = 1024  # routing keys whose matches a trie remembers (module level: mypyc compiles it)


class TopicTrie(Generic[T]):
    """Topic bindings stored as a trie of pattern words.

    Matching walks the trie once per message rather than testing every pattern
    (or compiling regexes), so cost grows with the key length and the number of
    distinct pattern prefixes, not with the number of bindings.  A memo of
    visited (node, word index) pairs bounds the walk to O(nodes x words) even
    for patterns like "#.#.#.#", which would be exponential with naive
    backtracking.  Results per routing key are cached (bounded) because real
    workloads publish the same few keys over and over.
    """

    __slots__ = ("_root", "_count", "_cache", "_cache_size")

    def __init__(self, cache_size: int = TOPIC_CACHE_SIZE) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0
        self._cache: dict[str, frozenset[T]] = {}
        self._cache_size = max(0, cache_size)

    # -- mutation ----------------------------------------------------------

    def add(self, pattern: str, target: T) -> None:
        """Bind ``target`` with the topic ``pattern``; re-adding is a no-op."""
        node = self._root
        for word in split_topic(pattern):
            child = node.children.get(word)
            if child is None:
                child = _Node(is_hash=(word == "#"))
                node.children[word] = child
            node = child
        if target not in node.targets:
            node.targets.add(target)
            self._count += 1
        self._cache.clear()

    def remove(self, pattern: str, target: T) -> None:
        """Unbind and prune nodes left with neither targets nor children.

        Pruning keeps the trie (and so match cost) proportional to the live
        bindings; unknown bindings are ignored.
        """
        self._cache.clear()
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        for word in split_topic(pattern):
            child = node.children.get(word)
            if child is None:
                return
            path.append((node, word))
            node = child
        if target not in node.targets:
            return
        node.targets.discard(target)
        self._count -= 1
        for parent, word in reversed(path):
            child = parent.children[word]
            if not child.is_prunable():
                break
            del parent.children[word]

    # -- queries -----------------------------------------------------------

    def match(self, routing_key: str) -> Collection[T]:
        """Targets whose pattern matches ``routing_key`` (a cached frozenset)."""
        cached = self._cache.get(routing_key)
        if cached is None:
            cached = frozenset(self._walk(split_topic(routing_key)))
            if self._cache_size:
                if len(self._cache) >= self._cache_size:
                    # Evict the oldest entry (dicts keep insertion order).
                    del self._cache[next(iter(self._cache))]
                self._cache[routing_key] = cached
        return cached

    def _walk(self, words: list[str]) -> set[T]:
        result: set[T] = set()
        if self._count == 0:
            return result
        n = len(words)
        seen: set[tuple[_Node[T], int]] = set()
        stack: list[tuple[_Node[T], int]] = [(self._root, 0)]
        while stack:
            state = stack.pop()
            if state in seen:
                continue
            seen.add(state)
            node, i = state
            children = node.children
            # '#' may match zero words: its node is reachable without consuming.
            hash_child = children.get("#")
            if hash_child is not None:
                stack.append((hash_child, i))
            if i == n:
                result |= node.targets
                continue
            # A '#' node may swallow the current word and stay where it is.
            if node.is_hash:
                stack.append((node, i + 1))
            star_child = children.get("*")
            if star_child is not None:
                stack.append((star_child, i + 1))
            word = words[i]
            # Literal "*" / "#" words in a key are already covered by the
            # wildcard edges above (RabbitMQ yields the same set).
            if word != "*" and word != "#":
                literal = children.get(word)
                if literal is not None:
                    stack.append((literal, i + 1))
        return result

    def is_empty(self) -> bool:
        return self._count == 0

    def __len__(self) -> int:
        """Number of (pattern, target) bindings."""
        return self._count

    def __iter__(self) -> Iterator[tuple[str, T]]:
        """All (pattern, target) bindings, e.g. for listing or teardown."""
        stack: list[tuple[_Node[T], list[str]]] = [(self._root, [])]
        while stack:
            node, words = stack.pop()
            pattern = ".".join(words)
            for target in node.targets:
                yield pattern, target
            for word, child in node.children.items():
                stack.append((child, words + [word]))


# ---------------------------------------------------------------------------
# Headers exchange
# ---------------------------------------------------------------------------

X_MATCH_VALUES = ("all", "any", "all-with-x", "any-with-x")


def _x_match_mode(binding_args: Mapping[str, Any]) -> str:
    """The effective x-match mode; anything unrecognised means "all".

    RabbitMQ treats invalid values as "all" for bindings created before it
    validated them, so routing never fails on a bad x-match.
    """
    value = binding_args.get("x-match")
    if isinstance(value, bytes):  # a non-UTF-8 longstr decodes to bytes
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value in X_MATCH_VALUES:
        return value
    return "all"


def headers_match(binding_args: Mapping[str, Any], headers: Mapping[str, Any] | None) -> bool:
    """Does a message with ``headers`` match a headers-exchange binding?

    Mirrors rabbit_exchange_type_headers: "x-match" itself never takes part;
    other "x-" arguments only do for the "-with-x" modes; a void (None)
    argument only requires the header to be present.  "all" with no
    relevant arguments matches everything, "any" with none matches nothing.
    """
    mode = _x_match_mode(binding_args)
    want_all = mode in ("all", "all-with-x")
    with_x = mode in ("all-with-x", "any-with-x")
    data: Mapping[str, Any] = headers or {}
    for name, expected in binding_args.items():
        if name == "x-match" or (not with_x and name.startswith("x-")):
            continue
        ok = name in data and (expected is None or _field_equal(expected, data[name], top=True))
        if ok and not want_all:
            return True
        if not ok and want_all:
            return False
    return want_all


def _value_key(value: Any) -> Hashable:
    """A key equal for any two values that headers_match takes as equal at the top level.

    Only a necessary condition (values with equal keys may still differ, e.g. tables with the
    same keys): the index narrows bindings down with it and headers_match decides. Numbers
    share a key by value (1 matches 1.0 at the top level), strings and byte arrays by their
    bytes, booleans stay apart from numbers.
    """
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        try:
            return ("n", float(value))
        except OverflowError:  # an int beyond any float equals no float
            return ("n", value)
    binary = _as_binary(value)
    if binary is not None:
        return ("s", binary)
    if isinstance(value, Mapping):
        return ("F", frozenset(value.keys()))
    if isinstance(value, (list, tuple)):
        return ("A", len(value))
    if isinstance(value, (decimal.Decimal, datetime.datetime)):
        return (type(value).__name__, value)
    return ("?", type(value).__name__)


_ALWAYS: tuple[Hashable, ...] = ()  # "all" bindings with no pair: they match every message
_UNINDEXED: tuple[Hashable, ...] = (None, None, None)  # bindings whose values give no key: always checked


def _filed_under(binding_args: Mapping[str, Any]) -> list[tuple[Hashable, ...]]:
    """The buckets of a headers binding: (name,) / (name, value key) for the pairs a matching
    message must show (one of them for "all", each for "any"), _ALWAYS, _UNINDEXED, or none
    (an "any" binding without pairs matches nothing)."""
    mode = _x_match_mode(binding_args)
    with_x = mode in ("all-with-x", "any-with-x")
    pairs = [(name, expected) for name, expected in binding_args.items()
             if name != "x-match" and (with_x or not name.startswith("x-"))]
    want_all = mode in ("all", "all-with-x")
    if not pairs:
        return [_ALWAYS] if want_all else []
    if want_all:
        # every pair must hold, so one suffices; a valued one narrows more than a presence test
        pairs = [next(((n, v) for n, v in pairs if v is not None), pairs[0])]
    keys: list[tuple[Hashable, ...]] = [(name,) if expected is None else (name, _value_key(expected)) for name, expected in pairs]
    try:
        for key in keys:
            hash(key)
    except TypeError:  # a value with no usable key
        return [_UNINDEXED]
    return keys


class HeadersIndex(Generic[T]):
    """Headers-exchange bindings indexed by the header pairs that can make them match.

    A binding is filed where a message that matches it must show up: an x-match=all binding
    under one of its pairs (every pair must hold, so that one must), an x-match=any binding
    under each of its pairs; a pair with a void value (only presence required) under its name
    alone. An "all" binding with no pairs matches every message; an "any" binding with none
    matches nothing and is not filed. Routing looks up each of the message's headers and
    checks only the bindings found with headers_match, so its cost follows the message's
    headers and the bindings that share them, not the number of bindings.
    """

    __slots__ = ("_entries", "_buckets")

    def __init__(self) -> None:
        # binding -> (target, its arguments, the buckets it is filed under: removal takes it out
        # of those, not of recomputed ones, which a NaN value would not equal when compiled)
        self._entries: dict[Hashable, tuple[T, Mapping[str, Any], list[tuple[Hashable, ...]]]] = {}
        # (name,): bindings that need that header present; (name, value key): that value too;
        # plus the two special buckets _ALWAYS and _UNINDEXED
        self._buckets: dict[tuple[Hashable, ...], set[Hashable]] = {}

    def add(self, binding: Hashable, target: T, binding_args: Mapping[str, Any]) -> None:
        """File a binding (``binding`` identifies it; re-adding is a no-op)."""
        if binding in self._entries:
            return
        keys = _filed_under(binding_args)
        self._entries[binding] = (target, binding_args, keys)
        for key in keys:
            self._buckets.setdefault(key, set()).add(binding)

    def remove(self, binding: Hashable) -> None:
        """Unfile a binding; unknown ones are ignored. Emptied buckets go."""
        entry = self._entries.pop(binding, None)
        if entry is None:
            return
        for key in entry[2]:
            bucket = self._buckets[key]
            bucket.discard(binding)
            if not bucket:
                del self._buckets[key]

    def match(self, headers: Mapping[str, Any] | None) -> set[T]:
        """Targets of the bindings a message with these headers matches."""
        entries, buckets = self._entries, self._buckets
        found = {entries[b][0] for b in buckets.get(_ALWAYS, ())}
        candidates = set(buckets.get(_UNINDEXED, ()))
        if headers:
            for name, value in headers.items():
                present = buckets.get((name,))
                if present:
                    candidates |= present
                try:
                    valued = buckets.get((name, _value_key(value)))
                except TypeError:  # an unhashable header value: no binding is filed under it
                    valued = None
                if valued:
                    candidates |= valued
        for binding in candidates:
            target, binding_args, _ = entries[binding]
            if target not in found and headers_match(binding_args, headers):
                found.add(target)
        return found

    def __len__(self) -> int:
        return len(self._entries)


def _as_binary(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


def _field_equal(a: Any, b: Any, top: bool = False) -> bool:
    """Typed equality of AMQP field values.

    RabbitMQ compares typed terms, so a bool is never equal to an int and an
    int is never equal to a float here, unlike Python's ``True == 1 == 1.0``;
    decimals must agree in scale too (1.0 is not 1.00 on the wire).  At the
    top level RabbitMQ compares numbers with Erlang's ``==`` (so 1 matches
    1.0 there, but not inside nested tables or arrays) and ignores the
    string/byte-array distinction (both are binaries to it), which pamqp
    surfaces as str vs bytes/bytearray.
    Tables and arrays compare structurally, with a stack of pairs still to
    compare rather than recursion: a client may nest them thousands deep.
    """
    pending = [(a, b, top)]
    while pending:
        a, b, top = pending.pop()
        if a is None or b is None:
            equal = a is None and b is None
        elif isinstance(a, bool) or isinstance(b, bool):
            equal = type(a) is type(b) and a == b
        elif top and isinstance(a, (int, float)) and isinstance(b, (int, float)):
            equal = a == b
        elif isinstance(a, int) or isinstance(b, int):
            equal = isinstance(a, int) and isinstance(b, int) and a == b
        elif isinstance(a, float) or isinstance(b, float):
            equal = isinstance(a, float) and isinstance(b, float) and a == b
        elif isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
            equal = (isinstance(a, decimal.Decimal) and isinstance(b, decimal.Decimal) and a == b
                     and a.as_tuple().exponent == b.as_tuple().exponent)
        elif isinstance(a, Mapping) or isinstance(b, Mapping):
            equal = isinstance(a, Mapping) and isinstance(b, Mapping) and a.keys() == b.keys()
            if equal:
                pending.extend((v, b[k], False) for k, v in a.items())
        elif isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            equal = isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
            if equal:
                pending.extend((x, y, False) for x, y in zip(a, b))
        else:
            equal = _scalar_equal(a, b, top)
        if not equal:
            return False
    return True


def _scalar_equal(a: Any, b: Any, top: bool) -> bool:
    """Strings, byte arrays, timestamps and the rest: by type, then value."""
    if top:
        a_bin, b_bin = _as_binary(a), _as_binary(b)
        if a_bin is not None and b_bin is not None:
            return a_bin == b_bin
    if type(a) is not type(b) and not (isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime)):
        return False
    return bool(a == b)


def validate_x_match(binding_args: Mapping[str, Any] | None) -> str | None:
    """Error text for an invalid x-match argument, or None when acceptable.

    Texts are RabbitMQ's (without the "PRECONDITION_FAILED - " prefix the
    caller adds when closing the channel with 406), so clients that inspect
    reply texts see what they would from RabbitMQ.  A missing x-match is fine.
    """
    if not binding_args or "x-match" not in binding_args:
        return None
    value = binding_args["x-match"]
    if isinstance(value, (str, bytes)):  # longstr (bytes when not UTF-8)
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if text in X_MATCH_VALUES:
            return None
        return (
            f"Invalid x-match field value {erl_term(value)}; "
            "expected all, any, all-with-x, or any-with-x"
        )
    return (
        f"Invalid x-match field type {field_type(value)} (value {erl_term(value)}); "
        "expected longstr"
    )
