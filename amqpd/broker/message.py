"""A message as the broker holds it: raw property bytes and body, plus the fields it routes on."""

from __future__ import annotations

import itertools
import struct
from typing import Any

from amqpd.protocol import decode_headers, frames, parse_content_header

_ids = itertools.count(1)
_NAMES: dict[tuple[str, str], bytes] = {}  # (exchange, routing key) -> encoded, for deliveries
_NAMES_MAX = 4096


def reserve_ids(next_id: int) -> None:
    """Continue numbering after the ids recovered from the store (ids order a queue)."""
    global _ids
    _ids = itertools.count(next_id)


class Message:
    """One published message; shared by every queue it is routed to (no per-queue copies)."""

    __slots__ = ("id", "exchange", "routing_key", "raw_properties", "body", "persistent", "priority",
                 "expiration", "_headers", "_names")

    def __init__(
        self,
        exchange: str,
        routing_key: str,
        raw_properties: bytes,
        body: bytes,
        delivery_mode: int = 0,
        priority: int | None = None,
        expiration: int | None = None,
        message_id: int | None = None,
    ) -> None:
        self.id = next(_ids) if message_id is None else message_id
        self.exchange = exchange
        self.routing_key = routing_key
        self.raw_properties = raw_properties
        self.body = body
        self.persistent = delivery_mode == 2
        self.priority = priority
        self.expiration = expiration  # ms (the expiration property, parsed once at publish)
        self._headers: dict[str, Any] | None = None
        self._names: bytes | None = None

    @classmethod
    def restore(cls, message_id: int, exchange: str, routing_key: str, raw_properties: bytes, body: bytes) -> "Message":
        """A message read back from the store."""
        header = parse_content_header(struct.pack(">HHQ", 60, 0, len(body)) + raw_properties, check_headers=False)
        return cls(exchange, routing_key, raw_properties, body, header.delivery_mode, header.priority,
                   header.expiration, message_id)

    @property
    def headers(self) -> dict[str, Any]:
        """The headers table, decoded on first use only (headers exchanges, CC/BCC)."""
        if self._headers is None:
            self._headers = decode_headers(self.raw_properties)
        return self._headers

    @property
    def names(self) -> bytes:
        """Exchange and routing key as encoded short strings, made once for all deliveries (and
        shared by the messages of a busy exchange and key)."""
        if self._names is None:
            key = (self.exchange, self.routing_key)
            names = _NAMES.get(key)
            if names is None:
                if len(_NAMES) >= _NAMES_MAX:
                    _NAMES.clear()
                names = _NAMES[key] = frames.shortstr(self.exchange) + frames.shortstr(self.routing_key)
            self._names = names
        return self._names

    @property
    def size(self) -> int:
        return len(self.body)
