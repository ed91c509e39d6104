"""Frame splitting and the hand-written codecs of the hot path.

Everything here is sans-IO: bytes in, frames out; values in, bytes appended to an outbox.
pamqp is the codec of record for every method; Basic.Publish, Basic.Ack and the frames of a
delivery are coded here by hand because they run once per message (tests prove they agree
with pamqp byte for byte).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generator

from pamqp import commands, encode
from pamqp import frame as pamqp_frame

from amqpd.protocol import erlang, errors, tables
from amqpd.protocol.erlang import Atom

if TYPE_CHECKING:
    from amqpd.protocol.properties import ContentHeader

FRAME_METHOD: Final = 1
FRAME_HEADER: Final = 2
FRAME_BODY: Final = 3
FRAME_HEARTBEAT: Final = 8
FRAME_END: Final = 0xCE
FRAME_OVERHEAD: Final = 8  # 7-byte header + end octet

PROTOCOL_HEADER: Final = b"AMQP\x00\x00\x09\x01"
HEARTBEAT_FRAME: Final = b"\x08\x00\x00\x00\x00\x00\x00\xce"

_FRAME_HEAD: Final = struct.Struct(">BHI")
_METHOD_ID: Final = struct.Struct(">HH")
_CONTENT_HEAD: Final = struct.Struct(">BHIHHQ")  # frame head + class, weight, body size
_DELIVER_HEAD: Final = struct.Struct(">BHIHH")  # frame head + class, method
_U64_BIT: Final = struct.Struct(">QB")
_U64: Final = struct.Struct(">Q")
_U32: Final = struct.Struct(">I")

BASIC_PUBLISH: Final = 0x003C0028
BASIC_ACK: Final = 0x003C0050


class FrameReader:
    """Splits a byte stream into (type, channel, payload) frames, bounded by frame_max (0: none).

    What is parsed is immutable bytes: a read that starts at a frame boundary is parsed as
    received (no copy) and each payload is one slice of it (a bytearray buffer cost a copy in
    and two out, its slice and then ``bytes`` of that, for every byte). A frame cut by the end of
    a read is held in a bytearray until the bytes it needs have arrived, so a frame trickled in
    many small reads is copied a bounded number of times, not once per read.
    """

    def __init__(self, frame_max: int) -> None:
        self.frame_max = frame_max
        self._data = b""  # to parse: complete frames, maybe a partial one at the end
        self._held = bytearray()  # a partial frame (when _data is empty), waiting for _need bytes
        self._need = 0

    @property
    def unparsed(self) -> int:
        """Bytes received and not yet taken as frames."""
        return len(self._data) + len(self._held)

    def feed(self, data: bytes) -> None:
        if self._held:
            self._held += data
            if len(self._held) >= self._need:
                self._data, self._held = bytes(self._held), bytearray()
        elif self._data:
            self._data += data  # complete frames were left for the next turn
        else:
            self._data = bytes(data)  # bytes(bytes) is no copy

    def take(self, size: int) -> bytes | None:
        """The first size bytes buffered, removed (the protocol header), or None while fewer are."""
        if len(self._data) < size:
            return None
        data = self._data[:size]
        self._data = self._data[size:]
        return data

    def clear(self) -> None:
        self._data, self._held, self._need = b"", bytearray(), 0

    def frames(self) -> Generator[tuple[int, int, bytes], None, None]:
        """Every complete frame buffered so far, in order; a partial tail stays for the next feed.

        A frame that breaks the stream raises errors.FatalFrameError when it is reached, after
        the frames before it were taken (RabbitMQ handles those first too). RabbitMQ allows a
        payload of exactly frame_max bytes although its message quotes frame_max - 8.
        """
        buf = self._data
        end = len(buf)
        pos = 0
        need = 0  # set when the rest is a partial frame: the bytes it needs
        try:
            while pos < end:
                if end - pos < 7:
                    need = 7
                    break
                ftype, channel, size = _FRAME_HEAD.unpack_from(buf, pos)
                if self.frame_max and size > self.frame_max:
                    raise errors.frame_error(
                        ftype, b"", (Atom("frame_too_large"), size, self.frame_max - FRAME_OVERHEAD), fatal=True)
                stop = pos + 7 + size
                if stop >= end:
                    need = size + 8
                    break
                payload = buf[pos + 7 : stop]
                if buf[stop] != FRAME_END:
                    raise errors.frame_error(ftype, payload, (Atom("invalid_frame_end_marker"), buf[stop]), fatal=True)
                pos = stop + 1
                yield ftype, channel, payload
        finally:
            if need:  # all complete frames taken: hold the partial one
                self._data, self._held, self._need = b"", bytearray(buf[pos:]), need
            elif pos:  # everything taken, or stopped early with complete frames left
                self._data = buf[pos:]


class Publish:
    """Basic.Publish decoded by hand (the per-message method); protocol/content.py's
    ContentAssembler fills in its content header and body.

    A plain class, not a dataclass: compiled, a dataclass's ``__init__`` is the interpreted one
    the dataclasses module writes, six times the cost of a native one, twice per message."""

    __slots__ = ("exchange", "routing_key", "mandatory", "immediate", "header", "body")
    index: ClassVar[int] = BASIC_PUBLISH
    name: ClassVar[str] = "Basic.Publish"

    def __init__(self, exchange: str, routing_key: str, mandatory: bool, immediate: bool) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.mandatory = mandatory
        self.immediate = immediate
        self.header: ContentHeader | None = None
        self.body = b""


class Ack:
    """Basic.Ack decoded by hand (the per-message method; a plain class, as Publish)."""

    __slots__ = ("delivery_tag", "multiple")
    index: ClassVar[int] = BASIC_ACK
    name: ClassVar[str] = "Basic.Ack"

    def __init__(self, delivery_tag: int, multiple: bool) -> None:
        self.delivery_tag = delivery_tag
        self.multiple = multiple


def decode_method(payload: bytes) -> tuple[int, Any]:
    """(class_id << 16 | method_id, method object) for a method frame's payload (4 bytes or more).

    Raises KeyError for unknown class/method ids and ValueError when the arguments do not decode:
    cut short, or with octets left over after the last one (RabbitMQ's decoder matches the
    whole payload, so both are the same fault).
    """
    (index,) = _U32.unpack_from(payload, 0)
    method_class = commands.INDEX_MAPPING[index]  # KeyError: unknown ids
    try:
        if index == BASIC_PUBLISH:  # short strings decoded inline: this runs once per message
            stop = 7 + payload[6]
            exchange = payload[7:stop].decode("utf-8")
            pos = stop + 1
            stop = pos + payload[stop]
            bits = payload[stop]  # IndexError when the strings overran the frame
            if len(payload) != stop + 1:
                raise ValueError(f"{len(payload) - stop - 1} octets left over")
            return index, Publish(exchange, payload[pos:stop].decode("utf-8"), bool(bits & 1), bool(bits & 2))
        if index == BASIC_ACK:
            tag, bits = _U64_BIT.unpack_from(payload, 4)
            if len(payload) != 13:
                raise ValueError(f"{len(payload) - 13} octets left over")
            return index, Ack(tag, bool(bits & 1))
        method = method_class()
        end = _unmarshal(method, payload)
        if end != len(payload):
            raise ValueError(f"{len(payload) - end} octets left over")
    except (struct.error, IndexError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot decode {method_class.__name__}: {exc}") from exc
    return index, method


def decode_method_frame(payload: bytes) -> tuple[int, Any]:
    """decode_method with its faults as RabbitMQ's reader answers them: unknown ids end the
    connection without a frame, arguments that do not decode are a 501 naming the method."""
    try:
        return decode_method(payload)
    except KeyError:
        raise errors.SilentClose(f"unknown method ids {payload[:4].hex()}") from None
    except ValueError:
        index = int.from_bytes(payload[:4], "big")
        raise errors.ConnectionError(
            errors.FRAME_ERROR, "cannot decode " + erlang.write(payload[4:]), index >> 16, index & 0xFFFF
        ) from None


_FIXED_ARGUMENTS = {"octet": struct.Struct(">B"), "short": struct.Struct(">H"), "long": _U32,
                    "longlong": struct.Struct(">q")}
_PLANS: dict[type, tuple[tuple[str, str], ...]] = {}  # method class -> (attribute, AMQP type) in wire order


def _unmarshal(method: Any, payload: bytes) -> int:
    """Set a pamqp method's attributes from its arguments (after the 4 id bytes), as pamqp's own
    unmarshal would, but at offsets into the payload: pamqp slices the remaining payload at
    every field and decodes tables recursively, which is quadratic and depth-limited.
    Returns the offset just past the last argument."""
    plan = _PLANS.get(type(method))
    if plan is None:
        plan = _PLANS[type(method)] = tuple((name, method.amqp_type(name)) for name in method.__slots__)
    pos, bit = 4, 0
    for name, kind in plan:
        if kind == "bit":
            setattr(method, name, bool(payload[pos] & (1 << bit)))
            bit += 1
            if bit == 8:
                pos, bit = pos + 1, 0
            continue
        if bit:
            pos, bit = pos + 1, 0
        if kind == "shortstr":
            stop = pos + 1 + payload[pos]
            if stop > len(payload):
                raise ValueError("short string overruns the frame")
            value: Any = payload[pos + 1 : stop].decode("utf-8")
        elif kind == "longstr":
            stop = pos + 4 + _U32.unpack_from(payload, pos)[0]
            if stop > len(payload):
                raise ValueError("long string overruns the frame")
            raw = payload[pos + 4 : stop]
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw
        elif kind == "table":
            value, stop = tables.decode_table(payload, pos)
        else:
            packer = _FIXED_ARGUMENTS[kind]  # KeyError: a type no method of ours carries
            (value,) = packer.unpack_from(payload, pos)
            stop = pos + packer.size
        setattr(method, name, value)
        pos = stop
    return pos + 1 if bit else pos


def encode_method(channel: int, method: Any) -> bytes:
    """A whole method frame for any pamqp method object."""
    return pamqp_frame.marshal(method, channel)


def connection_start(server_properties: dict[str, Any], mechanisms: str, locales: str) -> bytes:
    """Connection.Start 0-9 with the server properties in the given key order, as RabbitMQ
    sends them (pamqp's encoder sorts table keys)."""
    payload = (_METHOD_ID.pack(10, 10) + b"\x00\x09" + tables.encode_table(server_properties)
               + encode.long_string(mechanisms) + encode.long_string(locales))
    return _FRAME_HEAD.pack(FRAME_METHOD, 0, len(payload)) + payload + b"\xce"


def shortstr(value: str) -> bytes:
    """A length-prefixed AMQP short string, for the pre-encoded arguments of write_deliver."""
    raw = value.encode("utf-8")
    return bytes((len(raw),)) + raw


def write_deliver(
    out: bytearray, channel: int, consumer_tag: bytes, delivery_tag: int, redelivered: bool, names: bytes
) -> None:
    """Basic.Deliver; consumer_tag and names (exchange + routing key) come as encoded short strings."""
    out += _DELIVER_HEAD.pack(FRAME_METHOD, channel, 13 + len(consumer_tag) + len(names), 60, 60)
    out += consumer_tag
    out += _U64_BIT.pack(delivery_tag, 1 if redelivered else 0)
    out += names
    out.append(FRAME_END)


def write_get_ok(
    out: bytearray, channel: int, delivery_tag: int, redelivered: bool, names: bytes, message_count: int
) -> None:
    """Basic.Get-Ok, encoded like write_deliver."""
    out += _DELIVER_HEAD.pack(FRAME_METHOD, channel, 17 + len(names), 60, 71)
    out += _U64_BIT.pack(delivery_tag, 1 if redelivered else 0)
    out += names
    out += _U32.pack(message_count)
    out.append(FRAME_END)


def write_content(out: bytearray, channel: int, raw_properties: bytes, body: bytes, frame_max: int) -> None:
    """Content header (properties forwarded verbatim) and the body split to fit frame_max (0: no limit)."""
    body_size = len(body)
    out += _CONTENT_HEAD.pack(FRAME_HEADER, channel, 12 + len(raw_properties), 60, 0, body_size)
    out += raw_properties
    out.append(FRAME_END)
    chunk = frame_max - FRAME_OVERHEAD
    if not frame_max or body_size <= chunk:
        if body_size:
            out += _FRAME_HEAD.pack(FRAME_BODY, channel, body_size)
            out += body
            out.append(FRAME_END)
        return
    view = memoryview(body)
    for start in range(0, body_size, chunk):
        piece = view[start : start + chunk]
        out += _FRAME_HEAD.pack(FRAME_BODY, channel, len(piece))
        out += piece
        out.append(FRAME_END)


def queue_declare_ok(channel: int, queue: str, message_count: int, consumer_count: int) -> bytes:
    """Queue.DeclareOk by hand: pamqp refuses to encode names outside a narrow character set."""
    payload = _METHOD_ID.pack(50, 11) + shortstr(queue) + struct.pack(">II", message_count, consumer_count)
    return _FRAME_HEAD.pack(FRAME_METHOD, channel, len(payload)) + payload + b"\xce"


def basic_return_head(channel: int, code: int, text: str, exchange: str, routing_key: str) -> bytes:
    """Basic.Return by hand, for the same reason as queue_declare_ok."""
    payload = (
        _METHOD_ID.pack(60, 50) + struct.pack(">H", code) + shortstr(text) + shortstr(exchange)
        + shortstr(routing_key)
    )
    return _FRAME_HEAD.pack(FRAME_METHOD, channel, len(payload)) + payload + b"\xce"


def confirm_frame(channel: int, ack: bool, delivery_tag: int, multiple: bool) -> bytes:
    """Basic.Ack or Basic.Nack from the broker to a confirm-mode publisher (RabbitMQ sets a
    nack's requeue bit)."""
    bits = (1 if multiple else 0) | (0 if ack else 2)
    payload = _METHOD_ID.pack(60, 80 if ack else 120) + _U64_BIT.pack(delivery_tag, bits)
    return _FRAME_HEAD.pack(FRAME_METHOD, channel, len(payload)) + payload + b"\xce"


def channel_open_ok(channel: int) -> bytes:
    """Channel.Open-Ok with the empty reserved field RabbitMQ sends (pamqp would send '0')."""
    payload = _METHOD_ID.pack(20, 11) + _U32.pack(0)
    return _FRAME_HEAD.pack(FRAME_METHOD, channel, len(payload)) + payload + b"\xce"
