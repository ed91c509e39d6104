"""The pytest plugin (entry point ``pytest11`` ``amqpd``; ``-p no:amqpd`` turns it off): one
broker per session, or per worker under pytest-xdist, and a fresh vhost for each test that asks.

Importing it imports nothing heavy and starts nothing: the broker starts when a test first uses
one of the fixtures.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from amqpd.testing.broker import Broker
    from amqpd.testing.handle import VirtualHostHandle

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def amqpd_broker() -> Iterator[Broker]:
    """An amqpd in this process on ephemeral ports (AMQP and the management API), stopped at the
    end of the session."""
    from amqpd.testing.broker import Broker

    with Broker() as broker:
        yield broker


@pytest.fixture
def amqpd_vhost(amqpd_broker: Broker) -> Iterator[VirtualHostHandle]:
    """A vhost made for this test alone (guest has full permissions on it), deleted after the test
    with whatever is in it; amqpd and amqp_url share it, so a project's own fixture named amqpd
    leaves amqp_url working."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"test-{worker}-{next(_numbers)}-{uuid.uuid4().hex[:8]}"
    handle = amqpd_broker.add_vhost(name)
    try:
        yield handle
    finally:
        amqpd_broker.delete_vhost(name)


@pytest.fixture
def amqpd(amqpd_vhost: VirtualHostHandle) -> VirtualHostHandle:
    """The handle on this test's vhost (peek, published, wait_until_idle, clock, restart, block_publishers,
    drop_connections)."""
    return amqpd_vhost


@pytest.fixture
def amqp_url(amqpd_vhost: VirtualHostHandle) -> str:
    """The amqp URL of this test's own vhost (percent-encoded), user guest."""
    return amqpd_vhost.url
