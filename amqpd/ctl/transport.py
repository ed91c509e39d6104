"""How amqpctl reaches the broker: the management API over the control socket in the data
directory (no password: the socket's file mode is the guard), or over `--url` with Basic auth.

Failures become CtlErrors with rabbitmqctl's codes: a broker that is not there is 69 with
rabbitmqctl's kind of message (at once: a missing socket file or a refused connection fails
without waiting), no answer within --timeout is 75, and an API error reply is an ApiFailure
the verb maps (or, unmapped, 69 with the broker's reason, as rabbitmqctl's `{:error, _}`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote, urlsplit

import httpx

from amqpd.ctl.exits import CtlError, Exit

PAGE_SIZE = 500  # the API's largest page


class ApiFailure(Exception):
    """An error reply of the API: its status and RabbitMQ's error and reason."""

    def __init__(self, status: int, error: str, reason: Any) -> None:
        super().__init__(status, error, reason)
        self.status = status
        self.error = error
        self.reason = reason


class NotFound(ApiFailure):
    """A 404: the object the path names does not exist (each verb says so in rabbitmqctl's words)."""


@dataclass(frozen=True)
class Target:
    """Where the broker is: a control socket path, or an http(s) URL with credentials."""

    socket: str | None = None
    url: str | None = None

    @property
    def control(self) -> bool:
        """Whether the control-only routes (/control/...) are reachable: on the socket only."""
        return self.socket is not None

    def describe(self) -> str:
        return self.socket if self.socket is not None else _without_credentials(self.url or "")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def segment(name: str) -> str:
    """A path segment as the API wants it: everything escaped, `/` as %2F."""
    return quote(name, safe="")


class Broker:
    """A synchronous client of one broker's API."""

    def __init__(self, target: Target, node: str, timeout: float, operation: str) -> None:
        self.target = target
        self.node = node  # the name used in messages until the broker has told its own
        self.timeout = timeout
        self.operation = operation  # the verb, named in a timeout's message
        if target.socket is not None:
            transport = httpx.HTTPTransport(uds=target.socket)
            self._client = httpx.Client(transport=transport, base_url="http://amqpd", timeout=timeout)
        else:
            parts = urlsplit(target.url or "")
            auth = (parts.username or "", parts.password or "") if parts.username is not None else None
            base = _without_credentials(target.url or "").rstrip("/")
            self._client = httpx.Client(base_url=base, auth=auth, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """The decoded JSON reply (None for an empty one); an error reply raises ApiFailure."""
        if self.target.socket is not None and not os.path.exists(self.target.socket):
            raise self.unreachable("the control socket does not exist")
        try:
            response = self._client.request(method, path, json=body, params=params, headers=headers)
        except httpx.TimeoutException:
            raise CtlError(Exit.TIMEOUT, f"Error: operation {self.operation} on node {self.node} timed out. "
                                         f"Timeout value used: {round(self.timeout * 1000)}") from None
        except httpx.TransportError as exc:
            raise self.unreachable(str(exc) or type(exc).__name__) from None
        if response.status_code >= 400:
            raise _failure(response)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body if body is not None else {})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params or None)

    def exists(self, path: str) -> bool:
        """Whether the object a GET of `path` names exists."""
        try:
            self.get(path)
        except NotFound:
            return False
        return True

    def listing(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list route, a page of PAGE_SIZE at a time (one request for most)."""
        return list(self._pages(path, params))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        number = 1
        while True:
            page = self.get(path, **params, page=number, page_size=PAGE_SIZE)
            if isinstance(page, list):  # a route that does not paginate
                yield from page
                return
            yield from page["items"]
            if number >= page["page_count"]:
                return
            number += 1

    def unreachable(self, cause: str) -> CtlError:
        """rabbitmqctl's message for a node it cannot talk to (exit 69)."""
        return CtlError(Exit.UNAVAILABLE, unreachable_message(self.node, self.target, cause))

    def require_control(self, verb: str) -> None:
        """Refuse a verb that only the node's own operator may run when reaching it over --url."""
        if not self.target.control:
            raise CtlError(Exit.UNAVAILABLE,
                           f"Error: {verb} needs the broker's control socket (run amqpctl on the broker's host "
                           f"with its data directory); it is not available over --url")


def _failure(response: httpx.Response) -> ApiFailure:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = NotFound if response.status_code == 404 else ApiFailure
    return kind(response.status_code, str(body.get("error", "")), body.get("reason", ""))


def unreachable_message(node: str, target: Target, cause: str) -> str:
    how = ("CLI tool cannot open the broker's control socket (e.g. it runs as another user "
           "or with another data directory)" if target.control else
           "CLI tool fails to authenticate with the broker (wrong credentials in --url)")
    return "\n".join([
        f"Error: unable to perform an operation on node '{node}'. "
        "Please see diagnostics information and suggestions below.",
        "",
        "Most common reasons for this are:",
        "",
        " * Target node is unreachable (e.g. due to a wrong --data-dir, --config or --url)",
        f" * {how}",
        " * Target node is not running",
        "",
        "DIAGNOSTICS",
        "===========",
        "",
        f"attempted to contact: [{target.describe()}]",
        "",
        f"{node}:",
        f"  * {cause}",
        "  * suggestion: start the node",
    ])
