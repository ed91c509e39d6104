"""Permissions, topic permissions, the impersonator tag and limits, enforced on AMQP.

Every expectation here was checked on RabbitMQ 3.10.8 with pika: a user 'acc' with
`set_permissions -p / acc '^c-.*' '^(w|r)-.*' '^(r|w)-.*'` (configure c-*, write w-*/r-*, read
r-*/w-* ...) and the operations below; refusals are channel errors 403 with these texts, checked
before the resource's existence (a missing queue or exchange the user may not touch is 403, not 404);
passive declares are not checked; purge needs read.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker, ProbableAccessDeniedError

from amqpd.auth import Permission, TopicPermission
from tests.support.server import BrokerThread

RESTRICTED = Permission(configure="^c-", write="^w-", read="^r-")


def connect(broker: BrokerThread, user: str = "acc", vhost: str = "/") -> pika.BlockingConnection:
    url = f"amqp://{user}:pw@127.0.0.1:{broker.port}/{quote(vhost, safe='')}"
    return pika.BlockingConnection(pika.URLParameters(url))


@pytest.fixture
def access_broker(broker_factory) -> BrokerThread:
    broker = broker_factory(users={"acc": "pw", "imp": "pw"}, permissions={"acc": ["/"], "imp": ["/"]},
                            user_tags={"imp": ["impersonator"]})
    broker.call(broker.node.set_permission, "acc", "/", RESTRICTED)
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    for name in ("c-x", "w-x", "r-x", "other-x"):
        ch.exchange_declare(name)
    ch.exchange_declare("w-t", "topic")
    for name in ("c-q", "w-q", "r-q", "other-q"):
        ch.queue_declare(name)
    conn.close()
    return broker


def refused(kind: str, name: str, user: str = "acc") -> str:
    return f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user '{user}'"


DEFAULT_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange"
Op = Callable[[pika.adapters.blocking_connection.BlockingChannel], object]
CASES: list[tuple[str, Op, str | None]] = [
    ("queue.declare allowed", lambda ch: ch.queue_declare("c-new"), None),
    ("queue.declare refused", lambda ch: ch.queue_declare("other-new"), refused("queue", "other-new")),
    ("queue.declare passive unchecked", lambda ch: ch.queue_declare("other-q", passive=True), None),
    ("exchange.declare refused", lambda ch: ch.exchange_declare("other-new"), refused("exchange", "other-new")),
    ("exchange.declare passive unchecked", lambda ch: ch.exchange_declare("other-x", passive=True), None),
    ("exchange.delete refused", lambda ch: ch.exchange_delete("other-x"), refused("exchange", "other-x")),
    ("exchange.delete missing refused", lambda ch: ch.exchange_delete("nope"), refused("exchange", "nope")),
    ("exchange.delete allowed", lambda ch: ch.exchange_delete("c-x"), None),
    ("queue.delete refused", lambda ch: ch.queue_delete("other-q"), refused("queue", "other-q")),
    ("queue.delete missing refused", lambda ch: ch.queue_delete("nope"), refused("queue", "nope")),
    ("queue.delete allowed", lambda ch: ch.queue_delete("c-q"), None),
    ("queue.bind allowed", lambda ch: ch.queue_bind("w-q", "r-x", "k"), None),
    ("queue.bind queue first", lambda ch: ch.queue_bind("other-q", "other-x", "k"), refused("queue", "other-q")),
    ("queue.bind exchange read", lambda ch: ch.queue_bind("w-q", "other-x", "k"), refused("exchange", "other-x")),
    ("queue.unbind exchange read", lambda ch: ch.queue_unbind("w-q", "other-x", "k"),
     refused("exchange", "other-x")),
    ("exchange.bind allowed", lambda ch: ch.exchange_bind("w-x", "r-x", "k"), None),
    ("exchange.bind destination write", lambda ch: ch.exchange_bind("other-x", "r-x", "k"),
     refused("exchange", "other-x")),
    ("exchange.bind source read", lambda ch: ch.exchange_bind("w-x", "other-x", "k"),
     refused("exchange", "other-x")),
    ("exchange.unbind source read", lambda ch: ch.exchange_unbind("w-x", "other-x", "k"),
     refused("exchange", "other-x")),
    ("basic.publish allowed", lambda ch: ch.basic_publish("w-x", "k", b"m"), None),
    ("basic.publish refused", lambda ch: ch.basic_publish("other-x", "k", b"m"), refused("exchange", "other-x")),
    ("basic.publish missing refused", lambda ch: ch.basic_publish("nope", "k", b"m"), refused("exchange", "nope")),
    ("basic.publish default exchange", lambda ch: ch.basic_publish("", "k", b"m"), refused("exchange", "amq.default")),
    ("basic.get allowed", lambda ch: ch.basic_get("r-q"), None),
    ("basic.get refused", lambda ch: ch.basic_get("other-q"), refused("queue", "other-q")),
    ("basic.get missing refused", lambda ch: ch.basic_get("nope"), refused("queue", "nope")),
    ("basic.consume refused", lambda ch: ch.basic_consume("other-q", lambda *a: None), refused("queue", "other-q")),
    ("queue.purge allowed (read)", lambda ch: ch.queue_purge("r-q"), None),
    ("queue.purge needs read", lambda ch: ch.queue_purge("c-q"), refused("queue", "c-q")),
    # RabbitMQ's order around the default exchange and reserved names
    ("exchange.declare default first", lambda ch: ch.exchange_declare(""), DEFAULT_REFUSED),
    ("exchange.delete default first", lambda ch: ch.exchange_delete(""), DEFAULT_REFUSED),
    ("queue.bind queue, then default", lambda ch: ch.queue_bind("w-q", "", "k"), DEFAULT_REFUSED),
    ("queue.bind queue before default", lambda ch: ch.queue_bind("other-q", "", "k"), refused("queue", "other-q")),
    ("exchange.bind destination amq.default", lambda ch: ch.exchange_bind("", "r-x", "k"),
     refused("exchange", "amq.default")),
    ("exchange.bind source default", lambda ch: ch.exchange_bind("w-x", "", "k"), DEFAULT_REFUSED),
    ("queue.declare reserved name first", lambda ch: ch.queue_declare("amq.q"),
     "ACCESS_REFUSED - queue name 'amq.q' contains reserved prefix 'amq.*'"),
    ("basic.consume direct reply-to unchecked",
     lambda ch: ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True), None),
]


def outcome(broker: BrokerThread, op: Op, user: str = "acc") -> str | None:
    """None when the operation (and a round trip after it) passed, else the channel's close text."""
    conn = connect(broker, user)
    ch = conn.channel()
    try:
        op(ch)
        ch.basic_qos(prefetch_count=1)  # a round trip: an asynchronous refusal arrives before its reply
        return None
    except ChannelClosedByBroker as exc:
        assert exc.reply_code == 403
        return exc.reply_text
    finally:
        if conn.is_open:
            conn.close()


@pytest.mark.parametrize("op, expected", [pytest.param(op, text, id=name) for name, op, text in CASES])
def test_resource_permissions(access_broker, op, expected):
    assert outcome(access_broker, op) == expected


def test_an_unknown_exchange_type_is_refused_before_the_permission(access_broker):
    conn = connect(access_broker)
    with pytest.raises(ConnectionClosedByBroker) as info:
        conn.channel().exchange_declare("other-new", "bogus")
    assert (info.value.reply_code, info.value.reply_text) == (503, "COMMAND_INVALID - unknown exchange type 'bogus'")


def test_server_named_queue_needs_configure_on_its_name(access_broker):
    for exclusive in (False, True):
        text = outcome(access_broker, lambda ch: ch.queue_declare("", exclusive=exclusive))
        assert text is not None and text.startswith("ACCESS_REFUSED - access to queue 'amq.gen-")
    access_broker.call(access_broker.node.set_permission, "acc", "/", Permission("^amq\\.gen-", ".*", ".*"))
    assert outcome(access_broker, lambda ch: ch.queue_declare("", exclusive=True)) is None


def test_permission_change_applies_to_the_next_publish_on_an_open_channel(access_broker):
    conn = connect(access_broker)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("w-x", "k", b"1")  # the decision is now cached for w-x
    access_broker.call(access_broker.node.set_permission, "acc", "/", Permission("^c-", "^nothing$", "^r-"))
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.basic_publish("w-x", "k", b"2")
    assert (info.value.reply_code, info.value.reply_text) == (403, refused("exchange", "w-x"))
    conn.close()


def test_topic_permissions_with_username_and_vhost_expansion(access_broker):
    node = access_broker.node
    access_broker.call(node.set_permission, "acc", "/", Permission("^c-", "^(w|r)-", "^(r|w)-"))
    access_broker.call(node.set_topic_permission, "acc", "/", TopicPermission("w-t", "^{username}\\.", "^r\\.{vhost}"))
    topic_refused = "ACCESS_REFUSED - access to topic '{}' in exchange 'w-t' in vhost '/' refused for user 'acc'"
    assert outcome(access_broker, lambda ch: ch.basic_publish("w-t", "acc.x", b"m")) is None
    assert outcome(access_broker, lambda ch: ch.basic_publish("w-t", "bob.x", b"m")) == topic_refused.format("bob.x")
    assert outcome(access_broker, lambda ch: ch.queue_bind("w-q", "w-t", "r./.x")) is None
    assert outcome(access_broker, lambda ch: ch.queue_bind("w-q", "w-t", "r.x")) == topic_refused.format("r.x")
    assert outcome(access_broker, lambda ch: ch.exchange_bind("w-x", "w-t", "r.x")) == topic_refused.format("r.x")
    assert outcome(access_broker, lambda ch: ch.queue_unbind("w-q", "w-t", "r.x")) == topic_refused.format("r.x")
    # other users and non-topic exchanges are not limited by acc's entry
    assert outcome(access_broker, lambda ch: ch.basic_publish("w-t", "bob.x", b"m"), user="imp") is None
    assert outcome(access_broker, lambda ch: ch.basic_publish("w-x", "bob.x", b"m")) is None
    access_broker.call(node.clear_topic_permission, "acc", "/", "w-t")
    assert outcome(access_broker, lambda ch: ch.basic_publish("w-t", "bob.x", b"m")) is None


@pytest.mark.parametrize("user, expected", [
    ("acc", "PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user was 'acc'"),
    ("imp", None),
])
def test_impersonator_may_set_another_user_id(access_broker, user, expected):
    access_broker.call(access_broker.node.set_permission, "acc", "/", Permission(".*", ".*", ".*"))
    conn = connect(access_broker, user)
    ch = conn.channel()
    ch.queue_declare("ids")
    try:
        ch.basic_publish("", "ids", b"m", pika.BasicProperties(user_id="someone"))
        method, props, body = ch.basic_get("ids", auto_ack=True)
        assert (expected, props.user_id, body) == (None, "someone", b"m")
    except ChannelClosedByBroker as exc:
        assert (exc.reply_code, exc.reply_text) == (406, expected)
    finally:
        if conn.is_open:
            conn.close()


def test_vhost_limits(broker_factory):
    broker = broker_factory(users={"acc": "pw"}, permissions={"acc": ["/"]})
    for name in ("max-connections", "max-queues"):
        broker.call(broker.node.set_limit, "vhost-limits", "/", name, 1)
    first = connect(broker)
    with pytest.raises(ProbableAccessDeniedError) as info:
        connect(broker)
    assert ("(530) \"NOT_ALLOWED - access to vhost '/' refused for user 'acc': connection limit (1) is reached\""
            in str(info.value))
    ch = first.channel()
    ch.queue_declare("q1")
    ch.queue_declare("q1")  # an existing queue is not a new one
    for name in ("q2", ""):
        with pytest.raises(ChannelClosedByBroker) as closed:
            ch.queue_declare(name, exclusive=not name)
        assert closed.value.reply_code == 406
        assert closed.value.reply_text.startswith(f"PRECONDITION_FAILED - cannot declare queue '{name or 'amq.gen-'}")
        assert closed.value.reply_text.endswith("': queue limit in vhost '/' (1) is reached")
        ch = first.channel()
    ch.queue_delete("q1")
    ch.queue_declare("q2")
    for name in ("max-connections", "max-queues"):
        broker.call(broker.node.clear_limit, "vhost-limits", "/", name)
    connect(broker).close()
    first.close()


def test_user_limits(broker_factory):
    broker = broker_factory(users={"acc": "pw"}, permissions={"acc": ["/"]})
    broker.call(broker.node.set_limit, "user-limits", "acc", "max-connections", 1)
    broker.call(broker.node.set_limit, "user-limits", "acc", "max-channels", 2)
    conn = connect(broker)
    with pytest.raises(ProbableAccessDeniedError) as info:
        connect(broker)
    assert "(530) \"NOT_ALLOWED - connection refused for user 'acc': user connection limit (1) is reached\"" in str(
        info.value)
    pika.BlockingConnection(pika.URLParameters(broker.url)).close()  # guest is not limited
    conn.channel()
    conn.channel()
    with pytest.raises(ConnectionClosedByBroker) as closed:
        conn.channel()
    assert (closed.value.reply_code, closed.value.reply_text) == (
        530, "NOT_ALLOWED - number of channels opened for user 'acc' has reached the maximum allowed user limit of (2)")
