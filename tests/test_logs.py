"""amqpd/logs.py: the rate limit for lines a client can cause, and bounded tracebacks."""

from __future__ import annotations

import json

import structlog

from amqpd import logs
from amqpd.logs import LogLimiter, bounded_traceback


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines:
    """Stands in for a bound logger method: records (event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def __call__(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))


def recurse(depth: int) -> None:
    recurse(depth + 1)


def recursion_error() -> RecursionError:
    try:
        recurse(0)
    except RecursionError as exc:
        return exc
    raise AssertionError("no RecursionError")


def test_limiter_lets_n_lines_through_per_interval_then_summarises():
    """3 lines per 60 s: of 10 events only 3 are logged; the first one after the window is
    preceded by one 'suppressed 7 similar messages' line."""
    clock, out = Clock(), Lines()
    limiter = LogLimiter(lines=3, interval=60, clock=clock)
    for n in range(10):
        limiter.log(out, "authentication failed", user=f"u{n}")
    assert out.lines == [("authentication failed", {"user": f"u{n}"}) for n in range(3)]
    clock.now += 59.9
    limiter.log(out, "authentication failed", user="late")
    assert len(out.lines) == 3
    clock.now += 0.1
    limiter.log(out, "authentication failed", user="next")
    assert out.lines[3:] == [("suppressed 8 similar messages", {"like": "authentication failed"}),
                             ("authentication failed", {"user": "next"})]
    clock.now += 60
    limiter.log(out, "authentication failed", user="quiet")  # nothing was dropped in the last window
    assert out.lines[5:] == [("authentication failed", {"user": "quiet"})]


def test_limiter_counts_each_event_and_key_apart():
    """'connection error' with code 501 and with 530 are different kinds; the key is not logged itself."""
    clock, out = Clock(), Lines()
    limiter = LogLimiter(lines=1, interval=60, clock=clock)
    for code in (501, 530, 501, 530, 501):
        limiter.log(out, "connection error", key=code, code=code)
    limiter.log(out, "connection aborted")
    assert out.lines == [("connection error", {"code": 501}), ("connection error", {"code": 530}),
                         ("connection aborted", {})]
    clock.now += 60
    limiter.log(out, "connection error", key=501, code=501)
    assert out.lines[3:] == [("suppressed 2 similar messages", {"like": "connection error", "key": 501}),
                             ("connection error", {"code": 501})]


def test_bounded_traceback_keeps_both_ends_of_a_deep_recursion():
    """A RecursionError's ~1000 frames: the outermost and innermost frames, a count of those left out,
    the exception line, a few kilobytes in all."""
    text = bounded_traceback(recursion_error())
    assert len(text) <= logs.TRACEBACK_CHARS
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1].startswith("RecursionError: maximum recursion depth exceeded")
    assert sum("frames left out" in line for line in lines) == 1
    files = [line for line in lines if line.startswith("  File ")]
    assert 2 <= len(files) <= 2 * logs.TRACEBACK_FRAMES  # identical neighbours are folded, as Python does
    assert files[0].endswith("in recursion_error") and files[-1].endswith("in recurse")


def test_bounded_traceback_cuts_a_huge_message():
    text = bounded_traceback(ValueError("x" * 100_000))
    assert len(text) < logs.TRACEBACK_CHARS + 100
    assert text.endswith("characters left out")


def test_configured_output_bounds_the_traceback(capsys):
    """logs.configure's chain renders exc_info through the bounded formatter: one JSON line of a few KB."""
    logs.configure("info", "json")
    try:
        structlog.get_logger("test").error("internal error while handling a frame", exc_info=recursion_error())
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    record = json.loads(err)
    assert record["event"] == "internal error while handling a frame"
    assert "frames left out" in record["exception"]
    assert len(err) < logs.TRACEBACK_CHARS + 500
