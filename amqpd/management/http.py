"""Serve the management app with hypercorn's trio worker on sockets the server bound.

The sockets are bound by the caller (so a bind error is reported like the AMQP port's, before
anything starts) and handed to hypercorn; it runs each HTTP connection in its own task of this
trio loop: no thread, no second loop.
"""

from __future__ import annotations

import logging
from typing import Callable, Collection

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from amqpd.broker.node import Node
from amqpd.management.api import Listener
from amqpd.management.app import create_app


async def serve(node: Node, sockets: list[trio.socket.SocketType], listeners: list[Listener],
                alarms: Callable[[], Collection[str]] = frozenset, *,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the API on the given listening sockets until cancelled (they are closed then)."""
    config = Config()
    config.bind = [f"fd://{sock.detach()}" for sock in sockets]
    config.accesslog = None
    config.errorlog = logging.getLogger("amqpd.management.hypercorn")  # its lines, quiet unless configured
    config.include_server_header = False
    await hypercorn_serve(create_app(node, listeners, alarms), config, task_status=task_status)  # type: ignore[arg-type]
