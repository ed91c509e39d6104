"""One client connection, sans-IO: the handshake, tuning, the channel table and closing.

The server's contract, in the h11/h2 style (nothing here awaits or touches a socket):
``feed(bytes)`` returns a FeedResult, ``data_to_send()`` hands over the pending output and
``output_sent()`` says it is on the wire; ``state`` is a ConnectionState named for what it
awaits, and ``close_plan`` says how the socket ends. Faults become Connection.Close /
Channel.Close exactly where RabbitMQ sends them.
"""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable

import structlog
from pamqp import commands

from amqpd.auth import is_loopback, sasl
from amqpd.broker import COMPATIBLE_VERSION, PRODUCT, Node, VirtualHost, WeaklyReferable, limit_reached
from amqpd.protocol import erlang, errors, frames
from amqpd.session.access import AccessControl
from amqpd.session.channel import Channel
from amqpd.session.consumer import OUTBOX_HIGH_WATER

log = structlog.get_logger("amqpd.connection")

CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "consumer_priorities": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "direct_reply_to": True,
}
INITIAL_FRAME_MAX = 4096  # RabbitMQ's frame_max until Tune-Ok (FRAME_MIN_SIZE)
CHANNEL_MIN = 1
SILENT_CLOSE_DELAY = 3.0  # RabbitMQ's pause before closing on a client it does not trust yet
CLOSE_OK_TIMEOUT = 30.0  # how long RabbitMQ waits for Connection.Close-Ok after its Close
OUTPUT_LOW_WATER = OUTBOX_HIGH_WATER // 4  # a client no longer read for its unsent output is read again below this
_ids = itertools.count(1)


class ConnectionState(enum.Enum):
    """What the connection awaits. The value is the name logs print; ``rabbit_name`` is
    RabbitMQ's connection_state, which its reply texts quote."""

    AWAIT_PROTOCOL_HEADER = "header"
    AWAIT_START_OK = "start-ok"
    AWAIT_TUNE_OK = "tune-ok"
    AWAIT_OPEN = "open"
    OPEN = "opened"
    AWAIT_CLOSE_OK = "closing"  # the broker sent Connection.Close
    CLOSED = "closed"

    @property
    def rabbit_name(self) -> str:
        return _RABBIT_NAMES.get(self, self.value)

    @property
    def trusted(self) -> bool:
        """Login succeeded and Tune-Ok was accepted: faults are answered with Connection.Close
        (before, RabbitMQ closes silently after SILENT_CLOSE_DELAY)."""
        return self not in _UNTRUSTED

    @property
    def handshaking(self) -> bool:
        """Connection.Open has not succeeded yet (the handshake timeout runs)."""
        return self in _HANDSHAKE

    @property
    def tuned(self) -> bool:
        """Tune-Ok was accepted and the connection is not closing (heartbeats run)."""
        return self is ConnectionState.AWAIT_OPEN or self is ConnectionState.OPEN


_RABBIT_NAMES = {ConnectionState.AWAIT_START_OK: "starting", ConnectionState.AWAIT_TUNE_OK: "tuning",
                 ConnectionState.AWAIT_OPEN: "opening", ConnectionState.OPEN: "running"}
_UNTRUSTED = frozenset({ConnectionState.AWAIT_PROTOCOL_HEADER, ConnectionState.AWAIT_START_OK,
                        ConnectionState.AWAIT_TUNE_OK})
_HANDSHAKE = _UNTRUSTED | {ConnectionState.AWAIT_OPEN}
# module-level names for the identity tests made on every frame (no Enum attribute lookup)
_OPEN, _CLOSED, _AWAIT_CLOSE_OK = ConnectionState.OPEN, ConnectionState.CLOSED, ConnectionState.AWAIT_CLOSE_OK


@dataclass(frozen=True)
class CloseAfterFlush:
    """The connection is over: send what is pending, wait ``delay`` seconds, close the socket.
    A delay with nothing pending is RabbitMQ's silent close of a client it does not trust yet."""

    delay: float


@dataclass(frozen=True)
class AwaitCloseOk:
    """Connection.Close was sent: wait up to ``timeout`` seconds for Close-Ok, then drop the
    socket (Close-Ok, or the client's own Close, turns the plan into CloseAfterFlush(0))."""

    timeout: float


ClosePlan = CloseAfterFlush | AwaitCloseOk


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one ``feed`` did. ``published``: a Basic.Publish was among the frames handled (what a
    resource alarm blocks). ``more``: complete frames remain unhandled, because the turn's frame
    budget ran out or the output is over its high-water mark; call ``feed(b"")`` again after
    letting other connections run (or, while ``output_full``, after the output drained)."""

    published: bool
    more: bool


@dataclass(frozen=True)
class Transport:
    """What the connection knows of its transport: TLS or not, and the subject CN of the client
    certificate TLS verified (None without one). EXTERNAL authenticates by that CN."""

    tls: bool = False
    peer_cert_cn: str | None = None


PLAIN_TCP = Transport()
# EXTERNAL (rabbitmq_auth_mechanism_ssl) only with a verified client certificate
CERTIFICATE_MECHANISMS = (*sasl.PASSWORD_MECHANISMS, "EXTERNAL")


def server_properties() -> dict[str, Any]:
    from amqpd import __version__

    return {
        "capabilities": CAPABILITIES,
        "cluster_name": "amqpd",
        "copyright": "amqpd contributors",
        "information": f"amqpd {__version__}, an AMQP 0-9-1 broker compatible with RabbitMQ {COMPATIBLE_VERSION}",
        "platform": "Python / trio",
        "product": PRODUCT,
        "version": COMPATIBLE_VERSION,
        "amqpd_version": __version__,
    }


class Connection(WeaklyReferable):
    """Protocol state of one connection; owns its channels and its outbox.

    The server honours ``close_plan`` once it is set (see CloseAfterFlush, AwaitCloseOk).

    Output is bounded per connection: the server takes the outbox with ``data_to_send``, reports
    ``output_sent``, and stops feeding a connection while ``output_full`` until ``output_drained``.
    What the connection holds (unsent output, its read buffer) is kept in the node's memory ledger
    each time it is fed or its output is taken or sent; incomplete bodies are counted by the
    channels' content assemblers.
    """

    def __init__(self, node: Node, peer: tuple[str, int] | None = None, wakeup: Callable[[], None] | None = None,
                 transport: Transport = PLAIN_TCP, local: tuple[str, int] | None = None) -> None:
        self.id = next(_ids)
        self.node = node
        self.peer = peer
        self.local = local  # the broker's (host, port) the client reached: the management API names it
        self.connected_at = int(time.time() * 1000)  # ms since the epoch, as the management API shows it
        self.auth_mechanism = ""
        self.transport = transport
        self._wake_writer = wakeup or (lambda: None)  # the server's: its writer has something to do
        self._writer_woken = False  # woken, and the output not taken since
        self.outbox = bytearray()
        self.reader = frames.FrameReader(INITIAL_FRAME_MAX)
        self._sending = 0  # output taken by the server and not yet sent
        self._paused_consumers = False  # the output taken last was over the high-water mark
        self._accounted = 0  # bytes of outbox, output being sent and read buffer in the node's ledger
        self.state = ConnectionState.AWAIT_PROTOCOL_HEADER
        self.close_plan: ClosePlan | None = None
        self.channels: dict[int, Channel] = {}
        self.closing_channels: set[int] = set()
        settings = node.settings
        self.frame_max = settings.frame_max
        self.channel_max = settings.channel_max
        self.heartbeat = settings.heartbeat
        self.client_properties: dict[str, Any] = {}
        self.user: str | None = None
        self.vhost: VirtualHost | None = None
        self.access: AccessControl  # what the user may do in the vhost: set at Connection.Open
        self.blocked = False
        self._published = False  # a publish was among the frames of the current feed
        self.recv_oct = self.send_oct = 0  # bytes received and handed to the server to send
        self.recv_cnt = self.send_cnt = 0  # reads fed and writes taken (RabbitMQ's packets)
        self.log = log.bind(conn=self.id, peer=f"{peer[0]}:{peer[1]}" if peer else None)

    # -- output --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """RabbitMQ's name of a connection: "peer host:port -> broker host:port"."""
        (peer_host, peer_port), (host, port) = _address(self.peer), _address(self.local)
        return f"{peer_host}:{peer_port} -> {host}:{port}"

    def wakeup(self) -> None:
        """Tell the server's writer there is output (or a close plan) to act on: once until it
        next takes the output, not once per delivery."""
        if not self._writer_woken:
            self._writer_woken = True
            self._wake_writer()

    def send(self, data: bytes) -> None:
        self.outbox += data
        self.wakeup()

    def send_method(self, channel: int, method: Any) -> None:
        self.send(frames.encode_method(channel, method))

    def send_heartbeat(self) -> None:
        self.send(frames.HEARTBEAT_FRAME)

    def send_after_reply(self, frame: bytes) -> None:
        """Send a frame now, or, while a channel's method handler runs, after that method's
        reply (RabbitMQ's reply to the method that caused it comes first)."""
        busy = next((ch for ch in self.channels.values() if ch.dispatching), None)
        if busy is not None:
            busy.defer(frame)
        else:
            self.send(frame)

    def data_to_send(self) -> bytearray:
        """Hand over all the output accumulated (empty when none), for the server to send; it
        counts against the output bound and in the memory ledger until ``output_sent``. The
        outbox itself is handed over (a new one takes its place): no copy of what was written."""
        self._writer_woken = False
        if not self.outbox:
            return bytearray()
        data, self.outbox = self.outbox, bytearray()
        self._paused_consumers = len(data) > OUTBOX_HIGH_WATER
        self._sending = len(data)
        self.send_oct += len(data)
        self.send_cnt += 1
        self._account()
        return data

    def output_sent(self) -> None:
        """The output taken last is on the wire: consumers paused for it are fed again."""
        self._sending = 0
        self._account()
        if self._paused_consumers:
            self._paused_consumers = False
            self.resume_consumers()

    @property
    def output_full(self) -> bool:
        """Unsent output is over the high-water mark: read nothing more from the client (each
        frame may add to it, e.g. a pipelined Basic.Get) until ``output_drained``."""
        return len(self.outbox) + self._sending > OUTBOX_HIGH_WATER

    @property
    def output_drained(self) -> bool:
        """Unsent output is under the low-water mark: a client paused for it is read again."""
        return len(self.outbox) + self._sending <= OUTPUT_LOW_WATER

    @property
    def unsent(self) -> int:
        """Bytes handed to the server to send and not yet written."""
        return len(self.outbox) + self._sending

    @property
    def unparsed(self) -> int:
        """Bytes received and not yet handled (a partial frame, or frames left for the next turn)."""
        return self.reader.unparsed

    @property
    def assembling(self) -> bool:
        """A message's content is still arriving on some channel: with a publish fed, what a
        resource alarm blocks."""
        return any(ch.assembling for ch in self.channels.values())

    def publish_received(self) -> None:
        """A channel took a Basic.Publish (reported by ``feed``)."""
        self._published = True

    def _account(self) -> None:
        """Bring this connection's buffers' share of the node's memory ledger up to date."""
        held = len(self.outbox) + self._sending + self.reader.unparsed
        self.node.memory.buffered += held - self._accounted
        self._accounted = held

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.client_properties.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    # -- input ---------------------------------------------------------------------------------

    def feed(self, data: bytes, max_frames: int = 0) -> FeedResult:
        """Process received bytes; replies and deliveries land in the outbox.

        Stops after max_frames frames (0: no such limit; a method frame counts one more per KiB),
        or as soon as the outbox is over its high-water mark, with ``more`` set when complete
        frames remain buffered: the server lets other connections run (or waits for the output
        to drain), then calls feed(b"") again.
        Once all that was buffered is handled, the publisher confirms earned go out (one
        Basic.Ack covers them).
        """
        self._published = False
        self.recv_oct += len(data)
        self.recv_cnt += 1 if data else 0
        try:
            more = self._feed(data, max_frames)
        finally:
            self._account()
        return FeedResult(self._published, more)

    def _feed(self, data: bytes, max_frames: int) -> bool:
        if self.state is _CLOSED:
            return False
        if self.state is ConnectionState.AWAIT_PROTOCOL_HEADER:
            self.reader.feed(data)
            header = self.reader.take(8)
            if header is None:
                return False
            self._on_protocol_header(header)
            data = b""
            if self.state is _CLOSED:
                return False
        self.reader.feed(data)
        received = self.reader.frames()
        outbox, high_water = self.outbox, OUTBOX_HIGH_WATER
        handled, stopped = 0, False
        try:
            for ftype, channel, payload in received:
                self._on_frame(ftype, channel, payload)
                if self.state is _CLOSED:
                    break
                # a method frame weighs one frame per KiB: decoding and applying its tables is
                # linear in its size, and a turn must stay short for the other connections
                handled += 1 + (len(payload) >> 10 if ftype == frames.FRAME_METHOD else 0)
                if (max_frames and handled >= max_frames) or len(outbox) > high_water:
                    stopped = True
                    break
        except errors.ConnectionError as exc:
            self.close_with(exc)
        except errors.SilentClose as silent:  # a name per exception type: mypyc types it once
            self.node.log_limiter.log(self.log.warning, "connection aborted", reason=str(silent))
            self._terminate()
        finally:
            received.close()
        if stopped and self.state is not _AWAIT_CLOSE_OK and self.state is not _CLOSED:
            return True
        for ch in self.channels.values():
            ch.flush_confirms()
        return False

    def _on_protocol_header(self, header: bytes) -> None:
        if header != frames.PROTOCOL_HEADER:
            self.send(frames.PROTOCOL_HEADER)
            self._terminate()
            return
        self.state = ConnectionState.AWAIT_START_OK
        self.send(frames.connection_start(server_properties(), mechanisms=" ".join(self._mechanisms()), locales="en_US"))

    def _mechanisms(self) -> tuple[str, ...]:
        """EXTERNAL only when TLS verified a client certificate with a CN. RabbitMQ offers it only
        when configured (not by default), and clients such as amqpstorm choose EXTERNAL whenever
        it is offered: offering it to a client without a certificate would break their logins."""
        return CERTIFICATE_MECHANISMS if self.transport.peer_cert_cn is not None else sasl.PASSWORD_MECHANISMS

    def _on_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        """Frame-level checks in RabbitMQ's order, then channel 0 or the channel's own handler."""
        if channel and self.state is _OPEN and (ftype == frames.FRAME_BODY or (
                ftype == frames.FRAME_METHOD and len(payload) >= 4) or (
                ftype == frames.FRAME_HEADER and len(payload) >= 12)):
            ch = self.channels.get(channel)
            if ch is not None:  # the per-message case: a well-formed frame for an open channel
                ch.on_frame(ftype, payload)
                return
        if self.state is _AWAIT_CLOSE_OK:
            self._on_frame_while_closing(ftype, channel, payload)
            return
        if channel != 0 and self.state is not _OPEN:
            raise errors.unexpected_frame(ftype, payload)
        if not _well_formed(ftype, payload):
            raise errors.frame_error(ftype, payload, erlang.Atom("unknown_frame"))
        if ftype == frames.FRAME_HEARTBEAT:
            if channel != 0:
                raise errors.unexpected_frame(ftype, payload)
            return
        if channel == 0:
            if ftype != frames.FRAME_METHOD:
                raise errors.unexpected_frame(ftype, payload)
            self._on_connection_method(payload)
            return
        if channel in self.closing_channels:
            self._on_frame_for_closing_channel(ftype, channel, payload)
            return
        ch = self.channels.get(channel)
        if ch is None:
            self._on_frame_for_new_channel(ftype, channel, payload)
            return
        ch.on_frame(ftype, payload)

    # -- channel 0 -----------------------------------------------------------------------------

    def _on_connection_method(self, payload: bytes) -> None:
        """A channel-0 method: the transition table says who handles it in this state and
        which state follows (unless the handler closed the connection). Arguments that do not
        decode are RabbitMQ's bare 541 here, not the 501 of other channels: its reader decodes
        channel 0 itself and crashes."""
        try:
            index, method = frames.decode_method_frame(payload)
        except errors.ConnectionError:
            raise errors.InternalError() from None
        state = self.state
        transition = TRANSITIONS.get((state, index))
        if transition is None:
            raise errors.ConnectionError(
                errors.CHANNEL_ERROR, f"unexpected method in connection state {state.rabbit_name}",
                index >> 16, index & 0xFFFF)
        handler, after = transition
        try:
            handler(self, method)
            if self.state is state:
                self.state = after
        except errors.AMQPError as exc:
            exc.with_method(index >> 16, index & 0xFFFF)
            if isinstance(exc, errors.ConnectionError):
                raise
            raise errors.ConnectionError(exc.code, exc.text.split(" - ", 1)[1], exc.class_id, exc.method_id) from None

    def _on_start_ok(self, method: commands.Connection.StartOk) -> None:
        self.client_properties = method.client_properties or {}
        from_loopback = self.peer is None or is_loopback(self.peer[0])
        user: str | None
        if method.mechanism == "EXTERNAL":
            user = self._external_user()
            allowed = self.node.users.admit(user, from_loopback) is not None
        else:
            try:
                found = sasl.credentials(method.mechanism, method.response)
            except sasl.SaslError as exc:
                raise errors.ConnectionError(exc.code, exc.detail) from None
            user = found.user
            allowed = self.node.users.authenticate(user, found.password, from_loopback) is not None
        if not allowed:
            self._refuse_login(user, method.mechanism)
            return
        self.auth_mechanism = method.mechanism
        self.user = user
        self.send_method(0, commands.Connection.Tune(
            channel_max=self.channel_max, frame_max=self.frame_max, heartbeat=self.heartbeat))

    def _refuse_login(self, user: str | None, mechanism: str) -> None:
        """A refused login: Connection.Close 403 for clients that announced
        authentication_failure_close (closed at Close-Ok or after 3 s), else a silent close."""
        self.node.log_limiter.log(self.log.warning, "authentication failed", user=user, mechanism=mechanism)
        if not self.capabilities.get("authentication_failure_close"):
            self._terminate(SILENT_CLOSE_DELAY)
            return
        text = f"Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
        self.send_method(0, commands.Connection.Close(
            reply_code=errors.ACCESS_REFUSED, reply_text=errors.reply_text(errors.ACCESS_REFUSED, text),
            class_id=0, method_id=0))
        self._await_close_ok(SILENT_CLOSE_DELAY)

    def _external_user(self) -> str:
        """EXTERNAL: the user is the verified client certificate's subject CN (RabbitMQ's
        ssl_cert_login_from = common_name). Not offered without one: RabbitMQ's error then."""
        if self.transport.peer_cert_cn is None:
            raise errors.ConnectionError(errors.COMMAND_INVALID, "invalid authentication mechanism 'EXTERNAL'")
        return self.transport.peer_cert_cn

    def _on_tune_ok(self, method: commands.Connection.TuneOk) -> None:
        """Adopt the client's values; out-of-range ones fail (silently, as the state is untrusted)."""
        _validate_tuned("channel_max", CHANNEL_MIN, self.channel_max, method.channel_max)
        _validate_tuned("frame_max", INITIAL_FRAME_MAX, self.frame_max, method.frame_max)
        self.channel_max = method.channel_max
        self.frame_max = method.frame_max
        self.heartbeat = method.heartbeat  # the server proposes, the client's Tune-Ok decides
        self.reader.frame_max = self.frame_max

    def _on_open(self, method: commands.Connection.Open) -> None:
        vhost = self.node.vhosts.get(method.virtual_host)
        if vhost is None:
            raise errors.ConnectionError(errors.NOT_ALLOWED, f"vhost {method.virtual_host} not found")
        if self.node.permissions.get(self.user, vhost.name) is None:  # type: ignore[arg-type]  # set by Start-Ok
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"access to vhost '{vhost.name}' refused for user '{self.user}'")
        self._check_connection_limits(vhost.name)
        self.vhost = vhost
        self.access = AccessControl(self.node, self.user, vhost.name)  # type: ignore[arg-type]  # set by Start-Ok
        self.node.connections.add(self)
        vhost.churn.connection_created += 1
        self.send_method(0, commands.Connection.OpenOk())
        self.log.info("connection opened", user=self.user, vhost=vhost.name)

    def _check_connection_limits(self, vhost: str) -> None:
        """The vhost's and then the user's max-connections, as RabbitMQ checks them at Connection.Open.

        The connections are counted only when a limit is set: counting them at every open made
        opening N connections cost O(N^2) (10,000 took 112 s instead of 2 s; docs/performance.md)."""
        assert self.user is not None
        connections = self.node.connections
        limit = self.node.vhost_limit(vhost, "max-connections")
        if limit is not None and limit_reached(limit, sum(1 for c in connections if c.vhost.name == vhost)):
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"access to vhost '{vhost}' refused for user '{self.user}': "
                f"connection limit ({limit}) is reached")
        limit = self.node.user_limit(self.user, "max-connections")
        if limit is not None and limit_reached(limit, sum(1 for c in connections if c.user == self.user)):
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"connection refused for user '{self.user}': user connection limit ({limit}) "
                "is reached")

    def _check_channel_limit(self) -> None:
        """The user's max-channels, over all of the user's connections (RabbitMQ's 530); counted
        only when the limit is set, as the connections above."""
        user = self.access.user
        limit = self.node.user_limit(user, "max-channels")
        if limit is not None and limit_reached(
                limit, sum(len(c.channels) for c in self.node.connections if c.user == user)):
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"number of channels opened for user '{user}' has reached the "
                f"maximum allowed user limit of ({limit})")

    def _on_close(self, method: commands.Connection.Close) -> None:
        self.send_method(0, commands.Connection.CloseOk())
        self.log.info("connection closed by client", code=method.reply_code, text=method.reply_text)
        self._terminate()

    def _on_update_secret(self, method: commands.Connection.UpdateSecret) -> None:
        """An OAuth client's token refresh. RabbitMQ 3.10's internal backend keeps the user
        without checking the new secret (a wrong password is accepted too), so this only logs
        and answers Update-Secret-Ok."""
        self.log.info("user updated secret", user=self.user, reason=method.reason)
        self.send_method(0, commands.Connection.UpdateSecretOk())

    # -- channels ------------------------------------------------------------------------------

    def _on_frame_for_new_channel(self, ftype: int, channel: int, payload: bytes) -> None:
        """Only Channel.Open may come first; RabbitMQ limits the count of open channels to
        channel_max, not the channel numbers."""
        if ftype != frames.FRAME_METHOD:
            raise errors.ConnectionError(
                errors.UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        index, method = frames.decode_method_frame(payload)
        if index != commands.Channel.Open.index:
            raise errors.ConnectionError(
                errors.CHANNEL_ERROR, "expected 'channel.open'", index >> 16, index & 0xFFFF)
        if self.channel_max and len(self.channels) >= self.channel_max:
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"number of channels opened ({len(self.channels)}) has reached the "
                f"negotiated channel_max ({self.channel_max})")
        self._check_channel_limit()
        self.channels[channel] = Channel(self, channel)
        self.vhost.churn.channel_created += 1  # type: ignore[union-attr]  # open: vhost is set
        self.send(frames.channel_open_ok(channel))

    def _on_frame_for_closing_channel(self, ftype: int, channel: int, payload: bytes) -> None:
        """After the broker sent Channel.Close, only Close / Close-Ok count (others are dropped)."""
        if ftype != frames.FRAME_METHOD:
            return
        index = int.from_bytes(payload[:4], "big")
        if index == commands.Channel.CloseOk.index:
            self.closing_channels.discard(channel)
        elif index == commands.Channel.Close.index:
            self.send_method(channel, commands.Channel.CloseOk())

    def _on_frame_while_closing(self, ftype: int, channel: int, payload: bytes) -> None:
        """After the broker sent Connection.Close, wait for Close-Ok and ignore the rest."""
        if channel != 0 or ftype != frames.FRAME_METHOD:
            return
        index = int.from_bytes(payload[:4], "big")
        if index == commands.Connection.CloseOk.index:
            self._terminate()
        elif index == commands.Connection.Close.index:
            self.send_method(0, commands.Connection.CloseOk())
            self._terminate()

    def channel_closed_by_broker(self, channel: Channel, exc: errors.AMQPError) -> None:
        """A channel error: release the channel now and await the client's Close-Ok."""
        del self.channels[channel.number]
        self.closing_channels.add(channel.number)
        self.send_method(channel.number, commands.Channel.Close(
            reply_code=exc.code, reply_text=exc.text, class_id=exc.class_id, method_id=exc.method_id))

    def channel_closed_by_client(self, channel: Channel) -> None:
        del self.channels[channel.number]
        self.send_method(channel.number, commands.Channel.CloseOk())

    # -- closing -------------------------------------------------------------------------------

    def close_with(self, exc: errors.AMQPError) -> None:
        """End the connection for a hard error the way RabbitMQ does in the current state.

        Before Tune-Ok is accepted: no frame, the socket closes after SILENT_CLOSE_DELAY.
        A broken frame stream: Connection.Close, then the socket closes after that delay.
        Otherwise: Connection.Close, then wait for Close-Ok (up to close_ok_timeout).
        """
        if self.state is _AWAIT_CLOSE_OK or self.state is _CLOSED:
            return
        self.node.log_limiter.log(self.log.warning, "connection error", key=exc.code,
                                  code=exc.code, text=exc.text, state=self.state.value)
        if not self.state.trusted:
            self._terminate(SILENT_CLOSE_DELAY)
            return
        self.send_method(0, commands.Connection.Close(
            reply_code=exc.code, reply_text=exc.text, class_id=exc.class_id, method_id=exc.method_id))
        if isinstance(exc, errors.FatalFrameError):
            self._terminate(SILENT_CLOSE_DELAY)
            return
        self._release()
        self._await_close_ok(CLOSE_OK_TIMEOUT)

    def _await_close_ok(self, timeout: float) -> None:
        self.state = ConnectionState.AWAIT_CLOSE_OK
        self.close_plan = AwaitCloseOk(timeout)

    def _terminate(self, delay: float = 0.0) -> None:
        """The connection is over: release everything and close the socket once flushed and
        delay seconds have passed."""
        self._release()
        self.state = ConnectionState.CLOSED
        self.close_plan = CloseAfterFlush(delay)
        self.wakeup()

    def _release(self) -> None:
        for ch in list(self.channels.values()):
            ch.release()
        self.channels.clear()
        if self.vhost is not None:
            for queue in [q for q in self.vhost.queues.values() if q.exclusive_owner is self]:
                self.vhost.remove_queue(queue)
        if self in self.node.connections:
            self.node.connections.discard(self)
            self.vhost.churn.connection_closed += 1  # type: ignore[union-attr]  # it was open
            self.vhost.connection_gone(self.recv_oct, self.send_oct + len(self.outbox))  # type: ignore[union-attr]

    def lost(self) -> None:
        """The socket went away (or timed out): release state without sending anything."""
        state = self.state
        if state is not _CLOSED:
            if state is _OPEN:
                self.log.info("connection lost", state=state.value)
            else:  # before login or after an error: as often as a client likes, so rate-limited
                self.node.log_limiter.log(self.log.info, "connection lost", key=state.value, state=state.value)
            self._release()
            self.state = ConnectionState.CLOSED
        self.outbox.clear()
        self.reader.clear()
        self._sending = 0
        self._account()

    # -- flow control --------------------------------------------------------------------------

    def set_blocked(self, blocked: bool, reason: str = "low on memory") -> None:
        """Connection.Blocked / Unblocked for clients that announced they understand them."""
        if blocked == self.blocked:
            return
        self.blocked = blocked
        if self.state is _OPEN and self.capabilities.get("connection.blocked"):
            self.send_method(0, commands.Connection.Blocked(reason) if blocked else commands.Connection.Unblocked())

    def resume_consumers(self) -> None:
        """The outbox drained below the low-water mark: feed the consumers that were paused."""
        for ch in list(self.channels.values()):
            ch.resume()


TRANSITIONS: dict[tuple[ConnectionState, int], tuple[Callable[[Connection, Any], None], ConnectionState]] = {
    (ConnectionState.AWAIT_START_OK, commands.Connection.StartOk.index):
        (Connection._on_start_ok, ConnectionState.AWAIT_TUNE_OK),
    (ConnectionState.AWAIT_TUNE_OK, commands.Connection.TuneOk.index):
        (Connection._on_tune_ok, ConnectionState.AWAIT_OPEN),
    (ConnectionState.AWAIT_OPEN, commands.Connection.Open.index): (Connection._on_open, ConnectionState.OPEN),
    (ConnectionState.OPEN, commands.Connection.Close.index): (Connection._on_close, ConnectionState.CLOSED),
    (ConnectionState.OPEN, commands.Connection.UpdateSecret.index):
        (Connection._on_update_secret, ConnectionState.OPEN),
}
"""The channel-0 methods each state accepts: (state, method index) -> (handler, next state),
h11's _state.py idea. The rest of the state machine: the protocol header moves
AWAIT_PROTOCOL_HEADER to AWAIT_START_OK (``_on_protocol_header``); a refused login, a
hard error or a lost socket move any state to AWAIT_CLOSE_OK or CLOSED (``close_with``,
``_refuse_login``, ``lost``); in AWAIT_CLOSE_OK only Close-Ok and Close count
(``_on_frame_while_closing``), both ending in CLOSED. Anything else on channel 0 is 504
"unexpected method in connection state <RabbitMQ's name>"."""


def _well_formed(ftype: int, payload: bytes) -> bool:
    """RabbitMQ's frame parse: known type, room for the method ids or the header's fixed part,
    and an empty heartbeat."""
    if ftype == frames.FRAME_METHOD:
        return len(payload) >= 4
    if ftype == frames.FRAME_HEADER:
        return len(payload) >= 12
    if ftype == frames.FRAME_HEARTBEAT:
        return not payload
    return ftype == frames.FRAME_BODY


def _validate_tuned(field: str, minimum: int, server: int, client: int) -> None:
    """RabbitMQ's validate_negotiated_integer_value: client values below the minimum, above the
    server's limit, or 0 (unlimited) against a limited server are refused."""
    if client and client < minimum:
        raise errors.ConnectionError(
            errors.NOT_ALLOWED, f"negotiated {field} = {client} is lower than the minimum allowed value ({minimum})")
    if server and (not client or client > server):
        raise errors.ConnectionError(
            errors.NOT_ALLOWED, f"negotiated {field} = {client} is higher than the maximum allowed value ({server})")


def _address(address: tuple[str, int] | None) -> tuple[str, int]:
    return (str(address[0]), int(address[1])) if address else ("", 0)
