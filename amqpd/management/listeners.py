"""The ports a node serves, as the management API reports them (kept free of Starlette, which
is only imported once the API gets its first request)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Listener:
    """A port the node serves, as /api/overview and the health checks report it."""

    protocol: str  # RabbitMQ's names: amqp, amqp/ssl, http
    host: str
    port: int
