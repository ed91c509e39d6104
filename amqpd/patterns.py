"""Regular expressions that users give the broker (policy patterns, permissions, topic
permissions, the management API's name filters), matched under a time limit.

Python's ``re`` has no limit, and one pattern that backtracks without end (``(a|aa)+$``) would
hold the broker's only thread. These are matched with the ``regex`` module, which can give up;
a pattern that once ran over its time matches nothing from then on (logged once), so a policy
is not tried again for each of ten thousand queues. RabbitMQ's PCRE has a match limit too, over
which ``re:run`` answers nomatch. Patterns are still checked with ``re`` when defined, so the
error texts RabbitMQ users see are the ones they saw before.
"""

from __future__ import annotations

import re

import regex
import structlog

log = structlog.get_logger("amqpd.patterns")

SEARCH_TIMEOUT = 0.02  # seconds one search may take (regex checks it coarsely: up to ~2x)


class Pattern:
    """A compiled user pattern; ``search`` says whether it occurs in a text."""

    __slots__ = ("source", "_compiled", "_exhausted")

    def __init__(self, source: str, ignore_case: bool = False) -> None:
        """re.error for a pattern that does not compile (raised by ``re``, with its message)."""
        re.compile(source, re.IGNORECASE if ignore_case else 0)
        self.source = source
        self._compiled = regex.compile(source, regex.IGNORECASE if ignore_case else 0)
        self._exhausted = False

    def search(self, text: str) -> bool:
        if self._exhausted:
            return False
        try:
            return self._compiled.search(text, timeout=SEARCH_TIMEOUT) is not None
        except TimeoutError:
            self._exhausted = True
            log.warning("regular expression took too long to match; it matches nothing from now on",
                        pattern=self.source, limit_s=SEARCH_TIMEOUT)
            return False

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"
