"""Unit tests for amqpd.broker.routing (direct, topic and headers matching)."""

from __future__ import annotations

import datetime
import decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpd.broker.routing import (
    DirectIndex,
    HeadersIndex,
    TopicTrie,
    headers_match,
    split_topic,
    validate_x_match,
)

# ---------------------------------------------------------------------------
# DirectIndex
# ---------------------------------------------------------------------------


def test_direct_exact_match_only() -> None:
    idx: DirectIndex[str] = DirectIndex()
    idx.add("a", "q1")
    idx.add("a", "q2")
    idx.add("b", "q3")
    idx.add("", "q4")
    assert idx.match("a") == {"q1", "q2"}
    assert idx.match("b") == {"q3"}
    assert idx.match("") == {"q4"}
    assert idx.match("A") == set()
    assert idx.match("a.b") == set()
    assert len(idx) == 4


def test_direct_add_is_idempotent() -> None:
    idx: DirectIndex[str] = DirectIndex()
    idx.add("k", "q")
    idx.add("k", "q")
    assert len(idx) == 1
    assert idx.match("k") == {"q"}
    assert ("k", "q") in idx
    assert ("k", "other") not in idx


def test_direct_remove_drops_empty_entries() -> None:
    idx: DirectIndex[str] = DirectIndex()
    idx.add("k", "q1")
    idx.add("k", "q2")
    idx.remove("k", "q1")
    assert idx.match("k") == {"q2"}
    idx.remove("k", "q2")
    assert idx.match("k") == set()
    assert idx.is_empty()
    assert len(idx) == 0
    assert idx._by_key == {}


def test_direct_remove_unknown_is_noop() -> None:
    idx: DirectIndex[str] = DirectIndex()
    idx.add("k", "q")
    idx.remove("k", "nope")
    idx.remove("nokey", "q")
    assert idx.match("k") == {"q"}
    assert len(idx) == 1


def test_direct_match_reads_the_index_without_copying() -> None:
    """match() hands out the index's own targets (no copy per message) and nothing for an unknown key."""
    idx: DirectIndex[str] = DirectIndex()
    idx.add("k", "q")
    assert idx.match("k") == {"q"}
    assert idx.match("k") is idx.match("k")
    assert idx.match("other") == frozenset()


# ---------------------------------------------------------------------------
# TopicTrie: explicit rules
# ---------------------------------------------------------------------------


def trie_of(*bindings: tuple[str, str]) -> TopicTrie[str]:
    trie: TopicTrie[str] = TopicTrie()
    for pattern, target in bindings:
        trie.add(pattern, target)
    return trie


def matches(pattern: str, key: str) -> bool:
    return trie_of((pattern, "t")).match(key) == {"t"}


def test_split_topic() -> None:
    assert split_topic("") == []
    assert split_topic("a") == ["a"]
    assert split_topic("a.b") == ["a", "b"]
    assert split_topic("a..b") == ["a", "", "b"]
    assert split_topic(".") == ["", ""]
    assert split_topic("a.") == ["a", ""]


def test_literal_patterns() -> None:
    trie = trie_of(("a.b.c", "abc"), ("a.b", "ab"), ("a", "a"))
    assert trie.match("a.b.c") == {"abc"}
    assert trie.match("a.b") == {"ab"}
    assert trie.match("a") == {"a"}
    assert trie.match("a.b.c.d") == set()
    assert trie.match("b") == set()
    assert trie.match("") == set()


def test_star_matches_exactly_one_word() -> None:
    trie = trie_of(("*", "star"), ("a.*", "a-star"), ("*.*", "two"))
    assert trie.match("x") == {"star"}
    assert trie.match("a") == {"star"}
    assert trie.match("a.b") == {"a-star", "two"}
    assert trie.match("x.y") == {"two"}
    assert trie.match("a.b.c") == set()


def test_star_does_not_match_empty_key() -> None:
    assert trie_of(("*", "star")).match("") == set()


def test_star_matches_empty_word() -> None:
    assert trie_of(("*", "star")).match(".") == set()  # two empty words
    assert trie_of(("*.*", "two")).match(".") == {"two"}
    assert trie_of(("a.*.b", "t")).match("a..b") == {"t"}
    assert trie_of(("a.*", "t")).match("a.") == {"t"}
    assert trie_of(("*.a", "t")).match(".a") == {"t"}


def test_empty_words_are_literal_words() -> None:
    trie = trie_of(("a..b", "t"))
    assert trie.match("a..b") == {"t"}
    assert trie.match("a.b") == set()
    assert trie.match("a.x.b") == set()


def test_hash_matches_everything_including_empty_key() -> None:
    trie = trie_of(("#", "hash"))
    assert trie.match("") == {"hash"}
    assert trie.match("a") == {"hash"}
    assert trie.match("a.b.c") == {"hash"}
    assert trie.match("..") == {"hash"}


def test_hash_matches_zero_words() -> None:
    assert matches("a.#", "a")
    assert matches("#.a", "a")
    assert matches("a.#.b", "a.b")
    assert matches("#.#", "")
    assert matches("a.#.#", "a")
    assert not matches("a.#", "")
    assert not matches("a.#", "b")


def test_hash_matches_several_words() -> None:
    assert matches("a.#", "a.b.c")
    assert matches("#.a", "x.y.a")
    assert matches("a.#.b", "a.x.y.b")
    assert matches("a.#.b", "a.x.b")
    assert not matches("a.#.b", "a.x.y")
    assert not matches("a.#.b", "x.a.b")
    assert matches("#.b.#", "b")
    assert matches("#.b.#", "a.b.c")
    assert not matches("#.b.#", "a.c")


def test_star_and_hash_combined() -> None:
    assert matches("*.#", "a")
    assert not matches("*.#", "")
    assert matches("#.*", "a.b.c")
    assert matches("#.*.#", "a")
    assert not matches("#.*.#", "")
    assert matches("*.#.*", "a.b")
    assert not matches("*.#.*", "a")


def test_empty_pattern_matches_only_empty_key() -> None:
    trie = trie_of(("", "empty"))
    assert trie.match("") == {"empty"}
    assert trie.match("a") == set()
    assert trie.match(".") == set()


def test_literal_wildcard_characters_in_key() -> None:
    # A routing key containing "*" or "#" words is matched like RabbitMQ does:
    # wildcards still match them, and only wildcard patterns match them.
    trie = trie_of(("*", "star"), ("#", "hash"), ("a", "a"), ("a.#", "a-hash"))
    assert trie.match("*") == {"star", "hash"}
    assert trie.match("#") == {"star", "hash"}
    assert trie.match("a.#") == {"hash", "a-hash"}


def test_same_pattern_several_targets_and_duplicates() -> None:
    trie = trie_of(("a.*", "q1"), ("a.*", "q2"), ("a.*", "q1"))
    assert len(trie) == 2
    assert trie.match("a.b") == {"q1", "q2"}


def test_rabbitmq_topic_matching_table() -> None:
    """The binding/expectation table from RabbitMQ's own test_topic_matching."""
    bindings = [
        ("a.b.c", "t1"), ("a.*.c", "t2"), ("a.#.b", "t3"), ("a.b.b.c", "t4"),
        ("#", "t5"), ("#.#", "t6"), ("#.b", "t7"), ("*.*", "t8"), ("a.*", "t9"),
        ("*.b.c", "t10"), ("a.#", "t11"), ("a.#.#", "t12"), ("b.b.c", "t13"),
        ("a.b.b", "t14"), ("a.b", "t15"), ("b.c", "t16"), ("", "t17"),
        ("*.*.*", "t18"), ("vodka.martini", "t19"), ("a.b.c", "t20"),
        ("*.#", "t21"), ("#.*.#", "t22"), ("*.#.#", "t23"), ("#.#.#", "t24"),
        ("*", "t25"), ("#.b.#", "t26"),
    ]  # fmt: skip
    trie = trie_of(*bindings)
    assert len(trie) == 26
    expected = {
        "a.b.c": {"t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20",
                  "t21", "t22", "t23", "t24", "t26"},
        "a.b": {"t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15",
                "t21", "t22", "t23", "t24", "t26"},
        "a.b.b": {"t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21",
                  "t22", "t23", "t24", "t26"},
        "": {"t5", "t6", "t17", "t24"},
        "b.c.c": {"t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"},
        "a.a.a.a.a": {"t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"},
        "vodka.gin": {"t5", "t6", "t8", "t21", "t22", "t23", "t24"},
        "vodka.martini": {"t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"},
        "b.b.c": {"t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24",
                  "t26"},
        "nothing.here.at.all": {"t5", "t6", "t21", "t22", "t23", "t24"},
        "oneword": {"t5", "t6", "t21", "t22", "t23", "t24", "t25"},
    }  # fmt: skip
    for key, want in expected.items():
        assert trie.match(key) == want, key

    for pattern, target in [bindings[i] for i in (0, 4, 10, 18, 20)]:
        trie.remove(pattern, target)
    assert len(trie) == 21
    expected = {
        "a.b.c": {"t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24",
                  "t26"},
        "a.b": {"t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24",
                "t26"},
        "a.b.b": {"t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24",
                  "t26"},
        "": {"t6", "t17", "t24"},
        "b.c.c": {"t6", "t18", "t22", "t23", "t24", "t26"},
        "a.a.a.a.a": {"t6", "t12", "t22", "t23", "t24"},
        "vodka.gin": {"t6", "t8", "t22", "t23", "t24"},
        "vodka.martini": {"t6", "t8", "t22", "t23", "t24"},
        "b.b.c": {"t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"},
        "nothing.here.at.all": {"t6", "t22", "t23", "t24"},
        "oneword": {"t6", "t22", "t23", "t24", "t25"},
    }  # fmt: skip
    for key, want in expected.items():
        assert trie.match(key) == want, key

    for pattern, target in list(trie):
        trie.remove(pattern, target)
    assert trie.is_empty()
    assert trie.match("a.b.c") == set()
    assert trie.match("") == set()
    assert trie._root.children == {}


def test_pathological_hash_pattern_completes() -> None:
    pattern = ".".join(["#"] * 20 + ["x"])
    assert pattern == "#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.x"
    trie = trie_of((pattern, "p"), ("#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.y", "q"))
    key_hit = ".".join(["w"] * 39 + ["x"])
    key_miss = ".".join(["w"] * 40)
    assert len(split_topic(key_hit)) == 40
    assert trie.match(key_hit) == {"p"}
    assert trie.match(key_miss) == set()
    assert trie.match("x") == {"p"}


# ---------------------------------------------------------------------------
# TopicTrie: removal, pruning, cache
# ---------------------------------------------------------------------------


def test_remove_prunes_empty_nodes() -> None:
    trie = trie_of(("a.b.c", "q1"), ("a.b", "q2"), ("a.#.d", "q3"))
    trie.remove("a.b.c", "q1")
    assert set(trie._root.children["a"].children["b"].children) == set()
    assert trie.match("a.b") == {"q2"}
    trie.remove("a.b", "q2")
    assert set(trie._root.children["a"].children) == {"#"}
    trie.remove("a.#.d", "q3")
    assert trie._root.children == {}
    assert len(trie) == 0
    assert trie.is_empty()


def test_remove_keeps_nodes_still_in_use() -> None:
    trie = trie_of(("a.b", "q1"), ("a.b", "q2"), ("a.b.c", "q3"))
    trie.remove("a.b", "q1")
    assert trie.match("a.b") == {"q2"}
    trie.remove("a.b", "q2")
    assert trie.match("a.b") == set()
    assert trie.match("a.b.c") == {"q3"}  # node a.b kept: it has a child


def test_remove_unknown_binding_is_noop() -> None:
    trie = trie_of(("a.b", "q1"))
    trie.remove("a.b", "other")
    trie.remove("a.c", "q1")
    trie.remove("a.b.c", "q1")
    trie.remove("a", "q1")
    assert len(trie) == 1
    assert trie.match("a.b") == {"q1"}
    assert set(trie._root.children["a"].children) == {"b"}


def test_iteration_lists_bindings() -> None:
    bindings = {("a.b", "q1"), ("a.*", "q2"), ("#", "q3"), ("", "q4"), ("a..b", "q5")}
    trie = trie_of(*bindings)
    assert set(trie) == bindings


def test_match_result_is_cached_and_immutable() -> None:
    """A repeated key is answered from the cache with the same frozenset, which no caller can change."""
    trie = trie_of(("a.*", "q"))
    first = trie.match("a.b")
    assert first == {"q"} and isinstance(first, frozenset)
    assert trie.match("a.b") is first


def test_cache_is_invalidated_by_add() -> None:
    trie = trie_of(("a.*", "q1"))
    assert trie.match("a.b") == {"q1"}
    assert "a.b" in trie._cache
    trie.add("#.b", "q2")
    assert trie._cache == {}
    assert trie.match("a.b") == {"q1", "q2"}


def test_cache_is_invalidated_by_remove() -> None:
    trie = trie_of(("a.*", "q1"), ("a.b", "q2"))
    assert trie.match("a.b") == {"q1", "q2"}
    trie.remove("a.b", "q2")
    assert trie.match("a.b") == {"q1"}
    trie.remove("a.*", "q1")
    assert trie.match("a.b") == set()


def test_cache_of_empty_result_is_invalidated() -> None:
    trie: TopicTrie[str] = TopicTrie()
    assert trie.match("a") == set()
    trie.add("a", "q")
    assert trie.match("a") == {"q"}


def test_cache_is_bounded() -> None:
    trie = TopicTrie[str](cache_size=8)
    trie.add("#", "q")
    for i in range(100):
        assert trie.match(f"k{i}") == {"q"}
        assert len(trie._cache) <= 8
    assert "k99" in trie._cache
    assert "k0" not in trie._cache
    assert TopicTrie[str]()._cache_size == 1024


def test_cache_can_be_disabled() -> None:
    trie = TopicTrie[str](cache_size=0)
    trie.add("a", "q")
    assert trie.match("a") == {"q"}
    assert trie._cache == {}


def test_targets_may_be_any_hashable() -> None:
    trie: TopicTrie[tuple[str, str]] = TopicTrie()
    trie.add("a.*", ("queue", "q1"))
    trie.add("a.*", ("exchange", "x1"))
    assert trie.match("a.z") == {("queue", "q1"), ("exchange", "x1")}


# ---------------------------------------------------------------------------
# TopicTrie: property test against an independent reference matcher
# ---------------------------------------------------------------------------


def reference_words(s: str) -> list[str]:
    # Independent of split_topic: an empty key has no words at all.
    return [] if s == "" else s.split(".")


def reference_match(pattern: list[str], key: list[str]) -> bool:
    """Plain recursive backtracking matcher over word lists."""
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return reference_match(rest, key) or (bool(key) and reference_match(pattern, key[1:]))
    if not key:
        return False
    if head == "*" or head == key[0]:
        return reference_match(rest, key[1:])
    return False


pattern_words = st.sampled_from(["a", "b", "c", "", "*", "#"])
key_words = st.sampled_from(["a", "b", "c", "", "*", "#"])
patterns = st.lists(pattern_words, max_size=6).map(".".join)
keys = st.lists(key_words, max_size=7).map(".".join)


@settings(max_examples=400, deadline=None)
@given(
    bindings=st.lists(st.tuples(patterns, st.integers(0, 5)), max_size=12),
    probe_keys=st.lists(keys, min_size=1, max_size=8),
    removals=st.lists(st.integers(0, 11), max_size=6),
)
def test_topic_trie_matches_reference(
    bindings: list[tuple[str, int]], probe_keys: list[str], removals: list[int]
) -> None:
    trie: TopicTrie[int] = TopicTrie()
    for pattern, target in bindings:
        trie.add(pattern, target)
    live = set(bindings)
    assert len(trie) == len(live)

    def check() -> None:
        for key in probe_keys:
            want = {t for p, t in live if reference_match(reference_words(p), reference_words(key))}
            assert trie.match(key) == want, (key, sorted(live))
            assert trie.match(key) == want  # second call served from the cache

    check()
    for i in removals:
        if i < len(bindings):
            pattern, target = bindings[i]
            trie.remove(pattern, target)
            live.discard((pattern, target))
            assert len(trie) == len(live)
            check()
    for pattern, target in list(live):
        trie.remove(pattern, target)
    assert trie._root.children == {}
    assert trie._root.targets == set()


# ---------------------------------------------------------------------------
# headers_match
# ---------------------------------------------------------------------------


def test_all_is_default_and_requires_every_argument() -> None:
    args = {"format": "pdf", "type": "report"}
    assert headers_match(args, {"format": "pdf", "type": "report"})
    assert headers_match(args, {"format": "pdf", "type": "report", "extra": 1})
    assert not headers_match(args, {"format": "pdf"})
    assert not headers_match(args, {"format": "pdf", "type": "log"})
    assert not headers_match(args, {})
    assert not headers_match(args, None)
    explicit = {"x-match": "all", **args}
    assert headers_match(explicit, {"format": "pdf", "type": "report"})
    assert not headers_match(explicit, {"format": "pdf", "type": "log"})


def test_any_requires_one_argument() -> None:
    args = {"x-match": "any", "format": "pdf", "type": "report"}
    assert headers_match(args, {"format": "pdf"})
    assert headers_match(args, {"type": "report", "format": "zip"})
    assert headers_match(args, {"format": "pdf", "type": "report"})
    assert not headers_match(args, {"format": "zip", "type": "log"})
    assert not headers_match(args, {"other": "pdf"})
    assert not headers_match(args, {})
    assert not headers_match(args, None)


def test_no_relevant_arguments() -> None:
    # "all" over nothing is vacuously true; "any" over nothing is false.
    for headers in (None, {}, {"a": 1}):
        assert headers_match({}, headers)
        assert headers_match({"x-match": "all"}, headers)
        assert headers_match({"x-match": "all", "x-foo": "bar"}, headers)
        assert headers_match({"x-match": "all-with-x"}, headers)
        assert not headers_match({"x-match": "any"}, headers)
        assert not headers_match({"x-match": "any", "x-foo": "bar"}, headers)
        assert not headers_match({"x-match": "any-with-x"}, headers)


def test_x_arguments_ignored_for_all_and_any() -> None:
    args_all = {"x-match": "all", "x-foo": "bar", "k": "v"}
    assert headers_match(args_all, {"k": "v"})
    assert headers_match(args_all, {"k": "v", "x-foo": "other"})
    args_any = {"x-match": "any", "x-foo": "bar", "k": "v"}
    assert not headers_match(args_any, {"x-foo": "bar"})
    assert headers_match(args_any, {"k": "v"})


def test_x_arguments_included_with_x_variants() -> None:
    args_all = {"x-match": "all-with-x", "x-foo": "bar", "k": "v"}
    assert headers_match(args_all, {"k": "v", "x-foo": "bar"})
    assert not headers_match(args_all, {"k": "v"})
    assert not headers_match(args_all, {"k": "v", "x-foo": "other"})
    assert not headers_match(args_all, {"x-foo": "bar"})
    args_any = {"x-match": "any-with-x", "x-foo": "bar", "k": "v"}
    assert headers_match(args_any, {"x-foo": "bar"})
    assert headers_match(args_any, {"k": "v"})
    assert not headers_match(args_any, {"x-foo": "baz", "k": "w"})
    assert not headers_match(args_any, {})


def test_x_match_itself_never_takes_part() -> None:
    # Even with "-with-x", the x-match argument is not a header requirement.
    assert headers_match({"x-match": "all-with-x", "k": "v"}, {"k": "v"})
    assert not headers_match({"x-match": "any-with-x"}, {"x-match": "any-with-x"})
    assert headers_match({"x-match": "any-with-x", "x-a": 1}, {"x-a": 1})


def test_invalid_x_match_routes_as_all() -> None:
    assert headers_match({"x-match": "foo", "k": "v"}, {"k": "v"})
    assert not headers_match({"x-match": "foo", "k": "v", "j": "w"}, {"k": "v"})
    assert not headers_match({"x-match": 1, "k": "v"}, {})


def test_void_argument_requires_presence_only() -> None:
    args = {"k": None}
    assert headers_match(args, {"k": "anything"})
    assert headers_match(args, {"k": None})
    assert headers_match(args, {"k": 0})
    assert not headers_match(args, {"other": "x"})
    assert not headers_match(args, {})
    assert not headers_match(args, None)
    assert headers_match({"x-match": "any", "k": None, "j": "v"}, {"k": 1})
    assert not headers_match({"x-match": "all", "k": None, "j": "v"}, {"k": 1})
    assert headers_match({"x-match": "all", "k": None, "j": "v"}, {"k": 1, "j": "v"})


def test_void_header_does_not_equal_a_value() -> None:
    assert not headers_match({"k": "v"}, {"k": None})
    assert not headers_match({"k": 0}, {"k": None})
    assert not headers_match({"k": ""}, {"k": None})


def test_type_strictness_bool_int_float() -> None:
    """A bool never equals a number; at the top level an int equals the same float (Erlang's
    ==, checked on RabbitMQ 3.10.8), inside tables and arrays it does not."""
    assert not headers_match({"k": True}, {"k": 1})
    assert not headers_match({"k": 1}, {"k": True})
    assert not headers_match({"k": False}, {"k": 0})
    assert headers_match({"k": 1}, {"k": 1.0})
    assert headers_match({"k": 1.0}, {"k": 1})
    assert not headers_match({"k": {"n": 1}}, {"k": {"n": 1.0}})
    assert not headers_match({"k": [1]}, {"k": [1.0]})
    assert not headers_match({"x-match": "any", "k": 2, "j": True}, {"k": 1.0, "j": 1})
    assert headers_match({"k": True}, {"k": True})
    assert headers_match({"k": 1}, {"k": 1})
    assert headers_match({"k": 1.5}, {"k": 1.5})
    assert not headers_match({"k": 1}, {"k": 2})


def test_type_strictness_decimal_and_strings() -> None:
    assert headers_match({"k": decimal.Decimal("1.5")}, {"k": decimal.Decimal("1.5")})
    assert not headers_match({"k": decimal.Decimal("1.0")}, {"k": decimal.Decimal("1.00")})
    assert not headers_match({"k": decimal.Decimal("1")}, {"k": 1})
    assert not headers_match({"k": "1"}, {"k": 1})
    assert not headers_match({"k": "v"}, {"k": "V"})


def test_top_level_string_and_byte_array_compare_as_binaries() -> None:
    # RabbitMQ ignores the longstr/byte-array distinction at the top level.
    assert headers_match({"k": "v"}, {"k": bytearray(b"v")})
    assert headers_match({"k": bytearray(b"v")}, {"k": "v"})
    assert headers_match({"k": "\u00e9"}, {"k": b"\xc3\xa9"})
    assert not headers_match({"k": "v"}, {"k": bytearray(b"w")})


def test_timestamps_compare_by_value() -> None:
    t = datetime.datetime(2022, 9, 1, tzinfo=datetime.UTC)
    assert headers_match({"k": t}, {"k": datetime.datetime(2022, 9, 1, tzinfo=datetime.UTC)})
    assert not headers_match({"k": t}, {"k": t + datetime.timedelta(seconds=1)})


def test_nested_tables_and_arrays_compare_structurally() -> None:
    table = {"a": 1, "b": [1, "x", {"c": True}]}
    assert headers_match({"k": table}, {"k": {"b": [1, "x", {"c": True}], "a": 1}})
    assert not headers_match({"k": table}, {"k": {"a": 1, "b": [1, "x", {"c": 1}]}})
    assert not headers_match({"k": table}, {"k": {"a": 1.0, "b": [1, "x", {"c": True}]}})
    assert not headers_match({"k": table}, {"k": {"a": 1}})
    assert not headers_match({"k": table}, {"k": {"a": 1, "b": [1, "x"]}})
    assert not headers_match({"k": [1, 2]}, {"k": [2, 1]})
    assert not headers_match({"k": [True]}, {"k": [1]})
    assert not headers_match({"k": [1]}, {"k": {"0": 1}})
    assert headers_match({"k": []}, {"k": []})
    assert headers_match({"k": {}}, {"k": {}})
    assert not headers_match({"k": {}}, {"k": []})
    # inside tables a string and a byte array are different field types
    assert not headers_match({"k": ["v"]}, {"k": [bytearray(b"v")]})


def test_empty_headers_equivalent() -> None:
    for args in ({"k": "v"}, {"x-match": "any", "k": "v"}, {"k": None}):
        assert headers_match(args, None) is headers_match(args, {}) is False
    assert headers_match({"x-match": "all"}, None) is headers_match({"x-match": "all"}, {}) is True


# ---------------------------------------------------------------------------
# validate_x_match
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["all", "any", "all-with-x", "any-with-x"])
def test_validate_x_match_accepts_known_values(value: str) -> None:
    assert validate_x_match({"x-match": value, "k": "v"}) is None


def test_validate_x_match_absent_is_fine() -> None:
    assert validate_x_match({}) is None
    assert validate_x_match(None) is None
    assert validate_x_match({"k": "v"}) is None


def test_validate_x_match_rejects_unknown_value_with_rabbitmq_text() -> None:
    assert validate_x_match({"x-match": "foo"}) == (
        'Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x'
    )
    assert validate_x_match({"x-match": "ALL"}) == (
        'Invalid x-match field value <<"ALL">>; expected all, any, all-with-x, or any-with-x'
    )
    assert validate_x_match({"x-match": ""}) == (
        "Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x"
    )
    assert validate_x_match({"x-match": 'a"b'}) == (
        'Invalid x-match field value <<"a\\"b">>; expected all, any, all-with-x, or any-with-x'
    )


def test_validate_x_match_rejects_non_string_types() -> None:
    assert validate_x_match({"x-match": True}) == (
        "Invalid x-match field type bool (value true); expected longstr"
    )
    assert validate_x_match({"x-match": 1}) == (
        "Invalid x-match field type signedint (value 1); expected longstr"
    )
    assert validate_x_match({"x-match": None}) == (
        "Invalid x-match field type void (value undefined); expected longstr"
    )
    assert validate_x_match({"x-match": bytearray(b"all")}) == (
        'Invalid x-match field type binary (value <<"all">>); expected longstr'
    )


# ---------------------------------------------------------------------------
# HeadersIndex: the same answers as headers_match over every binding, by far fewer checks
# ---------------------------------------------------------------------------

_NAMES = ["a", "b", "c", "x-a", "x-match"]
_VALUES = st.sampled_from([
    None, True, False, 0, 1, 2, 1.0, 2.5, -0.0, "v", "w", "", b"v", bytearray(b"w"), "\u00e9", b"\xc3\xa9",
    decimal.Decimal("1.0"), decimal.Decimal("1.00"), datetime.datetime(2022, 9, 1, tzinfo=datetime.UTC),
    {"n": 1}, {"n": 1.0}, {}, [1], [1.0], [], ["v"], 2**64, float("nan"),
])
_BINDING = st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=4).flatmap(
    lambda args: st.one_of(
        st.just(args),
        st.sampled_from(["all", "any", "all-with-x", "any-with-x", "bogus"]).map(lambda m: {**args, "x-match": m}),
    ))
_HEADERS = st.one_of(st.none(), st.dictionaries(st.sampled_from(_NAMES + ["d"]), _VALUES, max_size=5))


@settings(max_examples=300, deadline=None)
@given(st.lists(_BINDING, max_size=25), st.lists(_HEADERS, min_size=1, max_size=5), st.data())
def test_headers_index_agrees_with_naive_match(bindings, messages, data) -> None:
    """Random bindings (each x-match mode, void values, every value type, -with-x names) and
    messages: the index routes to exactly the targets a scan with headers_match finds, also
    after some bindings are removed."""
    index: HeadersIndex[str] = HeadersIndex()
    live = {}
    for i, args in enumerate(bindings):
        target = f"q{i % 7}"
        index.add(i, target, args)
        live[i] = (target, args)
    removed = data.draw(st.lists(st.sampled_from(sorted(live)), max_size=5, unique=True)) if live else []
    for i in removed:
        index.remove(i)
        del live[i]
    for headers in messages:
        naive = {target for target, args in live.values() if headers_match(args, headers)}
        assert index.match(headers) == naive
    assert len(index) == len(live)


def test_headers_index_forgets_removed_bindings_entirely() -> None:
    index: HeadersIndex[str] = HeadersIndex()
    index.add("b1", "q1", {"x-match": "any", "a": 1, "b": None})
    index.add("b2", "q2", {})
    index.add("b3", "q3", {"x-match": "all", "c": {"n": [1]}})
    assert index.match({"a": 1.0, "c": {"n": [1]}}) == {"q1", "q2", "q3"}
    for binding in ("b1", "b2", "b3", "unknown"):
        index.remove(binding)
    assert index.match({"a": 1, "b": 0, "c": {"n": [1]}}) == set()
    assert len(index) == 0
    assert index._buckets == {}


def test_headers_exchange_checks_few_bindings_among_ten_thousand(monkeypatch) -> None:
    """A publish through a headers exchange with 10,000 bindings runs the exact match on the
    bindings its headers can select, not on every binding (a deterministic stand-in for time)."""
    from amqpd.broker import exchange as exchange_module
    from amqpd.broker import routing
    from amqpd.broker.exchange import HeadersExchange
    from amqpd.broker.message import Message
    from amqpd.protocol.properties import encode_properties
    from pamqp import commands

    calls = 0
    real = routing.headers_match

    def counting(binding_args, headers):
        nonlocal calls
        calls += 1
        return real(binding_args, headers)

    monkeypatch.setattr(routing, "headers_match", counting)
    monkeypatch.setattr(exchange_module, "headers_match", counting, raising=False)
    x = HeadersExchange("h")
    for i in range(5000):
        x.bind(f"all{i}", "", {"x-match": "all", "tenant": f"t{i}", "kind": "order"})
        x.bind(f"any{i}", "", {"x-match": "any", "user": i, "region": f"r{i}"})
    raw = encode_properties(commands.Basic.Properties(headers={"tenant": "t42", "kind": "order", "user": 7}))
    routed = set(x.route(Message("h", "", raw, b"body")))
    assert routed == {"all42", "any7"}
    assert calls <= 4


def test_headers_exchange_drops_deeply_nested_bindings_of_a_deleted_queue() -> None:
    """Deleting a queue unbinds it by the stored binding keys: a fresh key would compare the
    nested argument tables level by level, past the recursion limit (and a failure there, on a
    connection's exclusive queue, happens outside any frame handler)."""
    from amqpd.broker.exchange import HeadersExchange
    from amqpd.broker.message import Message
    from amqpd.protocol.properties import encode_properties
    from pamqp import commands

    deep: dict = {}
    for _ in range(400):
        deep = {"k": deep}
    x = HeadersExchange("h")
    queue = object()
    assert x.bind(queue, "", {"x-match": "any", "d": deep, "e": 1})
    assert x.unbind_all(queue) == 1
    raw = encode_properties(commands.Basic.Properties(headers={"e": 1}))
    assert set(x.route(Message("h", "", raw, b"body"))) == set()
    assert not x.bindings


def test_headers_match_compares_deeply_nested_values_without_recursion() -> None:
    """Binding values and headers nested thousands deep (the table codec decodes them) are
    compared level by level on a stack, never past the recursion limit."""
    def nested(depth: int, leaf: object) -> object:
        value = leaf
        for i in range(depth):
            value = [value] if i % 2 else {"k": value}
        return value

    for depth in (3000, 20000):
        assert headers_match({"d": nested(depth, 1)}, {"d": nested(depth, 1)})
        assert not headers_match({"d": nested(depth, 1)}, {"d": nested(depth, 1.0)})
        assert not headers_match({"d": nested(depth, 1)}, {"d": nested(depth - 1, 1)})
