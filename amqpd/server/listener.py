"""The TCP listener: accepts sockets, runs a ClientSession for each, shuts down gracefully."""

from __future__ import annotations

import math

import structlog
import trio

from amqpd.broker.node import Node
from amqpd.broker.timers import clock
from amqpd.protocol import errors
from amqpd.server.alarms import ResourceAlarms
from amqpd.server.client import ClientSession

log = structlog.get_logger("amqpd.server")


class Server:
    """One node served on one TCP address."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.alarm = ResourceAlarms(node)
        self.port: int | None = None
        self._listeners: list[trio.SocketListener] | None = None
        self._accepting = trio.CancelScope()
        self._sessions: set[ClientSession] = set()
        self._session_ended = trio.Event()

    async def _handle(self, stream: trio.SocketStream) -> None:
        session = ClientSession(self.node, stream, self.alarm)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            self._session_ended.set()

    async def listen(self) -> int:
        """Bind the listening socket and return its port.

        Called on its own (as the CLI does) a bind failure such as EADDRINUSE surfaces as a plain
        OSError, not wrapped in a nursery's ExceptionGroup, so it can be reported in one line.
        """
        settings = self.node.settings
        if settings.host == "::":
            self._listeners = [await _dual_stack_listener(settings.port)]
        else:
            self._listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
        self.port = self._listeners[0].socket.getsockname()[1]
        return self.port

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen (unless listen() was called) and serve until cancelled; reports the port through task_status."""
        if self._listeners is None:
            await self.listen()
        host = self.node.settings.host
        url_host = f"[{host}]" if ":" in host else host
        store = self.node.store
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.alarm.run)
                nursery.start_soon(self._run_timers)
                if store is not None:
                    store.on_failing = lambda failing: self.alarm.set("disk", failing)
                    nursery.start_soon(store.run)
                await nursery.start(self._accept, nursery)
                log.info(f"Server startup complete; listening on amqp://{url_host}:{self.port}", host=host,
                         port=self.port)
                task_status.started(self.port)
        finally:
            if store is not None:
                store.close()  # graceful: what is still pending is written before the process ends

    async def _run_timers(self) -> None:
        """Run the node's timers as they fall due, sleeping until the next deadline or until an
        earlier one is scheduled."""
        timers = self.node.timers
        wake = trio.Event()

        def earlier() -> None:
            wake.set()

        timers.on_earlier = earlier
        while True:
            wake = trio.Event()
            timers.run_due(clock())
            deadline = timers.next_deadline()
            with trio.move_on_after(math.inf if deadline is None else max(deadline - clock(), 0)):
                await wake.wait()

    async def _accept(self, handler_nursery: trio.Nursery, *,
                      task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept until shutdown() stops it, then close the listening sockets (new clients are refused)."""
        assert self._listeners is not None
        with self._accepting:
            await trio.serve_listeners(self._handle, self._listeners, handler_nursery=handler_nursery,
                                       task_status=task_status)
        for listener in self._listeners:
            listener.socket.close()  # synchronous, so it happens even when the nursery is being cancelled

    def close_all(self, reason: str = "shutdown") -> None:
        """Tell every client the broker is going away (320 CONNECTION_FORCED), like RabbitMQ."""
        for conn in list(self.node.connections):
            conn.close_with(errors.ConnectionError(
                errors.CONNECTION_FORCED, f"broker forced connection closure with reason '{reason}'"))

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, send every client Connection.Close 320 and give the sessions `grace` seconds to end.

        The Close frames are written by each session's writer task, so this waits for the sessions
        (not just for the connections to be released) before the caller cancels everything.
        """
        self._accepting.cancel()
        self.close_all()
        with trio.move_on_after(grace):
            while self._sessions:
                self._session_ended = trio.Event()
                await self._session_ended.wait()


async def _dual_stack_listener(port: int) -> trio.SocketListener:
    """The '::' listener as RabbitMQ has it: one IPv6 socket that IPv4 clients reach too (as
    ::ffff:a.b.c.d). trio's own listeners set IPV6_V6ONLY, which would leave IPv4 out."""
    sock = trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_STREAM)
    try:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        sock.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, 0)
        await sock.bind(("::", port))
        sock.listen(trio.socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)
