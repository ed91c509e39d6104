"""Editing a message's raw property bytes: its headers table, expiration and reply_to.

Only messages the broker changes pass through here (dead-lettered ones, those published with
a BCC header, and direct reply-to requests). Everything it does not touch keeps its exact
encoding: the other properties, and each header value with its original field type, as
RabbitMQ's decode/re-encode preserves them.
"""

from __future__ import annotations

import struct
from typing import Any

from amqpd.protocol import HEADERS_FLAG, LAYOUT, tables

EXPIRATION_FLAG = 0x0100
REPLY_TO_FLAG = 0x0200
_U32 = struct.Struct(">I")

Field = tuple[bytes, bytes]  # key, encoded value (type octet and payload)


def _field_size(raw: bytes, pos: int, kind: str) -> int:
    if kind == "s":
        return 1 + raw[pos]
    if kind == "t":
        return 4 + _U32.unpack_from(raw, pos)[0]
    return 1 if kind == "o" else 8


class Properties:
    """Property bytes opened for editing: the flag word and each present property's encoding."""

    def __init__(self, raw: bytes) -> None:
        (self.flags,) = struct.unpack_from(">H", raw, 0)
        self.encoded: dict[int, bytes] = {}
        pos = 2
        for bit, kind in LAYOUT:
            if self.flags & bit:
                size = _field_size(raw, pos, kind)
                self.encoded[bit] = raw[pos:pos + size]
                pos += size

    @property
    def headers(self) -> list[Field]:
        table = self.encoded.get(HEADERS_FLAG)
        return table_fields(table) if table is not None else []

    @headers.setter
    def headers(self, fields: list[Field]) -> None:
        self.encoded[HEADERS_FLAG] = encode_table(fields)
        self.flags |= HEADERS_FLAG

    @property
    def expiration(self) -> str | None:
        value = self.encoded.get(EXPIRATION_FLAG)
        return value[1:].decode("utf-8", "replace") if value is not None else None

    @property
    def reply_to(self) -> str | None:
        value = self.encoded.get(REPLY_TO_FLAG)
        return value[1:].decode("utf-8", "replace") if value is not None else None

    @reply_to.setter
    def reply_to(self, name: str) -> None:
        raw = name.encode("utf-8")
        self.encoded[REPLY_TO_FLAG] = bytes((len(raw),)) + raw
        self.flags |= REPLY_TO_FLAG

    def drop_expiration(self) -> None:
        self.encoded.pop(EXPIRATION_FLAG, None)
        self.flags &= ~EXPIRATION_FLAG

    def encode(self) -> bytes:
        parts = [struct.pack(">H", self.flags)]
        parts.extend(self.encoded[bit] for bit, _ in LAYOUT if bit in self.encoded)
        return b"".join(parts)


def table_fields(table: bytes) -> list[Field]:
    """The fields of an encoded table (4-byte length first), values left encoded."""
    end = 4 + _U32.unpack_from(table, 0)[0]
    pos, fields = 4, []
    while pos < end:
        key = table[pos + 1:pos + 1 + table[pos]]
        pos += 1 + table[pos]
        stop = tables.skip_value(table, pos, end)
        fields.append((key, table[pos:stop]))
        pos = stop
    return fields


def encode_table(fields: list[Field]) -> bytes:
    body = b"".join(bytes([len(key)]) + key + value for key, value in fields)
    return _U32.pack(len(body)) + body


def lookup(fields: list[Field], key: bytes) -> bytes | None:
    return next((value for k, value in fields if k == key), None)


def value(encoded: bytes) -> Any:
    """The decoded value of an encoded field value."""
    return tables.decode_value(encoded, 0, len(encoded))[0]


def array_items(encoded: bytes) -> list[bytes]:
    """The encoded items of an encoded array value ('A' first)."""
    end = 5 + _U32.unpack_from(encoded, 1)[0]
    pos, items = 5, []
    while pos < end:
        stop = tables.skip_value(encoded, pos, end)
        items.append(encoded[pos:stop])
        pos = stop
    return items


def longstr(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"S" + _U32.pack(len(data)) + data


def long(number: int) -> bytes:
    return b"l" + struct.pack(">q", number)


def timestamp(seconds: int) -> bytes:
    return b"T" + struct.pack(">Q", seconds)


def array(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return b"A" + _U32.pack(len(body)) + body


def table(fields: list[Field]) -> bytes:
    return b"F" + encode_table(fields)


def set_field(fields: list[Field], key: bytes, encoded: bytes) -> list[Field]:
    """RabbitMQ's set_table_value: replace or add the field, then sort the table by key."""
    return sorted(_replace_first(fields, key, encoded), key=lambda field: field[0])


def _replace_first(fields: list[Field], key: bytes, encoded: bytes) -> list[Field]:
    """lists:keystore: the first field with the key takes the new value, or it is appended."""
    for index, (k, _) in enumerate(fields):
        if k == key:
            return fields[:index] + [(key, encoded)] + fields[index + 1:]
    return fields + [(key, encoded)]
