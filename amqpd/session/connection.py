"""One client connection, sans-IO: the handshake, tuning, the channel table and closing.

The server feeds received bytes in and sends whatever accumulates in ``outbox``; nothing here
awaits or touches a socket. Faults become Connection.Close / Channel.Close exactly where
RabbitMQ sends them.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable

import structlog
from pamqp import commands, decode

from amqpd.broker.node import COMPATIBLE_VERSION, PRODUCT, Node
from amqpd.broker.vhost import VirtualHost
from amqpd.protocol import errors, frames
from amqpd.session.channel import Channel

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
    "direct_reply_to": False,
}
INITIAL_FRAME_MAX = 4096
_ids = itertools.count(1)


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


class Connection:
    """Protocol state of one connection; owns its channels and its outbox."""

    def __init__(self, node: Node, peer: tuple[str, int] | None = None, wakeup: Callable[[], None] | None = None) -> None:
        self.id = next(_ids)
        self.node = node
        self.peer = peer
        self.wakeup = wakeup or (lambda: None)
        self.outbox = bytearray()
        self.reader = frames.FrameReader(INITIAL_FRAME_MAX)
        self.state = "header"  # header, start-ok, tune-ok, open, opened, closing, closed
        self.close_when_flushed = False
        self.channels: dict[int, Channel] = {}
        self.closing_channels: set[int] = set()
        settings = node.settings
        self.frame_max = settings.frame_max
        self.channel_max = settings.channel_max
        self.heartbeat = settings.heartbeat
        self.client_properties: dict[str, Any] = {}
        self.user: str | None = None
        self.vhost: VirtualHost | None = None
        self.blocked = False
        self.has_published = False
        self.connected_at = time.time()
        self.log = log.bind(conn=self.id, peer=f"{peer[0]}:{peer[1]}" if peer else None)

    # -- output --------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.outbox += data
        self.wakeup()

    def send_method(self, channel: int, method: Any) -> None:
        self.send(frames.encode_method(channel, method))

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.client_properties.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    # -- input ---------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Process received bytes; replies and deliveries land in the outbox."""
        if self.state == "closed":
            return
        if self.state == "header":
            self.reader.buffer += data
            if len(self.reader.buffer) < 8:
                return
            self._on_protocol_header(bytes(self.reader.buffer[:8]))
            del self.reader.buffer[:8]
            data = b""
            if self.state == "closed":
                return
        try:
            self.reader.feed(data)
            for ftype, channel, payload in self.reader.frames():
                self._on_frame(ftype, channel, payload)
                if self.state == "closed":
                    break
        except errors.ConnectionError as exc:
            self.close_with(exc)
        finally:
            for ch in self.channels.values():
                ch.flush_confirms()

    def _on_protocol_header(self, header: bytes) -> None:
        if header != frames.PROTOCOL_HEADER:
            self.send(frames.PROTOCOL_HEADER)
            self._terminate()
            return
        self.state = "start-ok"
        self.send_method(0, commands.Connection.Start(
            version_major=0, version_minor=9, server_properties=server_properties(),
            mechanisms="PLAIN AMQPLAIN", locales="en_US"))

    def _on_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        if ftype == frames.FRAME_HEARTBEAT:
            if channel != 0:
                raise errors.ConnectionError(
                    errors.COMMAND_INVALID, f"heartbeat frame on non-zero channel {channel}")
            return
        if self.state == "closing":
            self._on_frame_while_closing(ftype, channel, payload)
            return
        if channel == 0:
            if ftype != frames.FRAME_METHOD:
                raise errors.ConnectionError(
                    errors.UNEXPECTED_FRAME, f"expected method frame, got non method frame instead")
            self._on_connection_method(payload)
            return
        if self.state != "opened":
            raise errors.ConnectionError(errors.CHANNEL_ERROR, "expected 'connection.open'")
        if channel in self.closing_channels:
            self._on_frame_for_closing_channel(ftype, channel, payload)
            return
        ch = self.channels.get(channel)
        if ch is None:
            self._on_frame_for_new_channel(ftype, channel, payload)
            return
        ch.on_frame(ftype, payload)

    def _decode(self, payload: bytes) -> tuple[int, Any]:
        try:
            return frames.decode_method(payload)
        except KeyError:
            index = int.from_bytes(payload[:4], "big")
            raise errors.ConnectionError(
                errors.COMMAND_INVALID, f"unknown method class {index >> 16} method {index & 0xFFFF}"
            ) from None
        except (ValueError, IndexError) as exc:
            raise errors.ConnectionError(errors.SYNTAX_ERROR, f"malformed method frame: {exc}") from None

    # -- channel 0 -----------------------------------------------------------------------------

    def _on_connection_method(self, payload: bytes) -> None:
        index, method = self._decode(payload)
        handler = self._CONNECTION_HANDLERS.get(index)
        if handler is None:
            raise errors.ConnectionError(
                errors.COMMAND_INVALID, f"unexpected method {method.name} on channel 0",
                index >> 16, index & 0xFFFF)
        try:
            handler(self, method)
        except errors.AMQPError as exc:
            exc.with_method(index >> 16, index & 0xFFFF)
            if isinstance(exc, errors.ConnectionError):
                raise
            raise errors.ConnectionError(exc.code, exc.text.split(" - ", 1)[1], exc.class_id, exc.method_id) from None

    def _expect(self, state: str, method: Any) -> None:
        if self.state != state:
            raise errors.ConnectionError(errors.COMMAND_INVALID, f"unexpected method {method.name}")

    def _on_start_ok(self, method: commands.Connection.StartOk) -> None:
        self._expect("start-ok", method)
        self.client_properties = method.client_properties or {}
        user, password = self._credentials(method.mechanism, method.response)
        from_loopback = self.peer is None or self.peer[0] in ("127.0.0.1", "::1") or self.peer[0].startswith("127.")
        if user is None or self.node.users.authenticate(user, password, from_loopback) is None:
            self.log.warning("authentication failed", user=user, mechanism=method.mechanism)
            text = (f"Login was refused using authentication mechanism {method.mechanism}. "
                    "For details see the broker logfile.")
            if self.capabilities.get("authentication_failure_close"):
                self.close_with(errors.ConnectionError(errors.ACCESS_REFUSED, text))
            else:
                self._terminate()
            return
        self.user = user
        self.state = "tune-ok"
        self.send_method(0, commands.Connection.Tune(
            channel_max=self.channel_max, frame_max=self.frame_max, heartbeat=self.heartbeat))

    def _credentials(self, mechanism: str, response: Any) -> tuple[str | None, str]:
        raw = response.encode("utf-8") if isinstance(response, str) else bytes(response or b"")
        if mechanism == "PLAIN":
            parts = raw.split(b"\x00")
            if len(parts) != 3:
                return None, ""
            return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        if mechanism == "AMQPLAIN":
            try:
                _, table = decode.field_table(len(raw).to_bytes(4, "big") + raw)
            except ValueError:
                return None, ""
            login, password = table.get("LOGIN"), table.get("PASSWORD")
            if isinstance(login, bytes):
                login = login.decode("utf-8", "replace")
            if isinstance(password, bytes):
                password = password.decode("utf-8", "replace")
            return (login, password) if isinstance(login, str) and isinstance(password, str) else (None, "")
        raise errors.ConnectionError(
            errors.ACCESS_REFUSED, f"unsupported authentication mechanism '{mechanism}'")

    def _on_tune_ok(self, method: commands.Connection.TuneOk) -> None:
        self._expect("tune-ok", method)
        self.channel_max = _negotiate(self.channel_max, method.channel_max)
        self.frame_max = _negotiate(self.frame_max, method.frame_max)
        if self.frame_max < INITIAL_FRAME_MAX:
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"frame_max={method.frame_max} < {INITIAL_FRAME_MAX} min_size")
        self.heartbeat = method.heartbeat  # the server proposes, the client's Tune-Ok decides
        self.reader.frame_max = self.frame_max
        self.state = "open"

    def _on_open(self, method: commands.Connection.Open) -> None:
        self._expect("open", method)
        vhost = self.node.vhosts.get(method.virtual_host)
        if vhost is None:
            raise errors.ConnectionError(errors.NOT_ALLOWED, f"vhost {method.virtual_host} not found")
        self.vhost = vhost
        self.state = "opened"
        self.node.connections.add(self)
        self.send_method(0, commands.Connection.OpenOk())
        self.log.info("connection opened", user=self.user, vhost=vhost.name)

    def _on_close(self, method: commands.Connection.Close) -> None:
        self.send_method(0, commands.Connection.CloseOk())
        self.log.info("connection closed by client", code=method.reply_code, text=method.reply_text)
        self._terminate()

    def _on_close_ok(self, method: commands.Connection.CloseOk) -> None:
        self._terminate()

    def _on_blocked_noop(self, method: Any) -> None:
        """Clients may send Blocked/Unblocked too (they are symmetric); RabbitMQ ignores them."""

    _CONNECTION_HANDLERS: dict[int, Callable[["Connection", Any], None]] = {
        commands.Connection.StartOk.index: _on_start_ok,
        commands.Connection.TuneOk.index: _on_tune_ok,
        commands.Connection.Open.index: _on_open,
        commands.Connection.Close.index: _on_close,
        commands.Connection.CloseOk.index: _on_close_ok,
        commands.Connection.Blocked.index: _on_blocked_noop,
        commands.Connection.Unblocked.index: _on_blocked_noop,
    }

    # -- channels ------------------------------------------------------------------------------

    def _on_frame_for_new_channel(self, ftype: int, channel: int, payload: bytes) -> None:
        if ftype != frames.FRAME_METHOD:
            raise errors.ConnectionError(errors.CHANNEL_ERROR, "expected 'channel.open'")
        index, method = self._decode(payload)
        if index != commands.Channel.Open.index:
            raise errors.ConnectionError(
                errors.CHANNEL_ERROR, "expected 'channel.open'", index >> 16, index & 0xFFFF)
        if channel > self.channel_max:
            raise errors.ConnectionError(
                errors.NOT_ALLOWED, f"channel number {channel} exceeds negotiated channel_max {self.channel_max}",
                index >> 16, index & 0xFFFF)
        self.channels[channel] = Channel(self, channel)
        self.send_method(channel, commands.Channel.OpenOk())

    def _on_frame_for_closing_channel(self, ftype: int, channel: int, payload: bytes) -> None:
        """After the broker sent Channel.Close, only Close / Close-Ok count (others are dropped)."""
        if ftype != frames.FRAME_METHOD:
            return
        index, _ = self._decode(payload)
        if index == commands.Channel.CloseOk.index:
            self.closing_channels.discard(channel)
        elif index == commands.Channel.Close.index:
            self.send_method(channel, commands.Channel.CloseOk())

    def _on_frame_while_closing(self, ftype: int, channel: int, payload: bytes) -> None:
        """After the broker sent Connection.Close, wait for Close-Ok and ignore the rest."""
        if channel != 0 or ftype != frames.FRAME_METHOD:
            return
        index, _ = self._decode(payload)
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
        """Send Connection.Close for a hard error and wait for Close-Ok (the server times out)."""
        if self.state in ("closing", "closed"):
            return
        self.log.warning("connection error", code=exc.code, text=exc.text)
        if self.state == "header":
            self._terminate()
            return
        self.send_method(0, commands.Connection.Close(
            reply_code=exc.code, reply_text=exc.text, class_id=exc.class_id, method_id=exc.method_id))
        self._release()
        self.state = "closing"

    def _terminate(self) -> None:
        """The connection is over: release everything and close the socket once flushed."""
        self._release()
        self.state = "closed"
        self.close_when_flushed = True
        self.wakeup()

    def _release(self) -> None:
        for ch in list(self.channels.values()):
            ch.release()
        self.channels.clear()
        if self.vhost is not None:
            for queue in [q for q in self.vhost.queues.values() if q.exclusive_owner is self]:
                self.vhost.remove_queue(queue)
        self.node.connections.discard(self)

    def lost(self) -> None:
        """The socket went away (or timed out): release state without sending anything."""
        if self.state != "closed":
            self.log.info("connection lost", state=self.state)
            self._release()
            self.state = "closed"

    # -- flow control --------------------------------------------------------------------------

    def set_blocked(self, blocked: bool, reason: str = "low on memory") -> None:
        """Connection.Blocked / Unblocked for clients that announced they understand them."""
        if blocked == self.blocked:
            return
        self.blocked = blocked
        if self.state == "opened" and self.capabilities.get("connection.blocked"):
            self.send_method(0, commands.Connection.Blocked(reason) if blocked else commands.Connection.Unblocked())

    def resume_consumers(self) -> None:
        """The outbox drained below the low-water mark: feed the consumers that were paused."""
        for ch in list(self.channels.values()):
            ch.resume()


def _negotiate(server: int, client: int) -> int:
    """The lower non-zero value wins; zero means no limit."""
    if not server:
        return client
    if not client:
        return server
    return min(server, client)
