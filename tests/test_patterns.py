"""Users' regular expressions: matched under a time limit, so none can hold the broker's thread."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from amqpd.patterns import Pattern

RUNAWAY = r"(a|aa)+$"  # backtracks for ever (Fibonacci steps) on many a's and no end
VICTIM = "a" * 60 + "!"


def test_search_finds_as_re_does():
    assert Pattern(r"^amq\.").search("amq.direct")
    assert not Pattern(r"^amq\.").search("xamq.direct")
    assert Pattern("ORDERS", ignore_case=True).search("eu-orders")
    assert not Pattern("ORDERS").search("eu-orders")


def test_a_runaway_pattern_gives_up_matches_nothing_from_then_on_and_says_so_once():
    pattern = Pattern(RUNAWAY)
    with capture_logs() as logs:
        assert pattern.search(VICTIM) is False
        assert pattern.search("aa") is False  # would match; the pattern is spent
    assert [entry["event"] for entry in logs] == [
        "regular expression took too long to match; it matches nothing from now on"]
    assert logs[0]["pattern"] == RUNAWAY


def test_a_pattern_that_does_not_compile_raises_re_s_error():
    with pytest.raises(re.error, match="missing \\), unterminated subpattern"):
        Pattern("(")
