"""RabbitMQ's management HTTP API over the node (issue 11): what the server layer starts, and
the definitions import the command line runs at start-up (import_definitions, DefinitionsError)."""

from amqpd.management.definitions import DefinitionsError, import_definitions
from amqpd.management.http import serve
from amqpd.management.listeners import Listener

__all__ = ["DefinitionsError", "Listener", "import_definitions", "serve"]
