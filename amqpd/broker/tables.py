"""Argument tables as RabbitMQ compares and prints them.

RabbitMQ compares typed values by type class: every integer width is one class, every
floating type another, so ``10`` (any integer encoding) differs from ``10.0`` while a byte 10
equals a long 10; a timestamp is a class of its own. protocol.tables decodes every integer
width to int, 'f' to Float32 and 'd' to float, and 'T' to Timestamp, which keeps exactly the
distinctions that matter for comparing.

Printing is another matter: RabbitMQ names the wire type in some texts (``of type 'signedint'``)
and the decoded int does not keep it. ``field_type`` names an integer's type the way pika
encodes it (int32 range as signedint, beyond as long), the most common client's encoding.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Mapping

from amqpd.protocol import Float32, Timestamp


def type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (Timestamp, datetime.datetime)):
        return "timestamp"
    if isinstance(value, int):
        return "int"
    if isinstance(value, (float, decimal.Decimal)):
        return "float"
    if isinstance(value, (str, bytes, bytearray)):
        return "longstr"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    if value is None:
        return "void"
    return type(value).__name__


def freeze(value: Any) -> tuple[Any, ...]:
    """A hashable, type-class-aware form of a table value (for binding identity).

    A flat tuple (containers as their kind and size, then their sorted keys and values), made
    without recursion: nested tuples would fail to compare beyond Python's recursion limit,
    and RabbitMQ takes tables nested as deep as a frame holds.
    """
    out: list[Any] = []
    pending: list[tuple[bool, Any]] = [(False, value)]  # (is a key to emit as it is, item)
    while pending:
        is_key, item = pending.pop()
        if is_key:
            out.append(item)
        elif isinstance(item, dict):
            out += ("table", len(item))
            for key in sorted(item, reverse=True):
                pending += ((False, item[key]), (True, key))
        elif isinstance(item, (list, tuple)):
            out += ("array", len(item))
            pending += ((False, v) for v in reversed(item))
        else:
            out += _frozen_scalar(item)
    return tuple(out)


def _frozen_scalar(value: Any) -> tuple[str, Any]:
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return ("longstr", bytes(value))
    return (type_class(value), value)


def same_value(a: Any, b: Any) -> bool:
    """Equality as RabbitMQ's argument equivalence sees it."""
    return freeze(a) == freeze(b)


def field_type(value: Any) -> str:
    """RabbitMQ's name for a decoded value's field type (integer width as pika encodes it)."""
    if value is None:
        return "void"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, int):
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, Float32):
        return "float"
    if isinstance(value, float):
        return "double"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, (str, bytes)):
        return "longstr"
    if isinstance(value, (bytearray, memoryview)):
        return "binary"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def text(value: Any) -> str:
    """A value as RabbitMQ prints an argument in reply texts: binaries raw (~s), others as ~p."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return erl_term(value)


_ERL_ESCAPES = {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\v"): "\\v",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    27: "\\e",
}


def _erl_binary(raw: bytes) -> str:
    """Render a binary as Erlang's ~tp does: <<"text">>, <<"text"/utf8>> or <<1,2,3>>."""
    if not raw:
        return "<<>>"
    try:
        decoded: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and all(c.isprintable() or ord(c) in _ERL_ESCAPES for c in decoded):
        body = "".join(_ERL_ESCAPES.get(ord(c), c) for c in decoded)
        suffix = "" if decoded.isascii() else "/utf8"
        return f'<<"{body}"{suffix}>>'
    return "<<" + ",".join(str(b) for b in raw) + ">>"


def _erl_float(value: float) -> str:
    """Erlang's ~p of a float: the shortest round-trip digits, in scientific form only when
    that is strictly shorter (100.0, 1.0e3, 3.6e6, 0.0001, 1.5e-7)."""
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len("".join(map(str, digit_tuple))) - len(digits)  # type: ignore[operator]
    minus = "-" if sign else ""
    scientific = f"{minus}{digits[0]}.{digits[1:] or '0'}e{exponent + len(digits) - 1}"
    point = len(digits) + exponent  # type: ignore[operator]
    if exponent >= 0:  # type: ignore[operator]
        fixed = f"{minus}{digits}{'0' * exponent}.0"
    elif point > 0:
        fixed = f"{minus}{digits[:point]}.{digits[point:]}"
    else:
        fixed = f"{minus}0.{'0' * -point}{digits}"
    return scientific if len(scientific) < len(fixed) else fixed


def erl_term(value: Any) -> str:
    """A decoded field value printed roughly as RabbitMQ's ~p prints the Erlang term.

    Tables and arrays are walked with an explicit stack: a value can nest as deep as a frame
    holds, and a reply text quoting it must not fail.
    """
    out: list[str] = []
    pending: list[tuple[bool, Any]] = [(False, value)]  # (is literal text, item)
    while pending:
        literal, item = pending.pop()
        if literal:
            out.append(item)
        elif isinstance(item, (Mapping, list, tuple)):
            entries = item.items() if isinstance(item, Mapping) else ((None, v) for v in item)
            parts: list[tuple[bool, Any]] = [(True, "[")]
            for index, (key, v) in enumerate(entries):
                name = "" if key is None else _scalar_term(str(key)) + ","
                parts += [(True, ("," if index else "") + "{" + name + field_type(v) + ","), (False, v), (True, "}")]
            parts.append((True, "]"))
            pending += reversed(parts)
        else:
            out.append(_scalar_term(item))
    return "".join(out)


def _scalar_term(value: Any) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _erl_float(value)
    if isinstance(value, decimal.Decimal):
        sign, digits, exponent = value.as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        scale = -exponent if isinstance(exponent, int) else 0
        return f"{{{scale},{unscaled}}}"
    if isinstance(value, str):  # a key that is not UTF-8 was decoded with surrogate escapes
        return _erl_binary(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _erl_binary(bytes(value))
    if isinstance(value, datetime.datetime):
        return str(int(value.timestamp()))
    return repr(value)
