"""Fixtures shared by the integration tests: pika connections and raw clients with channel 1 open."""

from __future__ import annotations

from typing import Callable, Iterator

import pika
import pytest

from tests.support.frames import declare
from tests.support.raw import RawClient
from tests.support.server import BrokerThread


@pytest.fixture
def connect(broker: BrokerThread) -> Iterator[Callable[[], pika.BlockingConnection]]:
    """Open pika connections to the default broker; those still open are closed at the end."""
    conns: list[pika.BlockingConnection] = []

    def open_() -> pika.BlockingConnection:
        conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        conns.append(conn)
        return conn

    yield open_
    for conn in conns:
        if conn.is_open:
            conn.close()


@pytest.fixture
def channel(connect: Callable[[], pika.BlockingConnection]):
    """A pika channel on a fresh connection to the default broker."""
    return connect().channel()


@pytest.fixture
def opened(raw: RawClient) -> RawClient:
    """The raw client, handshaken, with channel 1 open."""
    raw.handshake()
    raw.open_channel(1)
    return raw


@pytest.fixture
def ch1(opened: RawClient) -> RawClient:
    """The raw client with channel 1 open and queue "q" declared on it."""
    declare(opened, "q")
    return opened
