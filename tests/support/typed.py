"""Reading messages with their exact encoding: raw frames, and header tables with field types.

pamqp decodes every integer width to int and drops the order the broker wrote; these helpers keep
both, so tests can compare what amqpd sends byte for byte with what RabbitMQ sends.
"""

from __future__ import annotations

import struct
from typing import Any

from pamqp import commands

from tests.support.raw import RawClient

_SIZES = {b"t": 1, b"b": 1, b"B": 1, b"s": 2, b"u": 2, b"I": 4, b"i": 4, b"l": 8, b"f": 4, b"d": 8,
          b"D": 5, b"T": 8, b"V": 0}
_INTS = {b"b": ">b", b"B": ">B", b"s": ">h", b"u": ">H", b"I": ">i", b"i": ">I", b"l": ">q", b"T": ">Q"}
_LAYOUT = [(0x8000, "s", "content_type"), (0x4000, "s", "content_encoding"), (0x2000, "t", "headers"),
           (0x1000, "o", "delivery_mode"), (0x0800, "o", "priority"), (0x0400, "s", "correlation_id"),
           (0x0200, "s", "reply_to"), (0x0100, "s", "expiration"), (0x0080, "s", "message_id"),
           (0x0040, "q", "timestamp"), (0x0020, "s", "type"), (0x0010, "s", "user_id"),
           (0x0008, "s", "app_id"), (0x0004, "s", "cluster_id")]


def raw_frame(raw: RawClient) -> tuple[int, int, bytes]:
    """The next frame as (type, channel, payload), undecoded."""
    while True:
        if len(raw.buffer) >= 7:
            ftype, channel, size = struct.unpack_from(">BHI", raw.buffer, 0)
            if len(raw.buffer) >= size + 8:
                payload = raw.buffer[7:7 + size]
                raw.buffer = raw.buffer[size + 8:]
                return ftype, channel, payload
        data = raw.sock.recv(65536)
        if not data:
            raise EOFError("socket closed")
        raw.buffer += data


def get_raw(raw: RawClient, queue: str, channel: int = 1, no_ack: bool = True) -> tuple[bytes, bytes] | None:
    """Basic.Get: (property bytes, body) of the message exactly as sent, or None for Get-Empty."""
    raw.send(channel, commands.Basic.Get(queue=queue, no_ack=no_ack))
    _, _, method = raw_frame(raw)
    if method[:4] == struct.pack(">HH", 60, 72):
        return None
    assert method[:4] == struct.pack(">HH", 60, 71), method
    _, _, content_header = raw_frame(raw)
    body_size = struct.unpack_from(">Q", content_header, 4)[0]
    body = b""
    while len(body) < body_size:
        body += raw_frame(raw)[2]
    return content_header[12:], body


def _value(data: bytes, pos: int) -> tuple[tuple[str, Any], int]:
    kind = data[pos:pos + 1]
    pos += 1
    if kind in (b"S", b"x", b"F", b"A"):
        size = struct.unpack_from(">I", data, pos)[0]
        inner = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if kind == b"F":
            return ("F", table(inner)), pos
        if kind == b"A":
            items, at = [], 0
            while at < len(inner):
                item, at = _value(inner, at)
                items.append(item)
            return ("A", items), pos
        return (kind.decode(), inner), pos
    size = _SIZES[kind]
    raw_value = data[pos:pos + size]
    fmt = _INTS.get(kind)
    return (kind.decode(), struct.unpack(fmt, raw_value)[0] if fmt else raw_value), pos + size


def table(data: bytes) -> list[tuple[str, tuple[str, Any]]]:
    """A field table's body as [(key, (type, value))] in wire order; strings stay bytes."""
    out, pos = [], 0
    while pos < len(data):
        key = data[pos + 1:pos + 1 + data[pos]].decode()
        pos += 1 + data[pos]
        value, pos = _value(data, pos)
        out.append((key, value))
    return out


def properties(raw_properties: bytes) -> dict[str, Any]:
    """Each present property by name (headers as a typed table), in wire order."""
    flags = struct.unpack_from(">H", raw_properties, 0)[0]
    out: dict[str, Any] = {}
    pos = 2
    for bit, kind, name in _LAYOUT:
        if not flags & bit:
            continue
        if kind == "s":
            out[name] = raw_properties[pos + 1:pos + 1 + raw_properties[pos]]
            pos += 1 + raw_properties[pos]
        elif kind == "t":
            size = struct.unpack_from(">I", raw_properties, pos)[0]
            out[name] = table(raw_properties[pos + 4:pos + 4 + size])
            pos += 4 + size
        elif kind == "o":
            out[name] = raw_properties[pos]
            pos += 1
        else:
            out[name] = raw_properties[pos:pos + 8]
            pos += 8
    return out


def without_time(value: Any) -> Any:
    """A typed table with every ('T', seconds) timestamp replaced by 'T' (times differ per run)."""
    if isinstance(value, dict):
        return {key: without_time(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_time(item) for item in value]
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == "T":
            return "T"
        return tuple(without_time(item) for item in value)
    return value
