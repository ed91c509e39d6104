"""The broker model, synchronous and without I/O: the node, vhosts, exchanges, queues, messages.

The face the session, the server and the management plane use: the ``Node`` (and the
``PRODUCT`` / ``COMPATIBLE_VERSION`` it announces, its ``LOOPBACK_USERS``, a vhost's
``VhostMetadata``), a ``VirtualHost`` and its ``Exchange``s (``EXCHANGE_TYPES``); a published
``Message``, its raw ``Properties`` edited in place, and CC / BCC routing (``cc``); every queue
type behind the ``QueueType`` interface with its typed outcomes (``Enqueued`` with ``Outcome``,
``ACCEPTED``, ``REJECTED``, ``combined``; ``Settle``) and the ``Entry`` a queue hands a consumer;
``ReadySummary``, a queue's ready messages by where their bodies are (the management API's memory fields);
``limit_reached`` (a count against a vhost or user limit the node holds: ``Node.vhost_limit``,
``Node.user_limit``),
``consumer_priority`` (a consumer's checked x-priority), ``random_name`` for generated names,
and ``clock``, the broker's time (``clock.now()`` for the deadlines the server's timer task
runs, ``clock.wall()`` for stamps; tests move it forward with ``Timers.advance``); ``MessageStats`` and
``Churn``, the counters the session increments and the management plane reads, with
``with_deliveries`` / ``retire_deliveries`` for the deliveries consumers count (``stats``).
Policies: a checked ``Policy`` (``Policy.make`` raises ``PolicyError`` with RabbitMQ's reason) of a
``PolicyKind`` (policies or operator policies), put on a vhost through ``Node.put_policy``;
``effective_policy(queue)`` gives a queue's policy, operator policy and effective definition;
``erlang_term`` prints a JSON value as RabbitMQ's reasons print it.
Route explanation: a ``RouteTrace`` given to ``VirtualHost.route`` collects the hops it takes.
"""

from amqpd.broker import cc
from amqpd.broker.arguments import consumer_priority
from amqpd.broker.entry import Entry
from amqpd.broker.exchange import EXCHANGE_TYPES, Exchange
from amqpd.broker.explain import RouteTrace
from amqpd.broker.headers import Properties
from amqpd.broker.limits import reached as limit_reached
from amqpd.broker.message import Message
from amqpd.broker.names import random_name
from amqpd.broker.node import COMPATIBLE_VERSION, LOOPBACK_USERS, PRODUCT, Node, VhostMetadata
from amqpd.broker.policies import Policy, PolicyError, PolicyKind, effective_policy, erlang_term
from amqpd.broker.referable import WeaklyReferable
from amqpd.broker.queue_type import ACCEPTED, REJECTED, Enqueued, Outcome, QueueType, ReadySummary, Settle, combined
from amqpd.broker.stats import Churn, MessageStats, retire_deliveries, with_deliveries
from amqpd.broker import clock
from amqpd.broker.timers import Timer
from amqpd.broker.vhost import VirtualHost

__all__ = [
    "Node", "PRODUCT", "COMPATIBLE_VERSION", "LOOPBACK_USERS", "VhostMetadata",
    "VirtualHost", "Exchange", "EXCHANGE_TYPES",
    "Message", "Properties", "cc",
    "QueueType", "ReadySummary", "Entry", "Enqueued", "Outcome", "ACCEPTED", "REJECTED", "combined", "Settle",
    "consumer_priority", "random_name", "clock", "Timer",
    "Policy", "PolicyError", "PolicyKind", "effective_policy", "erlang_term",
    "MessageStats", "Churn", "with_deliveries", "retire_deliveries",
    "limit_reached",
    "RouteTrace",
    "WeaklyReferable",
]
