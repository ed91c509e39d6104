"""AMQP reply codes as exceptions.

Code that finds a fault raises; the channel or connection boundary turns the exception into
Channel.Close or Connection.Close carrying the offending method's class and method ids, the
way RabbitMQ does. Reply texts follow RabbitMQ's form: ``NOT_FOUND - no queue 'q' in vhost '/'``.
"""

from __future__ import annotations

from amqpd.protocol import erlang

REPLY_NAMES: dict[int, str] = {
    200: "OK",
    311: "CONTENT_TOO_LARGE",
    312: "NO_ROUTE",
    313: "NO_CONSUMERS",
    320: "CONNECTION_FORCED",
    402: "INVALID_PATH",
    403: "ACCESS_REFUSED",
    404: "NOT_FOUND",
    405: "RESOURCE_LOCKED",
    406: "PRECONDITION_FAILED",
    501: "FRAME_ERROR",
    502: "SYNTAX_ERROR",
    503: "COMMAND_INVALID",
    504: "CHANNEL_ERROR",
    505: "UNEXPECTED_FRAME",
    506: "RESOURCE_ERROR",
    530: "NOT_ALLOWED",
    540: "NOT_IMPLEMENTED",
    541: "INTERNAL_ERROR",
}

CONNECTION_FORCED = 320
ACCESS_REFUSED = 403
NOT_FOUND = 404
RESOURCE_LOCKED = 405
PRECONDITION_FAILED = 406
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540
INTERNAL_ERROR = 541


def reply_text(code: int, detail: str) -> str:
    """RabbitMQ's reply text: the code's name, a dash, then the detail.

    A short string holds 255 bytes, so RabbitMQ cuts a longer text to 252 bytes and "...".
    """
    text = f"{REPLY_NAMES[code]} - {detail}"
    raw = text.encode("utf-8")
    if len(raw) <= 255:
        return text
    return raw[:252].decode("utf-8", "ignore") + "..."


class AMQPError(Exception):
    """A fault with an AMQP reply code; ids name the method that caused it (0 if none)."""

    def __init__(self, code: int, detail: str, class_id: int = 0, method_id: int = 0) -> None:
        self.text = reply_text(code, detail)
        super().__init__(self.text)
        self.code = code
        self.class_id = class_id
        self.method_id = method_id

    def with_method(self, class_id: int, method_id: int) -> "AMQPError":
        """Attach the offending method's ids unless the raiser already did."""
        if not self.class_id:
            self.class_id, self.method_id = class_id, method_id
        return self


class ChannelError(AMQPError):
    """Closes only the channel the method arrived on (soft error)."""


class ConnectionError(AMQPError):  # noqa: A001 - the AMQP term; always used module-qualified
    """Closes the whole connection (hard error)."""


class FatalFrameError(ConnectionError):
    """The byte stream can no longer be split into frames (too large, bad end octet).

    RabbitMQ sends Connection.Close, stops reading and closes the socket 3 s later.
    """


class InternalError(ConnectionError):
    """541 with RabbitMQ's bare text and no method ids: what its channel process answers when it
    crashes on input it only parses later, such as a content header's property list."""

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "")
        self.text = REPLY_NAMES[INTERNAL_ERROR]

    def with_method(self, class_id: int, method_id: int) -> "AMQPError":
        return self


class SilentClose(Exception):
    """End the connection at once without a frame: what RabbitMQ's reader does when it crashes
    on a method with unknown class/method ids."""


def _snippet(payload: bytes) -> tuple[str, bytes]:
    """RabbitMQ's payload_snippet: the whole payload up to 16 octets, else its first 16."""
    return ("all", payload) if len(payload) <= 16 else ("first 16", payload[:16])


def frame_error(ftype: int, payload: bytes, reason: erlang.Term, fatal: bool = False) -> ConnectionError:
    """501 ``FRAME_ERROR - type T, all octets = <<...>>: reason`` as RabbitMQ words it."""
    label, snippet = _snippet(payload)
    detail = erlang.format("type ", ftype, f", {label} octets = ", snippet, ": ", reason)
    return (FatalFrameError if fatal else ConnectionError)(FRAME_ERROR, detail)


def unexpected_frame(ftype: int, payload: bytes) -> ConnectionError:
    """505 ``UNEXPECTED_FRAME - type T, all octets = <<...>>``: a frame this channel cannot take."""
    label, snippet = _snippet(payload)
    return ConnectionError(UNEXPECTED_FRAME, erlang.format("type ", ftype, f", {label} octets = ", snippet))
