"""The trio layer: listeners, sockets, the timer task and resource alarms around sans-IO sessions.

The face the command uses: ``Server`` (bind, serve, shut down) and ``tls`` (the SSLContext
from the settings, checked before anything is bound).
"""

from amqpd.server import tls
from amqpd.server.listener import Server

__all__ = ["Server", "tls"]
