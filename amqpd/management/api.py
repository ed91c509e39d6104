"""The pieces every route uses: the request as handlers see it, JSON bodies, and replies.

Handlers are plain synchronous functions over the broker state: the body is read (awaited)
before one runs, and nothing it does awaits, so a slow HTTP client never holds the broker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping
from urllib.parse import unquote_to_bytes

from starlette.responses import Response

from amqpd.broker import Node
from amqpd.management import lists
from amqpd.management.auth import Caller, Need
from amqpd.management.listeners import Listener
from amqpd.management.errors import bad_request, malformed

if TYPE_CHECKING:
    from amqpd.management.control import NodeControl

_ESCAPES = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass
class Call:
    """One authenticated request, with its path parameters percent-decoded."""

    node: Node
    caller: Caller
    params: dict[str, str]
    query: Mapping[str, str]
    raw_body: bytes = b""
    listeners: list[Listener] = field(default_factory=list)
    alarms: frozenset[str] = frozenset()  # the resource alarms in effect: "memory", "disk"
    headers: Mapping[str, str] = field(default_factory=dict)  # the request's, names in lower case
    control: NodeControl | None = None  # on the control socket: what the server does for its routes

    def body(self) -> dict[str, Any]:
        """The JSON object sent; an empty body or null is {} (RabbitMQ's rules)."""
        text = self.raw_body.strip()
        if not text:
            return {}
        try:
            value = json.loads(text, parse_constant=_not_json)  # NaN and Infinity are not JSON
        except (ValueError, RecursionError):
            raise bad_request("not_json") from None
        if value is None:
            return {}
        if isinstance(value, str):
            raise bad_request("invalid payload: the request body JSON-decoded to a string. "
                              "Is the input doubly-JSON-encoded?")
        if not isinstance(value, dict):
            raise bad_request("not_json")
        return value


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


Handler = Callable[[Call], "Response | Awaitable[Response]"]  # awaitable: control routes that wait (stop_app)


@dataclass(frozen=True)
class Endpoint:
    path: str  # Starlette's pattern, e.g. /api/vhosts/{vhost}
    method: str
    need: Need
    handler: Handler


def decode_segment(raw: str) -> str:
    """One path segment, percent-decoded as cowboy does (a '+' stays a '+'); bad escapes are 400."""
    if _ESCAPES.search(raw):
        raise malformed()
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise malformed() from None


def reply(value: Any, call: Call | None = None, status: int = 200) -> Response:
    """A JSON reply (with `columns` applied when asked)."""
    if call is not None:
        value = lists.columns(value, call.query)
    return Response(json.dumps(value, separators=(",", ":"), allow_nan=False), status, media_type="application/json")


def created(was_created: bool) -> Response:
    """PUT's reply: 201 when the object is new, 204 when it was replaced (no body either way)."""
    return Response(b"", 201 if was_created else 204)


def no_content() -> Response:
    return Response(b"", 204)


def text(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A string field (numbers and booleans sent by form-minded clients become their text)."""
    value = body.get(key, default)
    if value is None:
        raise bad_request(f"[{{key_missing,{key}}}]")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise bad_request(["not_a_string", key])
    return value


def boolean(body: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean field; rabbitmqadmin sends "true"/"false" strings (RabbitMQ's parse_bool)."""
    value = body.get(key, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise bad_request(["not_boolean", value if isinstance(value, (str, int)) else str(value)])


def tags(value: Any) -> list[str]:
    """Tags as a comma string ("a,b") or a list of strings."""
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return [tag.strip() for tag in value if tag.strip()]
    raise bad_request(["invalid_tags", str(value)[:200]])
