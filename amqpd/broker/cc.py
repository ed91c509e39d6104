"""Sender-selected distribution: CC and BCC headers add routing keys; BCC is never delivered.

As RabbitMQ does, a message routes on its publish routing key followed by the longstr items of
its CC and then its BCC array header; other items are ignored, a CC or BCC header that is not an
array makes the publish invalid. The BCC header is removed before the message is stored or
delivered, so such a message carries its extra keys itself (they matter again when it is
dead-lettered without a dead-letter routing key).
"""

from __future__ import annotations

from typing import Final

from amqpd.broker import headers
from amqpd.broker.message import Message
from amqpd.protocol import errors

_CC: Final = b"\x02CC"  # the encoded header names, to skip decoding most tables
_BCC: Final = b"\x03BCC"
HEADERS_BIT: Final = 0x20  # the headers flag in the first byte of the flag word: without it, no CC/BCC
_TYPE_NAMES = {
    b"t": "bool", b"b": "byte", b"B": "unsignedbyte", b"s": "short", b"u": "unsignedshort",
    b"I": "signedint", b"i": "unsignedint", b"l": "long", b"L": "long", b"f": "float",
    b"d": "double", b"D": "decimal", b"S": "longstr", b"T": "timestamp", b"F": "table",
    b"V": "void", b"x": "binary",
}


class RoutedMessage(Message):
    """A message whose routing keys beyond the first are not all in its headers."""

    __slots__ = ("extra_keys",)

    def __init__(self, exchange: str, routing_keys: list[str], raw_properties: bytes, body: bytes,
                 delivery_mode: int, priority: int | None, expiration: int | None,
                 message_id: int | None = None) -> None:
        super().__init__(exchange, routing_keys[0], raw_properties, body, delivery_mode, priority,
                         expiration, message_id)
        self.extra_keys = routing_keys[1:]


def _may_have_routes(raw_properties: bytes) -> bool:
    # find, not `in`: bytes.__contains__ raises and clears a TypeError for a bytes argument
    return bool(raw_properties[0] & HEADERS_BIT) and (raw_properties.find(_CC) >= 0 or raw_properties.find(_BCC) >= 0)


def header_routes(fields: list[headers.Field]) -> list[str]:
    """RabbitMQ's header_routes: the CC keys, then the BCC keys (406 for a non-array header)."""
    keys: list[str] = []
    for name in (b"CC", b"BCC"):
        encoded = headers.lookup(fields, name)
        if encoded is None:
            continue
        if encoded[:1] != b"A":
            kind = _TYPE_NAMES.get(encoded[:1], "unknown")
            raise errors.ChannelError(
                errors.PRECONDITION_FAILED,
                f'invalid message: {{unacceptable_type_in_header,"{name.decode()}",{kind}}}')
        keys.extend(_text(headers.value(item)) for item in headers.array_items(encoded) if item[:1] == b"S")
    return keys


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def prepare(message: Message) -> Message:
    """A published message checked for CC/BCC; with BCC, a copy without that header."""
    raw = message.raw_properties
    if not _may_have_routes(raw):
        return message
    props = headers.Properties(raw)
    fields = props.headers
    keys = header_routes(fields)
    bcc = next((i for i, (key, _) in enumerate(fields) if key == b"BCC"), None)
    if bcc is None:
        return message
    props.headers = fields[:bcc] + fields[bcc + 1:]
    return RoutedMessage(message.exchange, [message.routing_key, *keys], props.encode(), message.body,
                         2 if message.persistent else 1, message.priority, message.expiration, message.id)


def extra_keys(message: Message) -> list[str]:
    """The routing keys after the publish's own one (usually none)."""
    if isinstance(message, RoutedMessage):
        return message.extra_keys
    raw = message.raw_properties
    return header_routes(headers.Properties(raw).headers) if _may_have_routes(raw) else []


class KeyView:
    """A message as an exchange sees it when routing on one of its extra keys."""

    __slots__ = ("message", "routing_key")

    def __init__(self, message: Message, routing_key: str) -> None:
        self.message = message
        self.routing_key = routing_key

    @property
    def headers(self) -> dict:
        return self.message.headers
