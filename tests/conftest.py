"""Fixtures shared by every test directory."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tests.support.raw import RawClient
from tests.support.server import BrokerThread


@pytest.fixture
def broker_factory() -> Iterator[Callable[..., BrokerThread]]:
    """Start brokers with chosen settings; all are stopped at the end of the test."""
    started: list[BrokerThread] = []

    def start(**settings: Any) -> BrokerThread:
        broker = BrokerThread(**settings).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerThread]) -> BrokerThread:
    """A broker with default settings on an ephemeral port."""
    return broker_factory()


@pytest.fixture
def raw(broker: BrokerThread) -> Iterator[RawClient]:
    """A raw client connected (not yet handshaken) to the default broker."""
    client = RawClient(broker.port)
    yield client
    client.close()
