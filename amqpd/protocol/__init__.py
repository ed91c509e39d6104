"""The wire format of AMQP 0-9-1, sans-IO: bytes in, frames and typed values out, and back.

The face of the bottom layer, what the layers above may use: reply codes as exceptions
(``errors``, with ``ChannelError`` by name), the frame codecs (``frames``), the one field-table
codec and its exact value classes (``tables``, ``Float32``, ``Timestamp``), content headers kept
as raw property bytes (``parse_content_header``, ``decode_headers``, and ``LAYOUT`` /
``HEADERS_FLAG`` for editing them), the assembly of a publish from its frames
(``ContentAssembler``) and Erlang's printing of the terms in frame-error texts (``erlang``).
"""

from amqpd.protocol import erlang, errors, frames, tables
from amqpd.protocol.content import ContentAssembler, MalformedContentHeader
from amqpd.protocol.errors import ChannelError
from amqpd.protocol.properties import HEADERS_FLAG, LAYOUT, decode_headers, parse_content_header
from amqpd.protocol.tables import Float32, Timestamp

__all__ = [
    "erlang", "errors", "frames", "tables",
    "ChannelError",
    "ContentAssembler", "MalformedContentHeader",
    "HEADERS_FLAG", "LAYOUT", "decode_headers", "parse_content_header",
    "Float32", "Timestamp",
]
