"""Serve the management app with hypercorn's trio worker on sockets the server bound.

The sockets are bound by the caller (so a bind error is reported like the AMQP port's, before
anything starts) and handed to hypercorn; it runs each HTTP connection in its own task of this
trio loop: no thread, no second loop.
"""

from __future__ import annotations

import logging
import ssl
import types
from http import HTTPStatus
from typing import Any, Callable, Collection

import h11
import trio
from hypercorn.config import Config
from hypercorn.protocol import h11 as hypercorn_h11
from hypercorn.trio import serve as hypercorn_serve

from amqpd.broker import Node
from amqpd.management.node_control import NodeControl
from amqpd.management.listeners import Listener


def _response_with_reason(**fields: Any) -> h11.Response:
    """h11.Response with the standard reason phrase, which hypercorn leaves empty ("HTTP/1.1 401 ").
    RabbitMQ's status lines carry one and clients show it: amqpstorm's errors read
    "401 Client Error: Unauthorized"; requests' Response.reason is what tools print."""
    if not fields.get("reason"):
        try:
            fields["reason"] = HTTPStatus(fields["status_code"]).phrase.encode("ascii")
        except ValueError:
            pass
    return h11.Response(**fields)


# hypercorn's HTTP/1.1 protocol makes its responses through the h11 module it imported: it is
# given that module's names with Response replaced (hypercorn serves nothing else in amqpd).
hypercorn_h11.h11 = types.SimpleNamespace(  # type: ignore[assignment]
    **{**{name: getattr(h11, name) for name in dir(h11) if not name.startswith("__")},
       "Response": _response_with_reason})


class _AppOnFirstRequest:
    """The Starlette app, built (and Starlette imported) when the first HTTP request arrives: an
    idle broker does not carry it (about 4 MiB of its 38). ASGI lifespan has nothing to start
    or stop, so it is answered here."""

    def __init__(self, node: Node, listeners: list[Listener], alarms: Callable[[], Collection[str]],
                 control: NodeControl | None) -> None:
        self._args = node, listeners, alarms, control
        self._app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if self._app is None:
            from amqpd.management.app import create_app
            self._app = create_app(*self._args)
        await self._app(scope, receive, send)


async def answer_lifespan(receive: Any, send: Any) -> None:
    """ASGI lifespan for apps with nothing to start or stop."""
    while (await receive())["type"] != "lifespan.shutdown":  # startup: nothing to do
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


class _Config(Config):
    """hypercorn's Config with our own SSLContext (the amqps listener's rules: TLS 1.2+, the same
    certificate, verification and CA) instead of one it builds from file names."""

    def __init__(self, tls_context: ssl.SSLContext | None) -> None:
        super().__init__()
        self._tls_context = tls_context

    @property
    def ssl_enabled(self) -> bool:
        return self._tls_context is not None

    def create_ssl_context(self) -> ssl.SSLContext | None:
        return self._tls_context


async def serve(node: Node, sockets: list[trio.socket.SocketType], listeners: list[Listener],
                alarms: Callable[[], Collection[str]] = frozenset, *, control: NodeControl | None = None,
                tls_sockets: list[trio.socket.SocketType] | None = None, tls_context: ssl.SSLContext | None = None,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the API on the given listening sockets (and over TLS on tls_sockets, with
    tls_context) until cancelled (they are closed then). With `control`, the sockets are the
    control socket: the operator's API, no password asked, with the control routes."""
    await serve_app(_AppOnFirstRequest(node, listeners, alarms, control), sockets, tls_sockets=tls_sockets or [],
                    tls_context=tls_context, task_status=task_status)


async def serve_app(app: Any, sockets: list[trio.socket.SocketType], *,
                    tls_sockets: list[trio.socket.SocketType] = (), tls_context: ssl.SSLContext | None = None,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve an ASGI app with hypercorn on the given listening sockets until cancelled."""
    config = _Config(tls_context if tls_sockets else None)
    plain = [f"fd://{sock.detach()}" for sock in sockets]
    if config.ssl_enabled:
        config.bind = [f"fd://{sock.detach()}" for sock in tls_sockets]
        config.insecure_bind = plain
    else:
        config.bind = plain
    config.accesslog = None
    config.errorlog = logging.getLogger("amqpd.management.hypercorn")  # its lines, quiet unless configured
    config.include_server_header = False
    await hypercorn_serve(app, config, task_status=task_status)
