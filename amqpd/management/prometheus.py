"""RabbitMQ's Prometheus endpoint (rabbitmq_prometheus, port 15692) as a small ASGI app.

GET /metrics (aggregated), /metrics/per-object and /metrics/detailed?family=F&vhost=V (each
repeatable), without auth, in text format 0.0.4, as RabbitMQ serves them; any other path is
RabbitMQ's 404 "Unknown Registry", another method a 405. prometheus_client and the collectors
(metrics.py) are imported at the first scrape, so an idle broker does not carry them.
"""

from __future__ import annotations

from typing import Any, Callable, Collection
from urllib.parse import parse_qs

import trio

from amqpd.broker import Node
from amqpd.management.http import answer_lifespan, serve_app

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"  # prometheus_client's CONTENT_TYPE_PLAIN_0_0_4
ENDPOINTS = {"/metrics": "aggregated", "/metrics/per-object": "per-object", "/metrics/detailed": "detailed"}


class PrometheusApp:
    """The three endpoints over one node; alarms() names the resource alarms in effect."""

    def __init__(self, node: Node, alarms: Callable[[], Collection[str]]) -> None:
        self.node = node
        self.alarms = alarms

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        endpoint = ENDPOINTS.get(scope["path"].rstrip("/") or "/")
        if endpoint is None:
            await _reply(send, 404, b"Unknown Registry", b"text/plain")
        elif scope["method"] not in ("GET", "HEAD"):
            await _reply(send, 405, b"", b"text/plain", [(b"allow", b"GET, HEAD")])
        else:
            from amqpd.management.metrics import render

            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            groups = query.get("family", []) if endpoint == "detailed" else None
            vhosts = query.get("vhost") if endpoint == "detailed" else None
            body = render(self.node, self.alarms(), endpoint, groups, vhosts)
            await _reply(send, 200, body, CONTENT_TYPE)


async def _reply(send: Any, status: int, body: bytes, content_type: bytes,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def serve(node: Node, sockets: list[trio.socket.SocketType], alarms: Callable[[], Collection[str]], *,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the metrics on the given listening sockets until cancelled."""
    await serve_app(PrometheusApp(node, alarms), sockets, task_status=task_status)
