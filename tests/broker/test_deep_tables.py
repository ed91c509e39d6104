"""Tables nested as deep as a frame holds (RabbitMQ accepts thousands of levels) work wherever
the broker model compares or prints argument values: binding identity and reply texts."""

from __future__ import annotations

import pytest

from amqpd.broker.tables import erl_term, same_value
from amqpd.broker.vhost import VirtualHost
from amqpd.protocol import errors


def deep(levels: int) -> dict:
    table: dict = {}
    for _ in range(levels):
        table = {"k": table}
    return table


def test_deep_binding_arguments_identify_a_binding():
    vhost = VirtualHost("/")
    vhost.declare_queue("q", None)
    vhost.bind_queue("q", None, "amq.direct", "k", {"a": deep(5000)})
    vhost.bind_queue("q", None, "amq.direct", "k", {"a": deep(5000)})  # the same binding again
    source, queue = vhost.exchanges["amq.direct"], vhost.queues["q"]
    assert len(source.bindings) == 1 and source.has_binding(queue, "k", {"a": deep(5000)})
    assert not source.has_binding(queue, "k", {"a": deep(4999)})
    vhost.unbind_queue("q", None, "amq.direct", "k", {"a": deep(5000)})
    assert not source.bindings


def test_deep_values_compare_and_print():
    assert same_value(deep(5000), deep(5000)) and not same_value(deep(5000), deep(5001))
    assert erl_term(deep(2)) == '[{<<"k">>,table,[{<<"k">>,table,[]}]}]'
    assert len(erl_term(deep(5000))) == 5000 * 18 + 2


def test_deep_x_match_value_is_refused_with_rabbitmq_text():
    vhost = VirtualHost("/")
    vhost.declare_queue("q", None)
    with pytest.raises(errors.ChannelError) as refused:
        vhost.bind_queue("q", None, "amq.headers", "", {"x-match": deep(5000)})
    assert refused.value.code == 406
    assert refused.value.text.startswith('PRECONDITION_FAILED - Invalid x-match field type table (value [{<<"k">>,')
