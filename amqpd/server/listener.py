"""The TCP listener: accepts sockets, runs a ClientSession for each, shuts down gracefully."""

from __future__ import annotations

import structlog
import trio

from amqpd.broker.node import Node
from amqpd.protocol import errors
from amqpd.server.alarms import MemoryAlarm
from amqpd.server.client import ClientSession

log = structlog.get_logger("amqpd.server")


class Server:
    """One node served on one TCP address."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.alarm = MemoryAlarm(node)
        self.port: int | None = None

    async def _handle(self, stream: trio.SocketStream) -> None:
        await ClientSession(self.node, stream, self.alarm).run()

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; reports the bound port through task_status."""
        settings = self.node.settings
        listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
        self.port = listeners[0].socket.getsockname()[1]
        log.info(f"Server startup complete; listening on amqp://{settings.host}:{self.port}",
                 host=settings.host, port=self.port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.alarm.run)
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)
            await trio.sleep_forever()

    def close_all(self, reason: str = "shutdown") -> None:
        """Tell every client the broker is going away (320 CONNECTION_FORCED), like RabbitMQ."""
        for conn in list(self.node.connections):
            conn.close_with(errors.ConnectionError(
                errors.CONNECTION_FORCED, f"broker forced connection closure with reason '{reason}'"))
