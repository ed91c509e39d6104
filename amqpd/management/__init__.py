"""RabbitMQ's management HTTP API over the node (issue 11): what the server layer starts, and
the definitions import the command line runs at start-up (import_definitions, DefinitionsError);
``NodeControl``, what the server does for the control socket's routes (the operator's)."""

from amqpd.management.definitions import DefinitionsError, import_definitions
from amqpd.management.http import serve
from amqpd.management.listeners import Listener
from amqpd.management.node_control import NodeControl

__all__ = ["DefinitionsError", "Listener", "NodeControl", "import_definitions", "serve"]
