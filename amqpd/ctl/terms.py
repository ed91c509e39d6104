"""Values as rabbitmqctl's table formatter prints them: Erlang terms without spaces.

AMQP tables (queue arguments, client_properties) print as proplists `[{"key",value}]` with
strings double-quoted, lists as `[a,b]`, booleans as `true`/`false`; tags as a list of atoms
`[administrator]`; the AMQP protocol version as `{0,9,1}`; processes as pids
`<node.N.N.0>`. amqpd has no Erlang processes, so `pid` derives a stable pid-shaped token
from the object's name (and `pid_matches` finds the object back from it).
"""

from __future__ import annotations

import json
import zlib
from typing import Any


def cell(value: Any) -> str:
    """A top-level table cell: strings raw, nothing as nothing, structures as Erlang terms."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return term(value)


def term(value: Any) -> str:
    """A nested value as an Erlang term (strings quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "undefined"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "[" + ",".join("{" + term(str(key)) + "," + term(item) + "}" for key, item in value.items()) + "]"
    if isinstance(value, list):
        return "[" + ",".join(term(item) for item in value) + "]"
    return str(value)


def atoms(names: list[str] | str) -> str:
    """A list of atoms (user tags): `[administrator,impersonator]`."""
    if isinstance(names, str):
        names = [name for name in names.split(",") if name]
    return "[" + ",".join(names) + "]"


def protocol(text: str | None) -> str:
    """The API's "AMQP 0-9-1" as rabbitmqctl's {0,9,1}."""
    version = (text or "").rpartition(" ")[2]
    return "{" + ",".join(version.split("-")) + "}" if version else ""


def pid(node: str, name: str, number: int = 0) -> str:
    """A pid-shaped token for the connection or channel called `name` on `node`: no tab, no
    quote, so test suites can pass it back to close_connection through a shell."""
    return f"<{node}.{zlib.crc32(name.encode())}.{number}.0>"


def json_text(value: Any) -> str:
    """A JSON value compact, as rabbitmqctl prints limits: {"max-connections":10}."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
