"""Content assembly, sans-IO: Basic.Publish, its content header and its body frames in, one
complete publish out.

A channel owns one ContentAssembler. The frame-order faults it raises are RabbitMQ's
(rabbit_command_assembler): their texts and reply codes are what clients see, and the channel
adds the method ids (Basic.Publish's while a publish is being assembled, 0/0 otherwise).
Bytes of a body still incomplete are counted in a ledger (the node's MemoryLedger), so the
memory alarm weighs a client that sends a large message slowly.
"""

from __future__ import annotations

from typing import Protocol

from amqpd.protocol import errors
from amqpd.protocol.frames import Publish
from amqpd.protocol.properties import parse_content_header

BASIC_CLASS = 60  # the only class with content in AMQP 0-9-1 as RabbitMQ speaks it
EXPECTED_METHOD = "expected method frame, got non method frame instead"
EXPECTED_HEADER = "expected content header for class 60, got non content header frame instead"
EXPECTED_BODY = "expected content body, got non content body frame instead"


class Ledger(Protocol):
    """Where incomplete bodies are counted: any object with an integer ``buffered``."""

    buffered: int


class MalformedContentHeader(errors.InternalError):
    """A property list that does not parse: the client gets RabbitMQ's bare 541, the log the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ContentAssembler:
    """The content of one publish at a time: ``start`` with the decoded Basic.Publish, then
    ``header`` and ``body`` with the frames' payloads; each returns the Publish, its ``header``
    and ``body`` filled in, once the body is complete, and None before.

    A body longer than its header announced never completes (as in RabbitMQ, the next method
    frame is then an UNEXPECTED_FRAME), and its excess is not kept.
    """

    __slots__ = ("publish", "max_size", "_ledger", "_header", "_parts", "_received", "_held")

    def __init__(self, max_size: int, ledger: Ledger) -> None:
        self.publish: Publish | None = None  # the publish being assembled
        self.max_size = max_size  # largest body accepted (--max-message-size)
        self._ledger = ledger
        self._header = False  # the content header of the current publish arrived
        self._parts: list[bytes] = []
        self._received = 0
        self._held = 0  # bytes of an incomplete body counted in the ledger

    @property
    def assembling(self) -> bool:
        """A publish's content is still arriving (its publisher is mid-publish)."""
        return self.publish is not None

    def unexpected_method(self) -> errors.ConnectionError:
        """The fault for a method frame that arrives while a publish's content is awaited."""
        return errors.ConnectionError(errors.UNEXPECTED_FRAME, self._expected())

    def _expected(self) -> str:
        return EXPECTED_BODY if self._header else EXPECTED_HEADER

    def start(self, publish: Publish) -> None:
        """A Basic.Publish arrived (the caller checked no publish was being assembled)."""
        if publish.immediate:  # RabbitMQ 3.x dropped immediate delivery
            raise errors.ConnectionError(errors.NOT_IMPLEMENTED, "immediate=true")
        self.publish = publish

    def header(self, payload: bytes) -> Publish | None:
        """A content header frame: validated (its headers table walked, never built) and kept."""
        publish = self.publish
        if publish is None:
            raise errors.ConnectionError(errors.UNEXPECTED_FRAME, EXPECTED_METHOD)
        if self._header or payload[2:4] != b"\0\0":  # a second header, or weight != 0
            raise errors.ConnectionError(errors.UNEXPECTED_FRAME, self._expected())
        try:
            header = parse_content_header(payload)
        except ValueError as exc:  # RabbitMQ: 541 INTERNAL_ERROR with no method ids
            raise MalformedContentHeader(str(exc)) from None
        if header.class_id != BASIC_CLASS:
            raise errors.ConnectionError(
                errors.UNEXPECTED_FRAME,
                f"expected content header for class 60, got one for class {header.class_id} instead")
        if header.body_size > self.max_size:
            self.publish = None
            raise errors.ChannelError(
                errors.PRECONDITION_FAILED,
                f"message size {header.body_size} is larger than configured max size {self.max_size}")
        publish.header = header
        if header.body_size == 0:
            self.publish = None
            return publish
        self._header = True
        return None

    def body(self, payload: bytes) -> Publish | None:
        """A content body frame: collected until the announced size is reached."""
        publish = self.publish
        if not self._header:
            raise errors.ConnectionError(
                errors.UNEXPECTED_FRAME, EXPECTED_METHOD if publish is None else EXPECTED_HEADER)
        assert publish is not None and publish.header is not None
        size = publish.header.body_size
        received = self._received + len(payload)
        if received > size:
            self._received = size + 1
            self._drop_parts()
            return None
        parts = self._parts
        if received == size:
            if parts:
                parts.append(payload)
                publish.body = b"".join(parts)
                self._drop_parts()
            else:
                publish.body = payload
            self.publish, self._header, self._received = None, False, 0
            return publish
        self._received = received
        parts.append(payload)
        self._held += len(payload)
        self._ledger.buffered += len(payload)
        return None

    def reset(self) -> None:
        """Forget the publish being assembled (its channel is going away)."""
        self.publish, self._header, self._received = None, False, 0
        self._drop_parts()

    def _drop_parts(self) -> None:
        """Let go of the body frames collected so far (and of their count in the ledger)."""
        self._parts = []
        if self._held:
            self._ledger.buffered -= self._held
            self._held = 0
