"""structlog set-up, and the policy for lines a client can cause at will.

A client can fail a connection as often as it can connect, so no such line may be large or
unlimited: client faults log one line without a traceback, and LogLimiter caps how many lines
of a kind get through; tracebacks (of our own bugs) are cut to their ends.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import structlog

LINES_PER_INTERVAL = 10  # lines of one kind let through per interval
INTERVAL = 60.0  # seconds
TRACEBACK_FRAMES = 8  # frames kept at each end of a long traceback
TRACEBACK_CHARS = 8192  # and at most this much text of it


def configure(level: str = "info", fmt: str = "console") -> None:
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def format_exc_info(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog's format_exc_info, with the traceback bounded (bounded_traceback)."""
    exc_info = event_dict.pop("exc_info", None)
    if isinstance(exc_info, BaseException):
        exc: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    else:
        exc = sys.exc_info()[1] if exc_info else None
    if exc is not None:
        event_dict["exception"] = bounded_traceback(exc)
    return event_dict


def bounded_traceback(exc: BaseException) -> str:
    """The exception's traceback with at most TRACEBACK_FRAMES frames at each end and at most
    TRACEBACK_CHARS characters: a RecursionError's thousand frames would otherwise make one
    line of a quarter megabyte. Chained exceptions are left out."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    parts = ["Traceback (most recent call last):\n"]
    if len(frames) > 2 * TRACEBACK_FRAMES:
        parts += traceback.StackSummary.extract(iter(frames[:TRACEBACK_FRAMES])).format()
        parts.append(f"  ... {len(frames) - 2 * TRACEBACK_FRAMES} frames left out ...\n")
        parts += traceback.StackSummary.extract(iter(frames[-TRACEBACK_FRAMES:])).format()
    else:
        parts += traceback.StackSummary.extract(iter(frames)).format()
    parts += traceback.format_exception_only(type(exc), exc)
    text = "".join(parts).rstrip("\n")
    if len(text) > TRACEBACK_CHARS:
        text = text[:TRACEBACK_CHARS] + f"\n... {len(text) - TRACEBACK_CHARS} characters left out"
    return text


@dataclass
class _Window:
    start: float
    lines: int = 0
    suppressed: int = 0


class LogLimiter:
    """Lets `lines` lines of each kind through per `interval` seconds and counts the rest.

    A kind is an event and a key (such as a reply code): few, fixed values, never text a
    client chose, or the table of kinds would grow without bound. The first line of a kind
    after a window in which some were dropped is preceded by one "suppressed K similar
    messages" line, so what was dropped is reported once that kind happens again.
    """

    def __init__(self, lines: int = LINES_PER_INTERVAL, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lines = lines
        self.interval = interval
        self.clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def log(self, method: Callable[..., Any], event: str, *, key: Hashable = None, **fields: Any) -> None:
        """method(event, **fields) (a bound logger's warning, info …) unless the kind (event,
        key) has had its lines in the current window."""
        now = self.clock()
        window = self._windows.get((event, key))
        if window is None or now - window.start >= self.interval:
            if window is not None and window.suppressed:
                summary = {"like": event} if key is None else {"like": event, "key": key}
                method(f"suppressed {window.suppressed} similar messages", **summary)
            window = self._windows[(event, key)] = _Window(now)
        if window.lines < self.lines:
            window.lines += 1
            method(event, **fields)
        else:
            window.suppressed += 1
