"""A compact AMQP 0-9-1 client for load generation, on asyncio Protocols and raw sockets.

Only what a load generator needs: the handshake, channels, a few topology methods, publishing
(many messages per socket write, frames built by hand), publisher confirms, consuming (Basic.Deliver,
content header and body parsed with struct in one loop, no object per message) and acks.
pamqp encodes and decodes the handshake and the rare methods; it never sees a message.

The consumer reads an 8-byte big-endian CLOCK_MONOTONIC timestamp (ns) from the start of each body
and records the end-to-end latency in a log-linear histogram (see hist.py); CLOCK_MONOTONIC is
one clock for every process on the machine.
"""

from __future__ import annotations

import asyncio
import struct
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any

from pamqp import commands, frame as pamqp_frame, header as pamqp_header

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = b"\xce"

_FH = struct.Struct(">BHI").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_U64B = struct.Struct(">QB").unpack_from
_PACK_FH = struct.Struct(">BHI").pack
_PACK_Q = struct.Struct(">Q").pack

BASIC_DELIVER = (60 << 16) | 60
BASIC_ACK = (60 << 16) | 80
BASIC_NACK = (60 << 16) | 120

monotonic_ns = time.monotonic_ns


class AMQPError(Exception):
    """The broker closed the channel or the connection, or the socket went away."""


@dataclass
class URL:
    host: str = "127.0.0.1"
    port: int = 5672
    user: str = "guest"
    password: str = "guest"
    vhost: str = "/"

    @classmethod
    def parse(cls, url: str) -> "URL":
        u = urllib.parse.urlsplit(url if "://" in url else "amqp://" + url)
        if u.scheme not in ("amqp", ""):
            raise ValueError(f"only amqp:// URLs are supported, not {url!r}")
        path = u.path[1:] if u.path.startswith("/") else u.path
        return cls(host=u.hostname or "127.0.0.1", port=u.port or 5672,
                   user=urllib.parse.unquote(u.username or "guest"),
                   password=urllib.parse.unquote(u.password or "guest"),
                   vhost=urllib.parse.unquote(path) if path else "/")

    def __str__(self) -> str:
        vhost = urllib.parse.quote(self.vhost, safe="") if self.vhost != "/" else ""
        return f"amqp://{self.user}:***@{self.host}:{self.port}/{vhost}"


def method_frame(channel: int, method: Any) -> bytes:
    return pamqp_frame.marshal(method, channel)


def _shortstr(s: str) -> bytes:
    b = s.encode()
    if len(b) > 255:
        raise ValueError("short string over 255 bytes")
    return bytes([len(b)]) + b


def publish_frames(channel: int, exchange: str, routing_key: str, body_size: int, persistent: bool,
                   frame_max: int) -> tuple[bytes, bytes]:
    """(prefix, suffix) of one message's frames: prefix + 8-byte timestamp + suffix is the message.

    For bodies under 8 bytes there is no timestamp: prefix + suffix is the message.
    """
    args = b"\x00\x00" + _shortstr(exchange) + _shortstr(routing_key) + b"\x00"
    method = b"\x00\x3c\x00\x28" + args
    out = _PACK_FH(1, channel, len(method)) + method + FRAME_END
    props = b"\x10\x00\x02" if persistent else b"\x00\x00"  # delivery_mode=2 / no properties
    hdr = b"\x00\x3c\x00\x00" + _PACK_Q(body_size) + props
    out += _PACK_FH(2, channel, len(hdr)) + hdr + FRAME_END
    if body_size == 0:
        return out, b""
    chunk = frame_max - 8 if frame_max else body_size
    stamp = 8 if body_size >= 8 else 0
    pieces = []
    remaining = body_size
    first = True
    while remaining > 0:
        n = min(chunk, remaining)
        if first:
            pieces.append(_PACK_FH(3, channel, n))
            pieces.append(None)  # split point: the timestamp goes here
            pieces.append(b"\x00" * (n - stamp) + FRAME_END)
            first = False
        else:
            pieces.append(_PACK_FH(3, channel, n) + b"\x00" * n + FRAME_END)
        remaining -= n
    split = pieces.index(None)
    prefix = out + b"".join(pieces[:split])
    suffix = b"".join(pieces[split + 1:])
    return prefix, suffix


class Connection(asyncio.Protocol):
    """One AMQP connection. Consumer and publisher state live here so the hot loop is one method."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.waiters: dict[int, deque[asyncio.Future]] = {}
        self.error: BaseException | None = None
        self.closed = self.loop.create_future()
        self.frame_max = 131072
        self.channel_max = 2047
        self.server_properties: dict[str, Any] = {}
        # writing
        self.write_paused = False
        self._resume: asyncio.Future | None = None
        self.blocked = False
        self.blocked_events = 0
        self._unblocked: asyncio.Future | None = None
        # consuming (channel-independent: a connection consumes on one channel)
        self.consumed = 0
        self.hist: dict[int, int] = {}
        self.measure_latency = True
        self.manual_ack = False
        self.ack_every = 1
        self.ack_channel = 1
        self.pending_acks = 0
        self.last_tag = 0
        self._body_left = 0
        self._first_body = False
        self.cancelled_by_server = 0
        # set capture_header to keep the next delivery's content header (its payload) in first_header
        self.capture_header = False
        self.first_header: bytes | None = None
        # publishing
        self.published = 0
        self.confirmed = 0
        self.nacked = 0
        self._low = 1  # lowest unconfirmed delivery tag
        self._out_of_order: set[int] = set()
        self._confirm_waiter: asyncio.Future | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=512 * 1024, low=128 * 1024)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = AMQPError(f"connection lost: {exc}" if exc else "connection closed")
        self._fail_all()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def data_received(self, data: bytes) -> None:  # noqa: C901 - the hot loop, kept in one piece
        if self.tail:
            data = self.tail + data
        now = monotonic_ns()
        n = len(data)
        pos = 0
        hist = self.hist
        lat = self.measure_latency
        consumed = self.consumed
        left = self._body_left
        first = self._first_body
        manual = self.manual_ack
        capture = self.capture_header
        acks: list[bytes] | None = None
        while n - pos >= 8:
            ftype, channel, size = _FH(data, pos)
            end = pos + 7 + size
            if end >= n:
                break
            if ftype == 3:
                if first:
                    first = False
                    if lat and size >= 8:
                        us = (now - _U64(data, pos + 7)[0]) // 1000
                        if us < 128:
                            b = us if us > 0 else 0
                        else:
                            s = us.bit_length() - 7
                            b = (s << 6) + (us >> s)
                        hist[b] = hist.get(b, 0) + 1
                left -= size
                if left <= 0:
                    consumed += 1
                    if manual:
                        self.pending_acks += 1
                        if self.pending_acks >= self.ack_every:
                            if acks is None:
                                acks = []
                            acks.append(self._ack_frame())
            elif ftype == 1:
                cm = _U32(data, pos + 7)[0]
                if cm == BASIC_DELIVER:
                    self.last_tag = _U64(data, pos + 12 + data[pos + 11])[0]
                elif cm == BASIC_ACK:
                    tag, bits = _U64B(data, pos + 11)
                    self._confirm(tag, bits & 1, False)
                elif cm == BASIC_NACK:
                    tag, bits = _U64B(data, pos + 11)
                    self._confirm(tag, bits & 1, True)
                else:
                    self._slow(data[pos:end + 1])
            elif ftype == 2:
                left = _U64(data, pos + 11)[0]
                first = True
                if capture:
                    self.first_header = data[pos + 7:end]
                    capture = self.capture_header = False
                if left == 0:
                    first = False
                    consumed += 1
                    if manual:
                        self.pending_acks += 1
                        if self.pending_acks >= self.ack_every:
                            if acks is None:
                                acks = []
                            acks.append(self._ack_frame())
            # ftype 8: heartbeat, nothing to do (we ask for none)
            pos = end + 1
        self.tail = data[pos:] if pos < n else b""
        self.consumed = consumed
        self._body_left = left
        self._first_body = first
        if acks and self.transport is not None:
            self.transport.write(b"".join(acks))

    # -- acks and confirms -----------------------------------------------------------------------

    def _ack_frame(self) -> bytes:
        multiple = self.pending_acks > 1 or self.ack_every > 1
        self.pending_acks = 0
        return (_PACK_FH(1, self.ack_channel, 13) + b"\x00\x3c\x00\x50" + _PACK_Q(self.last_tag)
                + (b"\x01" if multiple else b"\x00") + FRAME_END)

    def flush_acks(self) -> None:
        if self.pending_acks and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._ack_frame())

    def _confirm(self, tag: int, multiple: int, nack: bool) -> None:
        low = self._low
        if multiple:
            if tag < low:
                return
            count = tag - low + 1
            if self._out_of_order:
                done = {t for t in self._out_of_order if t <= tag}
                count -= len(done)
                self._out_of_order -= done
            self._low = tag + 1
        elif tag == low:
            count = 1
            low += 1
            while low in self._out_of_order:
                self._out_of_order.discard(low)
                low += 1
            self._low = low
        elif tag > low and tag not in self._out_of_order:
            self._out_of_order.add(tag)
            count = 1
        else:
            return
        if nack:
            self.nacked += count
        self.confirmed += count
        w = self._confirm_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_confirms(self) -> None:
        """Until at least one more confirm (or nack) arrives."""
        self._check()
        self._confirm_waiter = self.loop.create_future()
        await self._confirm_waiter

    # -- rare methods ----------------------------------------------------------------------------

    def _slow(self, raw: bytes) -> None:
        try:
            _, channel, value = pamqp_frame.unmarshal(raw)
        except Exception as exc:  # pamqp refuses something: report, do not die in the callback
            self.error = AMQPError(f"undecodable frame: {exc}")
            return
        name = getattr(value, "name", "")
        if name == "Connection.Close":
            self.error = AMQPError(f"connection closed by broker: {value.reply_code} {value.reply_text}")
            self._write(method_frame(0, commands.Connection.CloseOk()))
            self._fail_all()
            return
        if name == "Channel.Close":
            self.error = AMQPError(f"channel {channel} closed by broker: {value.reply_code} {value.reply_text}")
            self._write(method_frame(channel, commands.Channel.CloseOk()))
            self._fail(channel, self.error)
            return
        if name == "Connection.Blocked":
            self.blocked = True
            self.blocked_events += 1
            return
        if name == "Connection.Unblocked":
            self.blocked = False
            if self._unblocked is not None and not self._unblocked.done():
                self._unblocked.set_result(None)
            return
        if name == "Basic.Cancel":
            self.cancelled_by_server += 1
            return
        if name == "Connection.CloseOk":
            if self.transport is not None:
                self.transport.close()
        queue = self.waiters.get(channel)
        if queue:
            fut = queue.popleft()
            if not fut.done():
                fut.set_result(value)

    def _fail(self, channel: int, exc: BaseException) -> None:
        for fut in self.waiters.pop(channel, ()):
            if not fut.done():
                fut.set_exception(exc)

    def _fail_all(self) -> None:
        for channel in list(self.waiters):
            self._fail(channel, self.error or AMQPError("closed"))
        for fut in (self._confirm_waiter, self._resume, self._unblocked):
            if fut is not None and not fut.done():
                fut.set_result(None)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def expect(self, channel: int) -> asyncio.Future:
        fut = self.loop.create_future()
        self.waiters.setdefault(channel, deque()).append(fut)
        return fut

    async def call(self, channel: int, method: Any, timeout: float = 30) -> Any:
        """Send a synchronous method and wait for its reply on that channel."""
        self._check()
        fut = self.expect(channel)
        self._write(method_frame(channel, method))
        return await asyncio.wait_for(fut, timeout)

    # -- flow control ----------------------------------------------------------------------------

    async def writable(self) -> None:
        """Wait once for the socket buffer to drain below its low-water mark or the broker to unblock
        us (or for wake()); callers loop and check again."""
        self._check()
        if self.write_paused:
            self._resume = self.loop.create_future()
            await self._resume
        elif self.blocked:
            self._unblocked = self.loop.create_future()
            await self._unblocked

    def wake(self) -> None:
        """Release whatever waits for confirms, writability or unblocking (at the stop time)."""
        for fut in (self._confirm_waiter, self._resume, self._unblocked):
            if fut is not None and not fut.done():
                fut.set_result(None)

    # -- opening and closing ---------------------------------------------------------------------

    async def handshake(self, url: URL, heartbeat: int = 0, timeout: float = 30) -> None:
        start = self.expect(0)
        self._write(PROTOCOL_HEADER)
        value = await asyncio.wait_for(start, timeout)
        if value.name != "Connection.Start":
            raise AMQPError(f"expected Connection.Start, got {value.name}")
        self.server_properties = value.server_properties or {}
        tune = self.expect(0)
        props = {"product": "amqpd-perf", "platform": "Python/asyncio",
                 "capabilities": {"publisher_confirms": True, "basic.nack": True, "consumer_cancel_notify": True,
                                  "connection.blocked": True, "exchange_exchange_bindings": True}}
        self._write(method_frame(0, commands.Connection.StartOk(
            client_properties=props, mechanism="PLAIN", response=f"\0{url.user}\0{url.password}", locale="en_US")))
        value = await asyncio.wait_for(tune, timeout)
        if value.name != "Connection.Tune":
            raise AMQPError(f"expected Connection.Tune, got {value.name}")
        self.frame_max = value.frame_max or 131072
        self.channel_max = value.channel_max or 65535
        self._write(method_frame(0, commands.Connection.TuneOk(
            channel_max=self.channel_max, frame_max=self.frame_max, heartbeat=heartbeat)))
        ok = await self.call(0, commands.Connection.Open(virtual_host=url.vhost), timeout)
        if ok.name != "Connection.OpenOk":
            raise AMQPError(f"expected Connection.OpenOk, got {ok.name}")

    async def close(self, timeout: float = 3) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.error is None:
            fut = self.expect(0)
            self._write(method_frame(0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)))
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            except Exception:
                pass
        self.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 1)
        except Exception:
            self.transport.abort()

    # -- channel-level helpers -------------------------------------------------------------------

    async def channel(self, number: int = 1) -> None:
        await self.call(number, commands.Channel.Open())

    async def confirm_select(self, channel: int = 1) -> None:
        await self.call(channel, commands.Confirm.Select())

    async def qos(self, prefetch: int, channel: int = 1, global_: bool = False) -> None:
        await self.call(channel, commands.Basic.Qos(prefetch_count=prefetch, global_=global_))

    async def consume(self, queue: str, no_ack: bool, channel: int = 1) -> str:
        ok = await self.call(channel, commands.Basic.Consume(queue=queue, no_ack=no_ack))
        return ok.consumer_tag

    async def exchange_declare(self, name: str, kind: str, durable: bool = False, auto_delete: bool = False,
                               channel: int = 1) -> None:
        await self.call(channel, commands.Exchange.Declare(exchange=name, exchange_type=kind, durable=durable,
                                                           auto_delete=auto_delete))

    async def exchange_delete(self, name: str, channel: int = 1, timeout: float = 30) -> None:
        await self.call(channel, commands.Exchange.Delete(exchange=name), timeout)

    async def queue_declare(self, name: str, durable: bool = False, passive: bool = False,
                            auto_delete: bool = False, arguments: dict | None = None, channel: int = 1) -> Any:
        return await self.call(channel, commands.Queue.Declare(queue=name, durable=durable, passive=passive,
                                                               auto_delete=auto_delete, arguments=arguments))

    async def queue_bind(self, queue: str, exchange: str, routing_key: str, channel: int = 1) -> None:
        await self.call(channel, commands.Queue.Bind(queue=queue, exchange=exchange, routing_key=routing_key))

    async def queue_delete(self, name: str, channel: int = 1) -> Any:
        return await self.call(channel, commands.Queue.Delete(queue=name))

    async def queue_purge(self, name: str, channel: int = 1) -> Any:
        return await self.call(channel, commands.Queue.Purge(queue=name))


async def connect(url: URL | str, heartbeat: int = 0, timeout: float = 30) -> Connection:
    if isinstance(url, str):
        url = URL.parse(url)
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(loop.create_connection(Connection, url.host, url.port), timeout)
    try:
        await conn.handshake(url, heartbeat, timeout)
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    return conn


class Publisher:
    """Pre-built message frames for one (exchange, routing keys) and the code that sends batches."""

    def __init__(self, conn: Connection, exchange: str, routing_keys: list[str], body_size: int,
                 persistent: bool, channel: int = 1) -> None:
        self.conn = conn
        self.parts = [publish_frames(channel, exchange, rk, body_size, persistent, conn.frame_max)
                      for rk in routing_keys]
        self.stamped = body_size >= 8
        self.next_key = 0
        self.message_bytes = max(len(p) + len(s) + (8 if self.stamped else 0) for p, s in self.parts)

    def send(self, count: int) -> None:
        """Write count messages in one socket write, stamped now, routing keys in rotation."""
        ts = _PACK_Q(monotonic_ns()) if self.stamped else b""
        parts = self.parts
        if len(parts) == 1:
            prefix, suffix = parts[0]
            data = (prefix + ts + suffix) * count
        else:
            k = self.next_key
            nk = len(parts)
            pieces = []
            for _ in range(count):
                prefix, suffix = parts[k]
                pieces.append(prefix)
                pieces.append(ts)
                pieces.append(suffix)
                k += 1
                if k == nk:
                    k = 0
            self.next_key = k
            data = b"".join(pieces)
        self.conn.transport.write(data)  # type: ignore[union-attr]
        self.conn.published += count


def content_headers(payload: bytes) -> dict[str, Any]:
    """The headers table of a content header frame's payload (as kept in first_header)."""
    header = pamqp_header.ContentHeader()
    header.unmarshal(payload)
    return dict(header.properties.headers or {})


def delivery_stream(count: int, body_size: int, routing_key: str = "perf", consumer_tag: str = "ctag-1") -> bytes:
    """Bytes of count deliveries as a broker sends them (for the in-process parse ceiling)."""
    out = []
    body = _PACK_Q(monotonic_ns()) + b"\x00" * max(0, body_size - 8) if body_size >= 8 else b"\x00" * body_size
    for tag in range(1, count + 1):
        args = _shortstr(consumer_tag) + _PACK_Q(tag) + b"\x00" + _shortstr("perf.x") + _shortstr(routing_key)
        method = b"\x00\x3c\x00\x3c" + args
        out.append(_PACK_FH(1, 1, len(method)) + method + FRAME_END)
        hdr = b"\x00\x3c\x00\x00" + _PACK_Q(body_size) + b"\x00\x00"
        out.append(_PACK_FH(2, 1, len(hdr)) + hdr + FRAME_END)
        if body_size:
            out.append(_PACK_FH(3, 1, len(body)) + body + FRAME_END)
    return b"".join(out)


# pamqp's own encoder, to check publish_frames against it in a self-test
def _pamqp_publish(channel: int, exchange: str, routing_key: str, body: bytes, persistent: bool) -> bytes:
    from pamqp import body as pamqp_body
    props = commands.Basic.Properties(delivery_mode=2) if persistent else commands.Basic.Properties()
    return (pamqp_frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), channel)
            + pamqp_frame.marshal(pamqp_header.ContentHeader(0, len(body), props), channel)
            + pamqp_frame.marshal(pamqp_body.ContentBody(body), channel))
