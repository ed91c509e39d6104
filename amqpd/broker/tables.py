"""Argument tables as RabbitMQ compares them.

RabbitMQ compares typed values by type class: every integer width is one class, every
floating type another, so ``10`` (any integer encoding) differs from ``10.0`` while a byte 10
equals a long 10. pamqp decodes integers to int and floats to float, which keeps exactly the
distinction that matters.
"""

from __future__ import annotations

import decimal
from typing import Any


def type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
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


def freeze(value: Any) -> Any:
    """A hashable, type-class-aware form of a table value (for binding identity)."""
    if isinstance(value, dict):
        return ("table", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(freeze(v) for v in value))
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return ("longstr", bytes(value))
    return (type_class(value), value)


def same_value(a: Any, b: Any) -> bool:
    """Equality as RabbitMQ's argument equivalence sees it."""
    return freeze(a) == freeze(b)


def render(value: Any) -> str:
    """A value the way RabbitMQ prints it inside reply texts, e.g. ``{long,10}``."""
    kind = type_class(value)
    if kind == "int":
        return f"{{long,{value}}}" if value > 2**31 - 1 or value < -(2**31) else f"{{signedint,{value}}}"
    if kind == "float":
        return f"{{double,{float(value)}}}"
    if kind == "longstr":
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
        return f'{{longstr,<<"{text}">>}}'
    if kind == "bool":
        return f"{{bool,{str(value).lower()}}}"
    if value is None:
        return "none"
    return f"{{{kind},{value!r}}}"
