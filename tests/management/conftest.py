"""Fixtures for the management API tests: a broker with the API on an ephemeral port and an
httpx client logged in as guest (the administrator)."""

from __future__ import annotations

from typing import Iterator
from urllib.parse import quote

import httpx
import pika
import pytest

from tests.support.server import BrokerThread


@pytest.fixture
def api(broker: BrokerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=broker.api, auth=("guest", "guest"), timeout=10) as client:
        yield client


def amqp(broker: BrokerThread, user: str = "guest", password: str = "guest", vhost: str = "/") -> pika.BlockingConnection:
    url = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{broker.port}/{quote(vhost, safe='')}"
    return pika.BlockingConnection(pika.URLParameters(url))
