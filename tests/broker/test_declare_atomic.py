"""A declare, bind or unbind that fails leaves nothing behind: a durable object is written to the
store before it takes effect, so nothing answers OK (or takes messages) that the store lacks."""

from __future__ import annotations

from typing import Any

import pytest

from amqpd.broker.vhost import VirtualHost


class StoreDown:
    """A store whose every write fails (as one whose encoder or engine raised would)."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any) -> None:
            raise OSError(f"store down: {name}")

        return fail


@pytest.fixture
def vhost() -> VirtualHost:
    return VirtualHost("/", store=StoreDown())  # type: ignore[arg-type]


def test_failed_durable_queue_declare_leaves_no_queue(vhost):
    with pytest.raises(OSError):
        vhost.declare_queue("q", None, durable=True)
    assert "q" not in vhost.queues


def test_failed_durable_exchange_declare_leaves_no_exchange(vhost):
    with pytest.raises(OSError):
        vhost.declare_exchange("x", "direct", durable=True)
    assert "x" not in vhost.exchanges


def test_failed_durable_bind_and_unbind_leave_the_bindings_as_they_were(vhost):
    vhost.store = None
    vhost.declare_queue("q", None, durable=True)
    vhost.bind_queue("q", None, "amq.direct", "kept", {})
    vhost.store = StoreDown()  # type: ignore[assignment]
    queue, source = vhost.queues["q"], vhost.exchanges["amq.direct"]
    with pytest.raises(OSError):
        vhost.bind_queue("q", None, "amq.direct", "new", {"a": 1})
    assert not source.has_binding(queue, "new", {"a": 1})
    with pytest.raises(OSError):
        vhost.unbind_queue("q", None, "amq.direct", "kept", {})
    assert source.has_binding(queue, "kept", {})
