"""One client's session, sans-IO: AMQP methods in, the broker model driven, frames out.

The face is the connection contract the server drives and nothing else of the session's
insides: ``Connection`` (``feed`` -> ``FeedResult``, ``data_to_send``, ``state`` as a
``ConnectionState``, ``close_plan`` as ``CloseAfterFlush`` | ``AwaitCloseOk``) and the
``Transport`` it is told it runs over (``PLAIN_TCP``, or TLS with a client certificate).
The management API reads a ``Connection``'s public state (addresses, user, vhost, client
properties, ``connected_at``, its channels and their consumers) and ends it with ``close_with``.
"""

from amqpd.session.connection import (
    PLAIN_TCP, AwaitCloseOk, CloseAfterFlush, Connection, ConnectionState, FeedResult, Transport)

__all__ = [
    "Connection", "FeedResult", "ConnectionState", "CloseAfterFlush", "AwaitCloseOk",
    "Transport", "PLAIN_TCP",
]
