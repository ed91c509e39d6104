"""The management API as an ASGI app: RabbitMQ's routes, auth and error bodies over the node.

Routing is on the raw path (RabbitMQ's clients send the `/` vhost as %2F, which a decoded path
would split), with one trailing slash dropped and each segment percent-decoded in the endpoint.
Any client input ends in one of RabbitMQ's replies; an unexpected exception is logged in one
line and answered with an empty 500, as RabbitMQ answers its own crashes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Collection

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amqpd.broker import Node
from amqpd.management import (bindings, connections, definitions, exchanges, health, overview, policies, queues,
                              topic_permissions, users, vhosts)
from amqpd.management import console, inspect
from amqpd.management import control as control_routes
from amqpd.management.node_control import NodeControl
from amqpd.management.api import Call, Endpoint, decode_segment
from amqpd.management.listeners import Listener
from amqpd.management.auth import authenticate, authorize
from amqpd.management.errors import ApiError, bad_request, not_authorised, not_found
from amqpd.protocol import errors

log = structlog.get_logger("amqpd.management")

ENDPOINTS: list[Endpoint] = [*overview.ENDPOINTS, *vhosts.ENDPOINTS, *users.ENDPOINTS, *health.ENDPOINTS,
                             *policies.ENDPOINTS]
ENDPOINTS += [*queues.ENDPOINTS, *exchanges.ENDPOINTS, *bindings.ENDPOINTS, *connections.ENDPOINTS]
ENDPOINTS += topic_permissions.ENDPOINTS
ENDPOINTS += definitions.ENDPOINTS
ENDPOINTS += inspect.ENDPOINTS
MAX_BODY = 20_000_000  # bytes; RabbitMQ's default management max body size


class RawPath:
    """ASGI middleware: route on the undecoded path, without one trailing slash (cowboy's rules).

    The request body is read whole (up to MAX_BODY) before the app answers: hypercorn keeps a
    connection alive only when the request was read to its end by the time the response ends,
    so a 404 or 405 answered early would otherwise close the connection under a keep-alive client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > MAX_BODY
        body = None if too_large else await _read_body(receive)
        if body is None:
            await ApiError(413, "bad_request", "request body too large", {"connection": "close"}).response()(
                scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "path": path, "root_path": ""}, replay, send)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@dataclass(frozen=True)
class Served:
    """What one app serves: the node, the ports it reports, the alarms in effect, and on the
    control socket the server's NodeControl (whose presence also means: no password asked)."""

    node: Node
    listeners: list[Listener]
    alarms: Callable[[], Collection[str]] = frozenset
    control: NodeControl | None = None


def create_app(node: Node, listeners: list[Listener], alarms: Callable[[], Collection[str]] = frozenset,
               control: NodeControl | None = None) -> ASGIApp:
    """The API over a node; `listeners` are the ports it serves, `alarms` what alarms are on.
    With `control` it is the control socket's app: the operator's, with the control routes."""
    served = Served(node, listeners, alarms, control)
    by_path: dict[str, dict[str, Endpoint]] = defaultdict(dict)
    for endpoint in ENDPOINTS + (control_routes.ENDPOINTS if control is not None else []):
        by_path[endpoint.path][endpoint.method] = endpoint
    routes = [Route(path, _dispatcher(served, methods), methods=[*methods, "OPTIONS"])
              for path, methods in by_path.items()]
    # the console's files after the API's routes: /api/... keeps its own routes and 404 bodies
    app = Starlette(routes=[*routes, *console.routes()], exception_handlers={HTTPException: _http_error})
    return RawPath(app)


def _allow(methods: Collection[str]) -> str:
    allowed = set(methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    return ", ".join(sorted(allowed))


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals in RabbitMQ's shapes: no route is 404, a wrong method 405."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return Response(b"", 405, headers=exc.headers)
    if exc.status_code == 404:
        return not_found().response()
    return Response(b"", exc.status_code)


def _dispatcher(served: Served, methods: dict[str, Endpoint]) -> Callable[[Request], Any]:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":
            return Response(b"", 200, headers={"allow": _allow(methods)})
        endpoint = methods[method]
        try:
            raw_body = await request.body()  # read whole, and bounded, by RawPath
            response = _run(served, endpoint, request, raw_body)
            return response if isinstance(response, Response) else await response
        except ApiError as exc:
            return exc.response()
        except Exception as exc:  # a bug of ours: one line, no traceback, RabbitMQ's empty 500
            log.error("management API request failed", method=request.method, route=endpoint.path,
                      error=f"{type(exc).__name__}: {exc}"[:200])
            return Response(b"", 500)
    return dispatch


def _run(served: Served, endpoint: Endpoint, request: Request, raw_body: bytes) -> Response | Awaitable[Response]:
    """Authenticate, authorise and run the handler; synchronous, so the broker is not interleaved."""
    node = served.node
    params = {key: decode_segment(value) for key, value in request.path_params.items()}
    if served.control is not None:
        caller = control_routes.OPERATOR
    else:
        caller = authenticate(node, request.headers.get("authorization"),
                              request.client.host if request.client else None)
    authorize(caller, node, endpoint.need, params.get("vhost"))
    call = Call(node, caller, params, request.query_params, raw_body, served.listeners, frozenset(served.alarms()),
                request.headers, served.control)
    try:
        return endpoint.handler(call)
    except errors.AMQPError as exc:
        raise _from_amqp(exc) from None


def _from_amqp(exc: errors.AMQPError) -> ApiError:
    """An AMQP error met while acting for the caller, as RabbitMQ's API maps it."""
    if exc.code == errors.NOT_FOUND:
        return not_found()
    if exc.code == errors.ACCESS_REFUSED:
        return not_authorised("Access refused.")
    return bad_request(exc.text.partition(" - ")[2] or exc.text)
