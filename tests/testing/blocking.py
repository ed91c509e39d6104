"""pika's blocking client as the tests of amqpd.testing use it."""

from __future__ import annotations

import time
from typing import Callable

import pika


def connect(url: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(url))


def pump_until(connection: pika.BlockingConnection, done: list[object], seconds: float = 5.0) -> None:
    """Let pika read frames until a callback has appended to `done`."""
    pump_while(connection, lambda: not done, seconds)


def pump_while(connection: pika.BlockingConnection, waiting: Callable[[], bool], seconds: float = 5.0) -> None:
    """Let pika read frames while `waiting()` holds."""
    deadline = time.monotonic() + seconds
    while waiting() and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
