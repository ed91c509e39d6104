"""Content headers: keep the property bytes as received, read only the few the broker needs.

A delivery writes the client's property bytes back out verbatim, so the broker never decodes
what it only forwards. ``scan`` walks the flag word once to validate the layout and pick out
delivery_mode, priority, expiration (parsed to ms), user_id and where the headers table starts. The headers
table is checked there (walked, nothing built: RabbitMQ refuses a message whose table does not
parse, and a client would fail to decode it on delivery) and decoded only when a headers
exchange or a feature asks for it.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Final

from pamqp import commands

from amqpd.protocol import tables

_CONTENT_PREFIX: Final = struct.Struct(">HHQH")

# (flag bit, kind) in wire order; kinds: s = short string, t = table, o = octet, q = u64
LAYOUT = (
    (0x8000, "s"),  # content_type
    (0x4000, "s"),  # content_encoding
    (0x2000, "t"),  # headers
    (0x1000, "o"),  # delivery_mode
    (0x0800, "o"),  # priority
    (0x0400, "s"),  # correlation_id
    (0x0200, "s"),  # reply_to
    (0x0100, "s"),  # expiration
    (0x0080, "s"),  # message_id
    (0x0040, "q"),  # timestamp
    (0x0020, "s"),  # type
    (0x0010, "s"),  # user_id
    (0x0008, "s"),  # app_id
    (0x0004, "s"),  # cluster_id
)
HEADERS_FLAG: Final = 0x2000
MAX_EXPIRATION = 315_360_000_000  # ten years in ms, RabbitMQ's limit for a message's expiration
_ERL_INTEGER = re.compile(r"([+-]?[0-9]+)(.*)", re.S)
_PLANS: dict[int, tuple[tuple[int, str], ...]] = {}  # flag word -> the properties it announces


class ContentHeader:
    """What the broker reads from a content header frame (a plain class: see frames.Publish)."""

    __slots__ = ("class_id", "body_size", "raw_properties", "delivery_mode", "priority", "expiration", "user_id",
                 "expiration_error")

    def __init__(self, class_id: int, body_size: int, raw_properties: bytes, delivery_mode: int,
                 priority: int | None, expiration: int | None, user_id: str | None,
                 expiration_error: str | None = None) -> None:
        self.class_id = class_id
        self.body_size = body_size
        self.raw_properties = raw_properties  # flag word and property list, exactly as received
        self.delivery_mode = delivery_mode
        self.priority = priority
        self.expiration = expiration  # ms, parsed once here (None when absent or invalid)
        self.user_id = user_id
        self.expiration_error = expiration_error  # RabbitMQ's text for an invalid expiration (a channel error)


def parse_expiration(value: str) -> int:
    """A message's expiration in ms, as RabbitMQ's parse_expiration reads it (Erlang's
    string:to_integer); ValueError carries RabbitMQ's reason term for a bad one."""
    match = _ERL_INTEGER.fullmatch(value)
    if match is None:
        raise ValueError("no_integer")
    number, rest = int(match[1]), match[2]
    if rest:
        escaped = rest.replace("\\", "\\\\").replace('"', '\\"')
        raise ValueError(f'{{leftover_string,"{escaped}"}}')
    if number < 0:
        raise ValueError(f"{{value_negative,{number}}}")
    if number > MAX_EXPIRATION:
        raise ValueError(f"{{value_too_large,{number}}}")
    return number


def parse_content_header(payload: bytes, check_headers: bool = True) -> ContentHeader:
    """Validate a content header payload and pick out the properties routing needs.

    Raises ValueError when the layout is malformed, tables.TableError when the headers table is
    (unchecked with check_headers=False: a message stored before this check was made).
    """
    if len(payload) < 14:
        raise ValueError("content header too short")
    class_id, _weight, body_size, flags = _CONTENT_PREFIX.unpack_from(payload, 0)
    if flags & 0x0003:
        raise ValueError("unsupported property flags")
    pos, end = 14, len(payload)
    delivery_mode, priority, expiration, user_id, expiration_error = 0, None, None, None, None
    plan = _PLANS.get(flags)
    if plan is None:
        plan = _PLANS[flags] = tuple((bit, kind) for bit, kind in LAYOUT if flags & bit)
    for bit, kind in plan:
        if pos >= end:
            raise ValueError("property list is truncated")
        if kind == "s":
            stop = pos + 1 + payload[pos]
            if bit == 0x0100:
                text = payload[pos + 1 : stop].decode("utf-8", "replace")
                try:
                    expiration = parse_expiration(text)
                except ValueError as exc:
                    expiration_error = f"invalid expiration '{text}': {exc}"
            elif bit == 0x0010:
                user_id = payload[pos + 1 : stop].decode("utf-8", "replace")
        elif kind == "t":
            if check_headers:
                stop = tables.skip_table(payload, pos, end)
            elif pos + 4 > end:
                raise ValueError("property list is truncated")
            else:
                stop = pos + 4 + int.from_bytes(payload[pos : pos + 4], "big")
        elif kind == "o":
            stop = pos + 1
            if bit == 0x1000:
                delivery_mode = payload[pos]
            else:
                priority = payload[pos]
        else:
            stop = pos + 8
        if stop > end:
            raise ValueError("property list is truncated")
        pos = stop
    if pos != end:
        raise ValueError("trailing bytes after the property list")
    return ContentHeader(class_id, body_size, payload[12:], delivery_mode, priority, expiration, user_id,
                         expiration_error)


def decode_headers(raw_properties: bytes) -> dict[str, Any]:
    """The headers table of a property list ({} when absent)."""
    (flags,) = struct.unpack_from(">H", raw_properties, 0)
    if not flags & HEADERS_FLAG:
        return {}
    pos = 2
    for bit, _kind in LAYOUT[:2]:
        if flags & bit:
            pos += 1 + raw_properties[pos]
    return tables.decode_table(raw_properties, pos)[0]


def encode_properties(props: commands.Basic.Properties) -> bytes:
    """Property bytes (flag word and list) for a message the broker makes itself."""
    return props.marshal()
