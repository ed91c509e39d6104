"""Exchanges end to end: types and routing, predeclared exchanges, declare/delete rules and texts.

Expected frames and texts are those of RabbitMQ 3.10.8 for the same requests.
"""

from __future__ import annotations

import pika
import pytest
from pamqp import body, commands, header

from tests.support.blocking import bodies, queue_for, refused
from tests.support.frames import close_of

EXCHANGE_DECLARE, EXCHANGE_DELETE, BASIC_PUBLISH = (40, 10), (40, 20), (60, 40)


def test_direct_routes_on_exact_key(channel) -> None:
    channel.exchange_declare("d", "direct")
    a, b = queue_for(channel, "d", "a"), queue_for(channel, "d", "b")
    for key in ("a", "b", "a.b", ""):
        channel.basic_publish("d", key, key.encode() or b"-")
    assert (bodies(channel, a), bodies(channel, b)) == ([b"a"], [b"b"])


def test_fanout_ignores_key(channel) -> None:
    channel.exchange_declare("f", "fanout")
    a, b = queue_for(channel, "f", "x"), queue_for(channel, "f")
    channel.basic_publish("f", "whatever", b"1")
    assert (bodies(channel, a), bodies(channel, b)) == ([b"1"], [b"1"])


def test_topic_star_and_hash(channel) -> None:
    """'*' is exactly one word, '#' zero or more (so 'a.#' matches 'a')."""
    channel.exchange_declare("t", "topic")
    star, hash_, middle = queue_for(channel, "t", "a.*"), queue_for(channel, "t", "a.#"), queue_for(channel, "t", "a.#.z")
    for key in ("a", "a.b", "a.b.c", "a.z", "a.b.c.z", "b.a"):
        channel.basic_publish("t", key, key.encode())
    assert bodies(channel, star) == [b"a.b", b"a.z"]
    assert bodies(channel, hash_) == [b"a", b"a.b", b"a.b.c", b"a.z", b"a.b.c.z"]
    assert bodies(channel, middle) == [b"a.z", b"a.b.c.z"]


def test_headers_match_modes(channel) -> None:
    """all / any ignore x- arguments; all-with-x / any-with-x include them."""
    channel.exchange_declare("h", "headers")
    all_ = queue_for(channel, "h", arguments={"x-match": "all", "a": 1, "b": "v"})
    any_ = queue_for(channel, "h", arguments={"x-match": "any", "a": 1, "b": "v"})
    all_x = queue_for(channel, "h", arguments={"x-match": "all-with-x", "a": 1, "x-k": "v"})
    any_x = queue_for(channel, "h", arguments={"x-match": "any-with-x", "x-k": "v", "c": 3})
    default = queue_for(channel, "h", arguments={"a": 1, "b": "v"})  # x-match defaults to all
    for name, headers in (("ab", {"a": 1, "b": "v"}), ("a", {"a": 1}), ("ax", {"a": 1, "x-k": "v"}), ("x", {"x-k": "v"}),
                          ("a2", {"a": 2, "b": "v"})):
        channel.basic_publish("h", "", name.encode(), pika.BasicProperties(headers=headers))
    assert bodies(channel, all_) == [b"ab"]
    assert bodies(channel, any_) == [b"ab", b"a", b"ax", b"a2"]
    assert bodies(channel, all_x) == [b"ax"]
    assert bodies(channel, any_x) == [b"ax", b"x"]
    assert bodies(channel, default) == [b"ab"]


@pytest.mark.parametrize("name, kind", [("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
                                        ("amq.headers", "headers"), ("amq.match", "headers")])
def test_predeclared_exchanges_exist_and_route(channel, name: str, kind: str) -> None:
    channel.exchange_declare(name, kind, passive=True)
    channel.exchange_declare(name, kind, durable=True)
    q = queue_for(channel, name, "k", {"x-match": "any", "h": 1} if kind == "headers" else None)
    channel.basic_publish(name, "k", b"m", pika.BasicProperties(headers={"h": 1}))
    assert bodies(channel, q) == [b"m"]


def test_default_exchange_routes_to_queue_by_name(channel) -> None:
    q = channel.queue_declare("named", exclusive=True).method.queue
    channel.basic_publish("", "named", b"m")
    channel.basic_publish("", "nosuch", b"lost")
    assert bodies(channel, q) == [b"m"]


@pytest.mark.parametrize("kind, text", [
    ("x-foo", "COMMAND_INVALID - unknown exchange type 'x-foo'"),
    ("x-consistent-hash", "COMMAND_INVALID - unknown exchange type 'x-consistent-hash'"),
    ("DIRECT", "COMMAND_INVALID - unknown exchange type 'DIRECT'"),
    ("", "COMMAND_INVALID - invalid exchange type ''"),
])
def test_unknown_exchange_type_closes_connection(opened, kind: str, text: str) -> None:
    opened.send(1, commands.Exchange.Declare(exchange="amq.direct", exchange_type=kind, durable=True))
    close = opened.expect_connection_close()
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (503, text, 40, 10)


@pytest.mark.parametrize("method, expected", [
    (commands.Exchange.Declare(exchange=""), (403, "ACCESS_REFUSED - operation not permitted on the default exchange", 40, 10)),
    (commands.Exchange.Declare(exchange="", passive=True),
     (403, "ACCESS_REFUSED - operation not permitted on the default exchange", 40, 10)),
    (commands.Exchange.Declare(exchange="amq.foo"),
     (403, "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'", 40, 10)),
    (commands.Exchange.Declare(exchange="amq.foo", passive=True), (404, "NOT_FOUND - no exchange 'amq.foo' in vhost '/'", 40, 10)),
    (commands.Exchange.Declare(exchange="nosuch-ex", passive=True), (404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'", 40, 10)),
    (commands.Exchange.Declare(exchange="amq.direct"),
     (406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost '/': received 'false' but current is 'true'", 40, 10)),
    (commands.Exchange.Declare(exchange="amq.match", exchange_type="headers", durable=True, internal=True),
     (406, "PRECONDITION_FAILED - inequivalent arg 'internal' for exchange 'amq.match' in vhost '/': received 'true' but current is 'false'", 40, 10)),
    (commands.Exchange.Delete(exchange="amq.direct"),
     (403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed", 40, 20)),
    (commands.Exchange.Delete(exchange="amq.foo", if_unused=True),
     (403, "ACCESS_REFUSED - deletion of system exchange 'amq.foo' in vhost '/' not allowed", 40, 20)),
    (commands.Exchange.Delete(exchange=""), (403, "ACCESS_REFUSED - operation not permitted on the default exchange", 40, 20)),
    (commands.Exchange.Declare(exchange="e", arguments={"alternate-exchange": 70000}),
     (406, "PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' in exchange 'e' in vhost '/'", 40, 10)),
])
def test_exchange_rules_close_the_channel(opened, method, expected) -> None:
    assert close_of(opened, 1, method) == expected


def test_exchange_delete_missing_and_nowait(opened) -> None:
    """Deleting a missing exchange is Delete-Ok; with nowait there is no reply at all."""
    opened.send(1, commands.Exchange.Delete(exchange="nosuch-ex", if_unused=True))
    opened.expect(commands.Exchange.DeleteOk, 1)
    opened.send(1, commands.Exchange.Delete(exchange="nosuch-ex", nowait=True))
    opened.send(1, commands.Exchange.Declare(exchange="nosuch-ex", passive=True))
    assert opened.expect_channel_close(1).reply_code == 404


@pytest.mark.parametrize("first, second, detail", [
    ({}, {"exchange_type": "fanout", "durable": True}, "inequivalent arg 'type' for exchange 'E' in vhost '/': received 'fanout' but current is 'direct'"),
    ({}, {"durable": True, "auto_delete": True}, "inequivalent arg 'durable' for exchange 'E' in vhost '/': received 'true' but current is 'false'"),
    ({"auto_delete": True}, {}, "inequivalent arg 'auto_delete' for exchange 'E' in vhost '/': received 'false' but current is 'true'"),
    ({}, {"internal": True}, "inequivalent arg 'internal' for exchange 'E' in vhost '/': received 'true' but current is 'false'"),
    ({}, {"arguments": {"alternate-exchange": "ae1"}},
     "inequivalent arg 'alternate-exchange' for exchange 'E' in vhost '/': received the value 'ae1' of type 'longstr' but current is none"),
    ({"arguments": {"alternate-exchange": "ae1"}}, {},
     "inequivalent arg 'alternate-exchange' for exchange 'E' in vhost '/': received none but current is the value 'ae1' of type 'longstr'"),
    ({"arguments": {"alternate-exchange": "ae1"}}, {"arguments": {"alternate-exchange": "ae2"}},
     "inequivalent arg 'alternate-exchange' for exchange 'E' in vhost '/': received 'ae2' but current is 'ae1'"),
    ({}, {"nowait": True, "durable": True}, "inequivalent arg 'durable' for exchange 'E' in vhost '/': received 'true' but current is 'false'"),
])
def test_exchange_redeclare_mismatch(opened, first, second, detail) -> None:
    opened.send(1, commands.Exchange.Declare(exchange="E", exchange_type="direct", **first))
    opened.expect(commands.Exchange.DeclareOk, 1)
    assert close_of(opened, 1, commands.Exchange.Declare(exchange="E", exchange_type=second.pop("exchange_type", "direct"),
                                                        **second)) == (406, "PRECONDITION_FAILED - " + detail, 40, 10)


def test_exchange_redeclare_accepted(channel) -> None:
    """Same flags and AE redeclare fine; unknown arguments are never compared; passive ignores all."""
    channel.exchange_declare("E", "direct", arguments={"alternate-exchange": "ae1", "x-foo": "a"})
    channel.exchange_declare("E", "direct", arguments={"alternate-exchange": "ae1", "x-foo": "b", "x-bar": 1})
    channel.exchange_declare("E", "fanout", passive=True, durable=True, internal=True)
    assert channel.is_open


def test_exchange_delete_if_unused(channel, broker) -> None:
    channel.exchange_declare("src", "direct")
    q = queue_for(channel, "src", "k")
    assert refused(channel.exchange_delete, "src", if_unused=True) == (
        406, "PRECONDITION_FAILED - exchange 'src' in vhost '/' in use")
    ch = channel.connection.channel()
    ch.queue_unbind(q, "src", "k")
    ch.exchange_delete("src", if_unused=True)
    assert refused(ch.exchange_declare, "src", passive=True)[0] == 404


def test_auto_delete_exchange_removed_with_last_binding(channel) -> None:
    channel.exchange_declare("ad", "direct", auto_delete=True)
    channel.exchange_declare("ad", passive=True)  # no binding yet: still there
    q = queue_for(channel, "ad", "a")
    channel.queue_bind(q, "ad", "b")
    channel.queue_unbind(q, "ad", "a")
    channel.exchange_declare("ad", passive=True)
    channel.queue_unbind(q, "ad", "b")
    assert refused(channel.exchange_declare, "ad", passive=True) == (404, "NOT_FOUND - no exchange 'ad' in vhost '/'")


def test_internal_exchange_refuses_publish_but_routes_bound_messages(opened) -> None:
    opened.send(1, commands.Exchange.Declare(exchange="int1", exchange_type="fanout", internal=True))
    opened.expect(commands.Exchange.DeclareOk, 1)
    opened.send(1, commands.Queue.Declare(queue="q", exclusive=True))
    opened.expect(commands.Queue.DeclareOk, 1)
    opened.send(1, commands.Queue.Bind(queue="q", exchange="int1"))
    opened.expect(commands.Queue.BindOk, 1)
    opened.send(1, commands.Exchange.Bind(destination="int1", source="amq.direct", routing_key="k"))
    opened.expect(commands.Exchange.BindOk, 1)
    opened.publish(1, "amq.direct", "k", b"via-e2e")
    opened.send(1, commands.Basic.Get(queue="q", no_ack=True))
    assert opened.expect(commands.Basic.GetOk, 1).exchange == "amq.direct"
    opened.expect(header.ContentHeader, 1)
    assert opened.expect(body.ContentBody, 1).value == b"via-e2e"
    opened.publish(1, "int1", "", b"direct")
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        403, "ACCESS_REFUSED - cannot publish to internal exchange 'int1' in vhost '/'", 60, 40)


def test_publish_to_missing_exchange(opened) -> None:
    opened.publish(1, "nosuch-ex", "", b"x")
    close = opened.expect_channel_close(1)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
        404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'", 60, 40)


def test_alternate_exchange_receives_unroutable_messages(channel) -> None:
    channel.exchange_declare("ae", "fanout")
    channel.exchange_declare("main", "direct", arguments={"alternate-exchange": "ae"})
    routed, unrouted = queue_for(channel, "main", "k"), queue_for(channel, "ae")
    channel.basic_publish("main", "k", b"1")
    channel.basic_publish("main", "other", b"2")
    assert (bodies(channel, routed), bodies(channel, unrouted)) == ([b"1"], [b"2"])


def test_missing_alternate_exchange_drops_silently(channel) -> None:
    channel.exchange_declare("main", "direct", arguments={"alternate-exchange": "nosuch"})
    channel.basic_publish("main", "other", b"2")
    assert channel.exchange_declare("main", passive=True) and channel.is_open
