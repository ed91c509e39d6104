"""Sender-selected distribution (CC and BCC headers), as RabbitMQ 3.10.8 routes them."""

import pytest
from pamqp import commands, header

from tests.support.frames import declare, expect_ok, get, ready
from tests.support.typed import get_raw, properties


def direct_with_queues(raw, *keys, alternate=False):
    """Direct exchange 'd' with queue k bound by key k; optionally an alternate exchange 'ae' -> 'aeq'."""
    args = {}
    if alternate:
        expect_ok(raw, commands.Exchange.Declare(exchange="ae", exchange_type="fanout"), commands.Exchange.DeclareOk)
        declare(raw, "aeq")
        expect_ok(raw, commands.Queue.Bind(queue="aeq", exchange="ae"), commands.Queue.BindOk)
        args = {"alternate-exchange": "ae"}
    expect_ok(raw, commands.Exchange.Declare(exchange="d", exchange_type="direct", arguments=args),
              commands.Exchange.DeclareOk)
    for key in keys:
        declare(raw, key)
        expect_ok(raw, commands.Queue.Bind(queue=key, exchange="d", routing_key=key), commands.Queue.BindOk)


def test_cc_and_bcc_add_routing_keys_and_bcc_is_not_delivered(opened):
    """Routed on k1, CC k2 and BCC k3; every copy keeps CC (non-string items and all) but not BCC,
    and is delivered with the publish's own routing key."""
    direct_with_queues(opened, "k1", "k2", "k3")
    headers = {"CC": ["k2", 5, "nokey"], "BCC": ["k3"], "x": 1}
    opened.publish(1, "d", "k1", b"m", commands.Basic.Properties(headers=headers))
    for key in ("k1", "k2", "k3"):
        opened.send(1, commands.Basic.Get(queue=key, no_ack=True))
        get_ok = opened.expect(commands.Basic.GetOk, 1)
        content = opened.expect(header.ContentHeader, 1)
        opened.recv_frame()
        assert get_ok.routing_key == "k1"
        assert content.properties.headers == {"CC": ["k2", 5, "nokey"], "x": 1}


def test_alternate_exchange_only_when_no_key_matched(opened):
    """An unbound CC key does not send the message to the alternate exchange when the routing
    key matched, nor the other way round."""
    direct_with_queues(opened, "k1", "k2", alternate=True)
    opened.publish(1, "d", "k1", b"a", commands.Basic.Properties(headers={"CC": ["nokey"]}))
    opened.publish(1, "d", "nokey", b"b", commands.Basic.Properties(headers={"CC": ["k2"]}))
    assert ready(opened, "k1") == 1 and ready(opened, "k2") == 1 and ready(opened, "aeq") == 0


def test_default_exchange_routes_each_key_to_its_queue(opened):
    """Through the default exchange every CC/BCC key names a queue; a queue named twice gets one copy."""
    for queue in ("k1", "k2", "k3"):
        declare(opened, queue)
    opened.publish(1, "", "k1", b"m", commands.Basic.Properties(headers={"CC": ["k2"], "BCC": ["k3", "k1"]}))
    assert [ready(opened, queue) for queue in ("k1", "k2", "k3")] == [1, 1, 1]


@pytest.mark.parametrize("headers, text", [
    ({"CC": "k2"}, 'invalid message: {unacceptable_type_in_header,"CC",longstr}'),
    ({"BCC": {"a": 1}}, 'invalid message: {unacceptable_type_in_header,"BCC",table}'),
])
def test_cc_or_bcc_that_is_not_an_array_closes_the_channel(opened, headers, text):
    """CC/BCC must be arrays: anything else is a 406 on Basic.Publish."""
    declare(opened, "q")
    opened.publish(1, "", "q", b"m", commands.Basic.Properties(headers=headers))
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        406, f"PRECONDITION_FAILED - {text}", 60, 40)


def test_bcc_keys_route_a_dead_lettered_copy_again(opened):
    """Dead-lettered without a dead-letter routing key, a BCC'd message routes again on its BCC
    key, which x-death's routing-keys does not show."""
    direct_with_queues(opened, "k2", "k3")
    declare(opened, "src", arguments={"x-dead-letter-exchange": "d"})
    expect_ok(opened, commands.Queue.Bind(queue="src", exchange="d", routing_key="src"), commands.Queue.BindOk)
    opened.publish(1, "d", "src", b"m", commands.Basic.Properties(headers={"BCC": ["k3"], "CC": ["k2"]}))
    for queue in ("k2", "k3"):
        assert get(opened, queue, no_ack=True)[2] == b"m"
    opened.send(1, commands.Basic.Reject(delivery_tag=get(opened, "src")[0], requeue=False))
    for queue in ("k2", "k3", "src"):
        raw_props, body = get_raw(opened, queue)
        death = dict(dict(properties(raw_props)["headers"])["x-death"][1][0][1])
        assert body == b"m" and death["routing-keys"] == ("A", [("S", b"src"), ("S", b"k2")])
