"""amqpctl's own verbs over amqpd's API extensions: peek shows a queue's head without taking
anything, route shows where a message would go and through which hops."""

from __future__ import annotations

import json

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def test_peek_shows_the_head_and_takes_nothing(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("q")
    for body in (b"first", b"second\tline", b"third"):
        channel.basic_publish("", "q", body)
    channel.queue_declare("q", passive=True)
    ran = ctl("peek", "q", "-n", "2", "-q")
    assert ran.code == 0, ran.stderr
    header, first, second = ran.lines
    assert header == "position\texchange\trouting_key\tredelivered\tpayload_bytes\tpayload_encoding\tproperties\tpayload"
    assert first.split("\t")[:3] == ["1", "", "q"] and first.endswith('\t"first"')
    assert second.startswith("2\t") and second.endswith('\t"second\\tline"')  # quoted, so the tab stays in its cell
    method, _, body = channel.basic_get("q", auto_ack=True)
    assert (body, method.redelivered, method.message_count) == (b"first", False, 2)  # nothing taken or marked
    conn.close()
    missing = ctl("peek", "nope")
    assert missing.code == 65


def test_peek_over_json_and_the_node_option_still_works(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"x")
    channel.queue_declare("q", passive=True)
    conn.close()
    ran = ctl("--node", broker.node.name, "peek", "q", "--formatter", "json")
    assert [item["payload"] for item in json.loads(ran.stdout)] == ["x"]


def test_route_through_a_binding_and_an_alternate_exchange(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.exchange_declare("ae", "fanout")
    channel.exchange_declare("x", "direct", arguments={"alternate-exchange": "ae"})
    channel.queue_declare("bound")
    channel.queue_declare("caught")
    channel.queue_bind("bound", "x", "k")
    channel.queue_bind("caught", "ae", "")
    conn.close()
    bound = ctl("-q", "route", "x", "k")
    assert bound.lines == ["source\tdestination\tdestination_type\trouting_key\targuments\tvia",
                           "x\tbound\tqueue\tk\t[]\tbinding", "Queues reached: 'bound'"]
    caught = ctl("route", "x", "other")
    assert caught.lines[0] == "Routing a message with routing key 'other' through exchange 'x' in vhost '/' ..."
    assert caught.lines[-1] == "Queues reached: 'caught'"
    assert any(line.split("\t")[-1] == "alternate-exchange" for line in caught.lines)
    nowhere = ctl("-q", "route", "amq.direct", "nobody-listens")
    assert nowhere.lines == ["Unroutable: no queue would get the message"]


def test_route_with_headers(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("hq")
    channel.queue_bind("hq", "amq.headers", "", arguments={"x-match": "all", "kind": "a", "n": 1})
    conn.close()
    assert ctl("-q", "route", "amq.headers", "", "--header", "kind=a", "--header", "n=1").lines[-1] == \
        "Queues reached: 'hq'"
    assert ctl("-q", "route", "amq.headers", "", "--header", "kind=b").lines[-1] == \
        "Unroutable: no queue would get the message"
    assert ctl("route", "amq.headers", "", "--header", "novalue").code == 64
