"""The broker model, synchronous and without I/O: the node, vhosts, exchanges, queues, messages.

The face the session, the server and the management plane use: the ``Node`` (and the
``PRODUCT`` / ``COMPATIBLE_VERSION`` it announces, its ``LOOPBACK_USERS``, a vhost's
``VhostMetadata``), a ``VirtualHost`` and its ``Exchange``s (``EXCHANGE_TYPES``); a published
``Message``, its raw ``Properties`` edited in place, and CC / BCC routing (``cc``); every queue
type behind the ``QueueType`` interface with its typed outcomes (``Enqueued`` with ``Outcome``,
``ACCEPTED``, ``REJECTED``, ``combined``; ``Settle``) and the ``Entry`` a queue hands a consumer;
``VhostLimits`` / ``UserLimits`` (the node's ``vhost_limits``/``set_vhost_limits`` and
``user_limits``/``set_user_limits`` hold them; ``limit_reached`` compares a count with one),
``consumer_priority`` (a consumer's checked x-priority), ``random_name`` for generated names,
and ``clock``, the time base of the deadlines the server's timer task runs.
"""

from amqpd.broker import cc
from amqpd.broker.arguments import consumer_priority
from amqpd.broker.entry import Entry
from amqpd.broker.exchange import EXCHANGE_TYPES, Exchange
from amqpd.broker.headers import Properties
from amqpd.broker.limits import UserLimits, VhostLimits
from amqpd.broker.limits import reached as limit_reached
from amqpd.broker.message import Message
from amqpd.broker.names import random_name
from amqpd.broker.node import COMPATIBLE_VERSION, LOOPBACK_USERS, PRODUCT, Node, VhostMetadata
from amqpd.broker.queue_type import ACCEPTED, REJECTED, Enqueued, Outcome, QueueType, Settle, combined
from amqpd.broker.timers import clock
from amqpd.broker.vhost import VirtualHost

__all__ = [
    "Node", "PRODUCT", "COMPATIBLE_VERSION", "LOOPBACK_USERS", "VhostMetadata",
    "VirtualHost", "Exchange", "EXCHANGE_TYPES",
    "Message", "Properties", "cc",
    "QueueType", "Entry", "Enqueued", "Outcome", "ACCEPTED", "REJECTED", "combined", "Settle",
    "consumer_priority", "random_name", "clock", "VhostLimits", "UserLimits", "limit_reached",
]
