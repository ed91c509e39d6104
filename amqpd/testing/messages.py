"""The messages a test sees: one sitting in a queue (``PeekedMessage``) and one a client
published (``PublishedMessage``), with their properties as a dict under pika's names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pamqp import header

BASIC_CLASS = 60


@dataclass(frozen=True)
class PeekedMessage:
    """A ready message as it sits in its queue; properties holds the set ones under pika's names."""

    body: bytes
    properties: dict[str, Any]
    exchange: str
    routing_key: str
    redelivered: bool


@dataclass(frozen=True)
class PublishedMessage:
    """A message a client published into the vhost, with the queues it was routed to (sorted,
    as routing has no order; ``[]`` when it was unroutable), as it arrived (before any
    dead-lettering changed its headers)."""

    exchange: str
    routing_key: str
    queues: list[str]
    body: bytes
    properties: dict[str, Any]


def properties(raw: bytes) -> dict[str, Any]:
    """Raw Basic property bytes as a dict of the set ones, under pika's names (``type``, not
    pamqp's ``message_type``)."""
    content = header.ContentHeader()
    content.unmarshal(BASIC_CLASS.to_bytes(2, "big") + bytes(10) + raw)
    flags = int.from_bytes(raw[:2], "big")
    shown = {name: getattr(content.properties, name) for bit, name in enumerate(content.properties.attributes())
             if flags & (0x8000 >> bit)}  # the flag word names the set properties, in this order
    if "message_type" in shown:
        shown["type"] = shown.pop("message_type")
    return shown
