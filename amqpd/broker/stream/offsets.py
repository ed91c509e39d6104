"""Where a stream consumer starts (x-stream-offset) and RabbitMQ's interval grammar (x-max-age).

An interval is digits and one unit, Y M D h m s (a year 365 days, a month 30); RabbitMQ refuses
zero and anything else. Offset specs are plain values resolved against the log when a consumer
attaches, so this module needs no log.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass
from typing import Any

from amqpd.broker import clock
from amqpd.broker.tables import field_type, text, type_class
from amqpd.protocol import errors

_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
_INTERVAL = re.compile(r"([0-9]+)([YMDhms])")


def interval_seconds(value: str) -> int | None:
    """Seconds an interval string stands for, or None when RabbitMQ would refuse it."""
    match = _INTERVAL.fullmatch(value)
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)]


def check_max_age(value: Any, args: dict[str, Any]) -> str | None:
    """The x-max-age validator (arguments.py's shape: RabbitMQ's reason term, or None)."""
    if type_class(value) != "longstr":
        return f"{{unacceptable_type,{field_type(value)}}}"
    return None if interval_seconds(text(value)) is not None else "invalid_max_age"


class Anchor(enum.Enum):
    FIRST = "first"  # the oldest message retention kept
    LAST = "last"  # the first message of the last chunk written
    NEXT = "next"  # only what is written from now on (the default)


@dataclass(frozen=True)
class Since:
    """The first chunk written at or after a moment (epoch milliseconds)."""

    millis: int


OffsetSpec = Anchor | int | Since


def offset_spec(arguments: dict[str, Any] | None, now: float | None = None) -> OffsetSpec:
    """x-stream-offset of Basic.Consume as RabbitMQ reads it: a word, an offset (any integer;
    a negative one means first), a timestamp (seconds) or an interval back from now; anything
    else crashes RabbitMQ's channel, which answers a bare 541."""
    value = (arguments or {}).get("x-stream-offset")
    if value is None:
        return Anchor.NEXT
    if type_class(value) == "timestamp":
        seconds = value.timestamp() if isinstance(value, datetime.datetime) else int(value)
        return Since(int(seconds * 1000))
    if type_class(value) == "int":
        return max(int(value), 0)
    if type_class(value) == "longstr":
        word = text(value)
        for anchor in Anchor:
            if word == anchor.value:
                return anchor
        seconds = interval_seconds(word)
        if seconds is not None:
            return Since(int(((clock.wall() if now is None else now) - seconds) * 1000))
    raise errors.InternalError()
