"""AMQP 0-9-1 field tables and arrays: the one codec every table in the broker goes through.

Decoding walks an explicit stack over offsets into the input: no recursion, so any nesting a
frame can hold decodes (RabbitMQ accepts thousands of levels), and no slice of the remaining
input, so the cost is linear in its size. Every malformed input raises TableError. The field
types are RabbitMQ's (its parser accepts 'L' as a 64-bit integer, and refuses pamqp's '\\0').

Decoded values keep the type classes RabbitMQ compares: every integer width is an int; 'f' is
a Float32 and 'd' a float; 'D' a Decimal; 'T' a Timestamp (the exact 64-bit value); 'x' a
bytearray; 'S' a str, or bytes when it is not UTF-8; 'V' None; 't' a bool; 'F' a dict and 'A'
a list. Keys that are not UTF-8 decode with surrogate escapes. Encoding gives those values back
their type octets, so decode then encode returns the input, except that an integer takes the
smallest width that holds it.

``skip_table`` checks a table without building anything, for the per-message path.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any, Iterable, Mapping

_U32 = struct.Struct(">I")
_U32_AT = _U32.unpack_from
_DECIMAL = struct.Struct(">BI")
_DECIMAL_SIGNED = struct.Struct(">Bi")

# fixed-size field types: type octet -> payload size (the void types have none)
_SIZES = {ord(k): n for k, n in (
    ("t", 1), ("b", 1), ("B", 1), ("s", 2), ("u", 2), ("I", 4), ("i", 4), ("l", 8), ("L", 8),
    ("f", 4), ("d", 8), ("D", 5), ("T", 8), ("V", 0))}
_LONG = frozenset(b"Sx")  # 4-byte length, then that many octets
_NESTED = frozenset(b"FA")
_TABLE, _ARRAY, _LONGSTR, _BYTES = ord("F"), ord("A"), ord("S"), ord("x")


class TableError(ValueError):
    """A field table or array that does not parse."""


class Float32(float):
    """A value that came as 'f' (32-bit float): RabbitMQ compares it as a float, and it goes
    back out as 'f'."""

    __slots__ = ()


class Timestamp(int):
    """A value that came as 'T': seconds since the epoch, kept as the exact unsigned 64-bit
    number (no date conversion can fail or round it)."""

    __slots__ = ()


def _scalars() -> dict[int, Any]:
    """Type octet -> function(buffer, offset) -> value, for the fixed-size types."""
    def unpacker(fmt: str, wrap: Any = None) -> Any:
        unpack = struct.Struct(fmt).unpack_from
        if wrap is None:
            return lambda buf, pos: unpack(buf, pos)[0]
        return lambda buf, pos: wrap(unpack(buf, pos)[0])

    def decimal_value(buf: bytes, pos: int) -> decimal.Decimal:
        scale, unscaled = _DECIMAL.unpack_from(buf, pos)
        return decimal.Decimal(unscaled).scaleb(-scale)

    return {
        ord("t"): lambda buf, pos: buf[pos] != 0,
        ord("b"): unpacker(">b"), ord("B"): unpacker(">B"), ord("s"): unpacker(">h"), ord("u"): unpacker(">H"),
        ord("I"): unpacker(">i"), ord("i"): unpacker(">I"), ord("l"): unpacker(">q"), ord("L"): unpacker(">q"),
        ord("f"): unpacker(">f", Float32), ord("d"): unpacker(">d"), ord("D"): decimal_value,
        ord("T"): unpacker(">Q", Timestamp), ord("V"): lambda buf, pos: None,
    }


_SCALARS = _scalars()


def _long_string(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _container_end(buf: bytes, pos: int, end: int) -> int:
    """The end of the table or array whose 4-byte length is at pos, checked against end."""
    if pos + 4 > end:
        raise TableError("table length is truncated")
    stop = pos + 4 + _U32.unpack_from(buf, pos)[0]
    if stop > end:
        raise TableError("table is longer than the data around it")
    return stop


def decode_table(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[dict[str, Any], int]:
    """The table at offset (its 4-byte length first) and the offset just after it."""
    buf = data if isinstance(data, bytes) else bytes(data)
    root: dict[str, Any] = {}
    stop = _container_end(buf, offset, len(buf))
    _decode(buf, offset + 4, stop, root)
    return root, stop


def _decode(buf: bytes, pos: int, end: int, root: dict[str, Any] | list[Any]) -> None:
    """Fill root with the fields in buf[pos:end]; nested containers go on an explicit stack."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(root, end)]
    container: Any = root
    scalars, sizes = _SCALARS, _SIZES
    while True:
        if pos == end:
            stack.pop()
            if not stack:
                return
            container, end = stack[-1]
            continue
        key = None
        if type(container) is dict:
            key_end = pos + 1 + buf[pos]
            if key_end >= end:
                raise TableError("field name or type overruns the table")
            key = buf[pos + 1:key_end].decode("utf-8", "surrogateescape")
            pos = key_end
        kind = buf[pos]
        pos += 1
        size = sizes.get(kind)
        if size is not None:
            if pos + size > end:
                raise TableError(f"field of type {chr(kind)!r} is truncated")
            value = scalars[kind](buf, pos)
            pos += size
        elif kind in _LONG:
            stop = _container_end(buf, pos, end)
            raw = buf[pos + 4:stop]
            value = _long_string(raw) if kind == _LONGSTR else bytearray(raw)
            pos = stop
        elif kind in _NESTED:
            stop = _container_end(buf, pos, end)
            value = {} if kind == _TABLE else []
            pos += 4
        else:
            raise TableError(f"unknown field type {kind!r}")
        if key is None:
            container.append(value)
        else:
            container[key] = value
        if kind in _NESTED:
            stack.append((value, stop))
            container, end = value, stop


# what follows a type octet, for the walker: a fixed size (>= 0) or one of these
_STEP_LONG, _STEP_TABLE, _STEP_ARRAY, _STEP_UNKNOWN = -1, -2, -3, -4
_STEPS = [_STEP_UNKNOWN] * 256
for _kind, _size in _SIZES.items():
    _STEPS[_kind] = _size
_STEPS[_LONGSTR] = _STEPS[_BYTES] = _STEP_LONG
_STEPS[_TABLE], _STEPS[_ARRAY] = _STEP_TABLE, _STEP_ARRAY


def skip_table(data: bytes, offset: int, end: int, is_table: bool = True) -> int:
    """Check that a table (or with is_table=False an array) starts at offset, its 4-byte length
    first, and ends by end, building nothing; the offset after it.

    The per-message check of a content header's headers table: it raises TableError exactly
    where decode_table would. An overrun is found when its container ends.
    """
    if offset + 4 > end:
        raise TableError("table length is truncated")
    u32 = _U32_AT
    pos = offset + 4
    stop = pos + u32(data, offset)[0]
    if stop > end:
        raise TableError("table is longer than the data around it")
    end = stop
    stack: list[tuple[int, bool]] | None = None  # the containers around the current one
    steps = _STEPS
    while True:
        while pos < end:
            if is_table:
                pos += 1 + data[pos]
                if pos >= end:
                    raise TableError("field name or type overruns the table")
            step = steps[data[pos]]
            pos += 1
            if step >= 0:
                pos += step
            elif step == _STEP_LONG:
                if pos + 4 > end:
                    raise TableError("long string length is truncated")
                pos += 4 + u32(data, pos)[0]
            elif step == _STEP_UNKNOWN:
                raise TableError(f"unknown field type {data[pos - 1]!r}")
            else:
                inner = _container_end(data, pos, end)
                if stack is None:
                    stack = []
                stack.append((end, is_table))
                end, is_table, pos = inner, step == _STEP_TABLE, pos + 4
        if pos > end:
            raise TableError("a field overruns its table or array")
        if not stack:
            return stop
        end, is_table = stack.pop()


def skip_value(data: bytes, offset: int, end: int) -> int:
    """The offset after the encoded field value (type octet first) at offset."""
    if offset >= end:
        raise TableError("field value is missing")
    kind = data[offset]
    size = _SIZES.get(kind)
    if size is not None:
        if offset + 1 + size > end:
            raise TableError(f"field of type {chr(kind)!r} is truncated")
        return offset + 1 + size
    if kind in _LONG:
        return _container_end(data, offset + 1, end)
    if kind in _NESTED:
        return skip_table(data, offset + 1, end, kind == _TABLE)
    raise TableError(f"unknown field type {kind!r}")


def decode_value(data: bytes, offset: int, end: int) -> tuple[Any, int]:
    """The encoded field value (type octet first) at offset, and the offset after it."""
    if offset >= end:
        raise TableError("field value is missing")
    kind = data[offset]
    if kind in _NESTED:
        root: Any = {} if kind == _TABLE else []
        stop = _container_end(data, offset + 1, end)
        _decode(data, offset + 5, stop, root)
        return root, stop
    stop = skip_value(data, offset, end)
    if kind in _LONG:
        raw = bytes(data[offset + 5:stop])
        return (_long_string(raw) if kind == _LONGSTR else bytearray(raw)), stop
    return _SCALARS[kind](data, offset + 1), stop


# -- encoding ------------------------------------------------------------------------------


def encode_table(table: Mapping[str, Any], store_form: bool = False) -> bytes:
    """A table (4-byte length first). With store_form, keys are sorted at every level and
    every float is written as a double: the form the store keeps (equal tables, equal bytes)."""
    out = bytearray()
    _encode(out, table, store_form)
    return bytes(out)


def _items(container: Any, store_form: bool) -> Iterable[tuple[str | None, Any]]:
    if isinstance(container, Mapping):
        keys = sorted(container) if store_form else container
        return ((key, container[key]) for key in keys)
    return ((None, item) for item in container)


def _encode(out: bytearray, root: Any, store_form: bool) -> None:
    """Append root (a mapping or a sequence) as a table or array body with its length.

    Nested containers go on an explicit stack of (items left, where its length goes)."""
    stack = [(iter(_items(root, store_form)), len(out))]
    out += b"\0\0\0\0"
    while stack:
        items, length_at = stack[-1]
        for key, value in items:
            if key is not None:
                raw_key = key.encode("utf-8", "surrogateescape")
                if len(raw_key) > 255:
                    raise TableError(f"field name longer than 255 bytes: {key[:40]!r}...")
                out.append(len(raw_key))
                out += raw_key
            if isinstance(value, (Mapping, list, tuple)):
                out.append(_TABLE if isinstance(value, Mapping) else _ARRAY)
                stack.append((iter(_items(value, store_form)), len(out)))
                out += b"\0\0\0\0"
                break
            out += _scalar(value, store_form)
        else:
            stack.pop()
            _U32.pack_into(out, length_at, len(out) - length_at - 4)


def _scalar(value: Any, store_form: bool) -> bytes:
    if value is None:
        return b"V"
    if isinstance(value, bool):
        return b"t\x01" if value else b"t\x00"
    if isinstance(value, Timestamp):
        return b"T" + struct.pack(">Q", value)
    if isinstance(value, int):
        return _integer(value)
    if isinstance(value, Float32) and not store_form:
        return b"f" + struct.pack(">f", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">d", value)
    if isinstance(value, decimal.Decimal):
        return b"D" + _decimal(value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return b"S" + _U32.pack(len(raw)) + raw
    if isinstance(value, bytes):
        return b"S" + _U32.pack(len(value)) + value
    if isinstance(value, (bytearray, memoryview)):
        return b"x" + _U32.pack(len(value)) + bytes(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return b"T" + struct.pack(">Q", int(value.timestamp()))
    raise TableError(f"cannot encode a {type(value).__name__} in a field table")


_INTEGER_TYPES = (
    (-(2**7), 2**7 - 1, b"b", struct.Struct(">b")), (-(2**15), 2**15 - 1, b"s", struct.Struct(">h")),
    (0, 2**16 - 1, b"u", struct.Struct(">H")), (-(2**31), 2**31 - 1, b"I", struct.Struct(">i")),
    (0, 2**32 - 1, b"i", struct.Struct(">I")), (-(2**63), 2**63 - 1, b"l", struct.Struct(">q")),
)


def _integer(value: int) -> bytes:
    """The smallest width that holds the value, in the order pamqp picks (the store's bytes)."""
    for low, high, kind, packer in _INTEGER_TYPES:
        if low <= value <= high:
            return kind + packer.pack(value)
    raise TableError(f"integer out of the 64-bit range: {value}")


def _decimal(value: decimal.Decimal) -> bytes:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise TableError(f"cannot encode {value} as a decimal")
    scale = max(0, -exponent)
    unscaled = int(value.scaleb(scale))
    if not 0 <= scale <= 255:
        raise TableError(f"decimal scale out of range: {value}")
    if 0 <= unscaled < 2**32:
        return _DECIMAL.pack(scale, unscaled)
    if -(2**31) <= unscaled < 0:
        return _DECIMAL_SIGNED.pack(scale, unscaled)
    raise TableError(f"decimal out of range: {value}")
