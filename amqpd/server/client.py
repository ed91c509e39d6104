"""The I/O of one client connection: reader, writer and timers around a sans-IO Connection.

What this uses of the Connection is its contract with the server: feed / FeedResult,
data_to_send / output_sent / output_full / output_drained, state (a ConnectionState),
close_plan, heartbeat, blocked / set_blocked, assembling, send_heartbeat, close_with and lost.
"""

from __future__ import annotations

import array
import fcntl
import select
import termios
from dataclasses import dataclass

import structlog
import trio

from amqpd.broker import Node
from amqpd.protocol import errors, frames
from amqpd.server.alarms import ResourceAlarms
from amqpd.session import (
    PLAIN_TCP, AwaitCloseOk, CloseAfterFlush, Connection, ConnectionState, FeedResult, Transport)

log = structlog.get_logger("amqpd.server")

READ_SIZE = 64 * 1024
# Frames handled between checkpoints: a flat-out publisher must not starve the other connections
# (a manual-ack consumer gets only one ack round trip per turn of the publisher's reader). Counted
# in frames, not bytes, because the work is per frame: 150 frames are 50 small messages.
FRAMES_PER_TURN = 150
# A blocked connection is not read, so its socket is polled for the client's hang-up instead.
HANG_UP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
HANG_UP_CHECK = 1.0
Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


def socket_of(stream: Stream) -> trio.socket.SocketType:
    """The TCP socket beneath a stream (a TLS stream's transport)."""
    return (stream.transport_stream if isinstance(stream, trio.SSLStream) else stream).socket


def peer_address(stream: Stream) -> tuple[str, int] | None:
    """The client's (host, port)."""
    try:
        return socket_of(stream).getpeername()[:2]
    except OSError:
        return None


def local_address(stream: Stream) -> tuple[str, int] | None:
    """The broker's (host, port) the client connected to."""
    try:
        return socket_of(stream).getsockname()[:2]
    except OSError:
        return None


@dataclass(frozen=True)
class Backlog:
    """A connection's bytes still on their way through the broker: ``unread`` arrived (in the
    kernel, or buffered unhandled), ``unsent`` waits to be written to the client."""

    connection: str
    unread: int
    unsent: int


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
    """Runs one accepted socket until either side closes it.

    Timings follow RabbitMQ: the handshake (up to Connection.Open) must finish within
    handshake_timeout of the accept (on amqps, of the end of the TLS handshake, which had a
    handshake_timeout of its own); once tuned, a heartbeat goes out every heartbeat/2 seconds
    in which nothing else was sent, and a client silent for two whole heartbeat intervals is
    dropped (checked on heartbeat ticks, so a silent client goes at 3 x heartbeat). The
    Connection decides how long to wait for Close-Ok and how long to linger before a close.
    """

    def __init__(self, node: Node, stream: Stream, alarms: ResourceAlarms, transport: Transport = PLAIN_TCP) -> None:
        """A TLS stream comes here with its handshake done; `transport` says what it verified."""
        self.node = node
        self.stream = stream
        self.alarms = alarms
        self.waker = Waker()
        self.drained = Waker()  # set by the writer after each send
        self.conn = Connection(node, peer_address(stream), self.waker.set, transport, local_address(stream))
        self.accepted = trio.current_time()
        self.received = 0  # bytes read, for the heartbeat monitor
        self.last_sent = self.accepted  # when something other than a heartbeat was last written
        self.heartbeats_started = False
        self.close_ok_timer_started = False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._writer)
            nursery.start_soon(self._handshake_timeout)
            try:
                await self._reader()
            finally:
                self.conn.lost()
                self.alarms.check()  # what it held no longer counts
                nursery.cancel_scope.cancel()
        with trio.move_on_after(1):
            await self.stream.aclose()

    def backlog(self) -> Backlog:
        """What of this connection's traffic the broker has not yet handled or written."""
        waiting = array.array("i", [0])
        try:
            fcntl.ioctl(socket_of(self.stream).fileno(), termios.FIONREAD, waiting)
        except OSError:  # closed meanwhile: nothing more will be read
            waiting[0] = 0
        return Backlog(self.conn.name, waiting[0] + self.conn.unparsed, self.conn.unsent)

    def _drop(self, why: str) -> None:
        """Close the socket now, without a frame (timeouts)."""
        self.node.log_limiter.log(log.info, why, conn=self.conn.id, state=self.conn.state.value)
        self.conn.lost()
        self.nursery.cancel_scope.cancel()

    async def _reader(self) -> None:
        conn, alarms = self.conn, self.alarms
        while conn.state is not ConnectionState.CLOSED:
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            self.received += len(data)
            result = self._feed(data)
            published = result.published
            while result.more:
                if conn.output_full:
                    await self._output_drained()
                else:
                    await trio.lowlevel.checkpoint()
                result = self._feed(b"")
                published = published or result.published
            if conn.output_full:
                await self._output_drained()
            if conn.state.tuned and conn.heartbeat and not self.heartbeats_started:
                self.heartbeats_started = True
                self.nursery.start_soon(self._send_heartbeats, conn.heartbeat)
                self.nursery.start_soon(self._monitor_heartbeats, conn.heartbeat)
            alarms.check()  # what was just read may have raised the memory alarm
            if alarms.active and (published or conn.assembling):
                # as RabbitMQ: a publish under a resource alarm blocks the connection (no reads)
                conn.set_blocked(True, alarms.reason)
                if not await self._blocked_until_cleared():
                    return
        await trio.sleep_forever()  # the writer flushes the last frames and ends the session

    async def _output_drained(self) -> None:
        """Wait for the writer: a client with too much unsent output (one that pipelines requests
        and reads no replies) is not read until it drained."""
        while not self.conn.output_drained:
            await self.drained.wait()

    async def _blocked_until_cleared(self) -> bool:
        """Wait, reading nothing, for the resource alarms to clear; False if the client hung up
        meanwhile (what its connection holds, e.g. an incomplete body, must not keep the alarm on)."""
        hung_up = False

        async def watch(cancel_scope: trio.CancelScope) -> None:
            nonlocal hung_up
            poller = select.poll()
            poller.register(socket_of(self.stream).fileno(), HANG_UP)
            while not poller.poll(0):
                await trio.sleep(HANG_UP_CHECK)
            hung_up = True
            cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery.cancel_scope)
            await self.alarms.cleared()
            nursery.cancel_scope.cancel()
        return not hung_up

    def _feed(self, data: bytes) -> FeedResult:
        """Hand bytes to the connection, FRAMES_PER_TURN frames at a time."""
        try:
            return self.conn.feed(data, FRAMES_PER_TURN)
        except Exception as exc:  # a bug must cost one connection, never the broker (nor the disk: bounded)
            self.node.log_limiter.log(log.error, "internal error while handling a frame", conn=self.conn.id,
                                      exc_info=exc)
            self.conn.close_with(errors.ConnectionError(errors.INTERNAL_ERROR, "internal error"))
            return FeedResult(published=False, more=False)

    async def _writer(self) -> None:
        conn, stream = self.conn, self.stream
        while True:
            await self.waker.wait()
            while data := conn.data_to_send():
                try:
                    await stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.nursery.cancel_scope.cancel()
                    return
                if data != frames.HEARTBEAT_FRAME:
                    self.last_sent = trio.current_time()
                conn.output_sent()
                self.drained.set()
            plan = conn.close_plan
            if isinstance(plan, CloseAfterFlush):
                await trio.sleep(plan.delay)
                self.nursery.cancel_scope.cancel()
                return
            if isinstance(plan, AwaitCloseOk) and not self.close_ok_timer_started:
                self.close_ok_timer_started = True
                self.nursery.start_soon(self._close_ok_timeout, plan.timeout)

    async def _handshake_timeout(self) -> None:
        await trio.sleep_until(self.accepted + self.node.settings.handshake_timeout)
        if self.conn.state.handshaking:
            self._drop("handshake timed out")

    async def _close_ok_timeout(self, timeout: float) -> None:
        await trio.sleep(timeout)
        self._drop("no Connection.Close-Ok from client")

    async def _send_heartbeats(self, heartbeat: int) -> None:
        """A heartbeat on every tick of heartbeat/2 s in which nothing else was written."""
        while self.conn.state is not ConnectionState.CLOSED:
            tick = trio.current_time()
            await trio.sleep(heartbeat / 2)
            if self.last_sent <= tick and self.conn.state.tuned:
                self.conn.send_heartbeat()

    async def _monitor_heartbeats(self, heartbeat: int) -> None:
        """Drop the client after two consecutive heartbeat ticks without any byte received.

        The monitor pauses while the connection is blocked (nothing is read then), as in RabbitMQ.
        """
        seen, misses = -1, 0  # the first tick never counts as a miss, as in RabbitMQ
        while True:
            await trio.sleep(heartbeat)
            if self.conn.blocked:
                seen, misses = -1, 0
                continue
            if self.received != seen:
                seen, misses = self.received, 0
                continue
            misses += 1
            if misses >= 2:
                self.node.log_limiter.log(log.warning, "missed heartbeats from client", conn=self.conn.id,
                                          timeout=heartbeat)
                self._drop("heartbeat timeout")
                return
