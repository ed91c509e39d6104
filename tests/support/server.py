"""A real amqpd in a background thread on an ephemeral port, for tests that use sockets."""

from __future__ import annotations

from typing import Any

from amqpd.testing import Broker


class BrokerThread(Broker):
    """amqpd.testing.Broker with Prometheus on (on an ephemeral port, never 15692), as the
    suite's metrics tests expect; start() and stop() by hand, ``api`` the management root."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("prometheus", True)
        settings.setdefault("prometheus_port", 0)
        super().__init__(**settings)

    @property
    def api(self) -> str:
        """The management API's base URL."""
        return self.management_url
