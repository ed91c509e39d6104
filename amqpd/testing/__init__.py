"""amqpd for the test suites of AMQP applications (issue 14): ``Broker``, a real amqpd inside the
calling process, and ``VirtualHostHandle``, what a test does to one vhost of it (``PeekedMessage`` and
``PublishedMessage`` are what it shows, ``BrokerClock`` its time, ``NotIdle`` what
``wait_until_idle`` raises); the pytest plugin
(``pytest_plugin``, entry point ``amqpd``) builds its fixtures on them.

The names are imported when first used: pytest loads the plugin in every session, and a session
whose tests never ask for a broker should not pay for importing trio and the server.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Broker", "BrokerClock", "NotIdle", "PeekedMessage", "PublishedMessage", "VirtualHostHandle"]
_HOMES = {"Broker": "amqpd.testing.broker", "BrokerClock": "amqpd.testing.clock", "NotIdle": "amqpd.testing.idle",
          "PeekedMessage": "amqpd.testing.messages", "PublishedMessage": "amqpd.testing.messages",
          "VirtualHostHandle": "amqpd.testing.handle"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'amqpd.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
