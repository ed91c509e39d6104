"""The I/O of one client connection: a reader, a writer and a heartbeat task around a Connection."""

from __future__ import annotations

import time

import structlog
import trio

from amqpd.broker.node import Node
from amqpd.protocol import errors, frames
from amqpd.session.connection import Connection
from amqpd.session.consumer import OUTBOX_HIGH_WATER

log = structlog.get_logger("amqpd.server")

READ_SIZE = 256 * 1024
CLOSE_OK_TIMEOUT = 3.0  # how long to wait for Connection.Close-Ok after the broker's Close


class Waker:
    """A re-armable event: deliveries set it, the writer waits on it."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def set(self) -> None:
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()
        self.event = trio.Event()


class ClientSession:
    """Runs one accepted socket until either side closes it."""

    def __init__(self, node: Node, stream: trio.SocketStream, alarms: "object") -> None:
        self.node = node
        self.stream = stream
        self.alarms = alarms
        self.waker = Waker()
        try:
            peer = stream.socket.getpeername()[:2]
        except OSError:
            peer = None
        self.conn = Connection(node, peer, self.waker.set)
        self.last_received = self.last_sent = time.monotonic()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._writer)
            nursery.start_soon(self._watchdog)
            try:
                await self._reader()
            finally:
                self.conn.lost()
                nursery.cancel_scope.cancel()
        with trio.move_on_after(1):
            await self.stream.aclose()

    async def _reader(self) -> None:
        conn = self.conn
        while conn.state != "closed":
            if conn.has_published and self.alarms.active:  # type: ignore[attr-defined]
                await self.alarms.cleared()  # type: ignore[attr-defined]
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            self.last_received = time.monotonic()
            try:
                conn.feed(data)
            except Exception:  # a bug must cost one connection, never the broker
                log.exception("internal error while handling a frame", conn=conn.id)
                conn.close_with(errors.ConnectionError(errors.INTERNAL_ERROR, "internal error"))
        await trio.sleep_forever()  # the writer flushes the last frames and ends the session

    async def _writer(self) -> None:
        conn, stream = self.conn, self.stream
        while True:
            await self.waker.wait()
            while conn.outbox:
                was_over = len(conn.outbox) > OUTBOX_HIGH_WATER
                data = bytes(conn.outbox)
                conn.outbox.clear()
                try:
                    await stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.nursery.cancel_scope.cancel()
                    return
                self.last_sent = time.monotonic()
                if was_over:
                    conn.resume_consumers()
            if conn.close_when_flushed:
                self.nursery.cancel_scope.cancel()
                return

    async def _watchdog(self) -> None:
        """Handshake timeout, heartbeats out, missed heartbeats in, and the Close-Ok wait."""
        conn, settings = self.conn, self.node.settings
        started = time.monotonic()
        closing_since: float | None = None
        while True:
            await trio.sleep(0.5 if conn.heartbeat != 1 else 0.25)
            now = time.monotonic()
            if conn.state in ("header", "start-ok", "tune-ok", "open"):
                if now - started > settings.handshake_timeout:
                    log.info("handshake timed out", conn=conn.id, state=conn.state)
                    conn.lost()
                    self.nursery.cancel_scope.cancel()
                    return
                continue
            if conn.state == "closing":
                closing_since = closing_since or now
                if now - closing_since > CLOSE_OK_TIMEOUT:
                    self.nursery.cancel_scope.cancel()
                    return
                continue
            if conn.heartbeat:
                if now - self.last_sent >= conn.heartbeat / 2:
                    conn.send(frames.HEARTBEAT_FRAME)
                if now - self.last_received > 2 * conn.heartbeat:
                    log.warning("missed heartbeats from client", conn=conn.id, timeout=conn.heartbeat)
                    conn.lost()
                    self.nursery.cancel_scope.cancel()
                    return
