"""RabbitMQ's management HTTP API over the node (issue 11): what the server layer starts."""

from amqpd.management.http import serve
from amqpd.management.listeners import Listener

__all__ = ["Listener", "serve"]
