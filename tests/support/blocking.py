"""Helpers over pika's BlockingChannel shared by the integration tests."""

from __future__ import annotations

from typing import Any, Callable

import pika
import pytest


def queue_for(ch: Any, exchange: str, routing_key: str = "", arguments: dict | None = None) -> str:
    """A new exclusive server-named queue bound to `exchange` with this key and arguments."""
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, exchange, routing_key, arguments)
    return q


def bodies(ch: Any, queue: str) -> list[bytes]:
    """Every ready message's body, fetched with Basic.Get."""
    out = []
    while True:
        method, _, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body)


def refused(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str]:
    """(code, text) of the Channel.Close a pika call provokes."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        fn(*args, **kwargs)
    return info.value.reply_code, info.value.reply_text
