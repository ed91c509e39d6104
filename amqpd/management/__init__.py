"""RabbitMQ's management HTTP API over the node (issue 11): what the server layer starts."""

from amqpd.management.api import Listener
from amqpd.management.app import create_app
from amqpd.management.http import serve

__all__ = ["Listener", "create_app", "serve"]
