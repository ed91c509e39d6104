"""Queue and exchange-to-exchange bindings end to end, with RabbitMQ 3.10.8's errors and texts."""

from __future__ import annotations

import pytest
from pamqp import body, commands, header

from tests.support.blocking import bodies
from tests.support.frames import close_of, expect_ok, ready

DEFAULT_REFUSED = "ACCESS_REFUSED - operation not permitted on the default exchange"


@pytest.mark.parametrize("method, expected", [
    (commands.Exchange.Bind(destination="amq.fanout", source="nosuch-src"),
     (404, "NOT_FOUND - no exchange 'nosuch-src' in vhost '/'", 40, 30)),
    (commands.Exchange.Bind(destination="nosuch-dst", source="amq.fanout"),
     (404, "NOT_FOUND - no exchange 'nosuch-dst' in vhost '/'", 40, 30)),
    (commands.Exchange.Bind(destination="nosuch-dst", source="nosuch-src"),
     (404, "NOT_FOUND - no exchange 'nosuch-src' in vhost '/'", 40, 30)),
    (commands.Exchange.Bind(destination="amq.fanout", source=""), (403, DEFAULT_REFUSED, 40, 30)),
    (commands.Exchange.Bind(destination="", source="nosuch-src"), (403, DEFAULT_REFUSED, 40, 30)),
    (commands.Exchange.Unbind(destination="amq.topic", source=""), (403, DEFAULT_REFUSED, 40, 40)),
    (commands.Exchange.Unbind(destination="", source="nosuch-src"), (403, DEFAULT_REFUSED, 40, 40)),
    (commands.Queue.Bind(queue="nosuch-q", exchange="", routing_key="k"), (403, DEFAULT_REFUSED, 50, 20)),
    (commands.Queue.Unbind(queue="nosuch-q", exchange="", routing_key="k"), (403, DEFAULT_REFUSED, 50, 50)),
    (commands.Queue.Bind(queue="nosuch-q", exchange="amq.direct"), (404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'", 50, 20)),
    (commands.Queue.Bind(queue="nosuch-q", exchange="nosuch-ex"), (404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'", 50, 20)),
    (commands.Queue.Bind(queue="", exchange="amq.direct", routing_key="k"), (404, "NOT_FOUND - no previously declared queue", 50, 20)),
    (commands.Queue.Unbind(queue="", exchange="amq.direct", routing_key="k"), (404, "NOT_FOUND - no previously declared queue", 50, 50)),
    (commands.Queue.Purge(queue=""), (404, "NOT_FOUND - no previously declared queue", 50, 30)),
    (commands.Queue.Delete(queue=""), (404, "NOT_FOUND - no previously declared queue", 50, 40)),
    (commands.Basic.Consume(queue=""), (404, "NOT_FOUND - no previously declared queue", 60, 20)),
    (commands.Basic.Get(queue=""), (404, "NOT_FOUND - no previously declared queue", 60, 70)),
])
def test_binding_errors(opened, method, expected) -> None:
    assert close_of(opened, 1, method) == expected


@pytest.mark.parametrize("method, reply", [
    (commands.Exchange.Unbind(destination="nosuch-dst", source="nosuch-src"), commands.Exchange.UnbindOk),
    (commands.Exchange.Unbind(destination="amq.topic", source="amq.fanout", routing_key="zz"), commands.Exchange.UnbindOk),
    (commands.Queue.Unbind(queue="nosuch-q", exchange="amq.direct"), commands.Queue.UnbindOk),
    (commands.Queue.Unbind(queue="nosuch-q", exchange="nosuch-ex"), commands.Queue.UnbindOk),
])
def test_unbind_of_missing_things_succeeds(opened, method, reply) -> None:
    expect_ok(opened, method, reply)
    expect_ok(opened, commands.Queue.Declare(queue="q", exclusive=True), commands.Queue.DeclareOk)
    expect_ok(opened, commands.Queue.Unbind(queue="q", exchange="nosuch-ex"), commands.Queue.UnbindOk)
    expect_ok(opened, commands.Queue.Unbind(queue="q", exchange="amq.direct", routing_key="never"),
              commands.Queue.UnbindOk)


def test_bind_twice_is_one_binding_and_unbind_stops_routing(opened) -> None:
    expect_ok(opened, commands.Queue.Declare(queue="q", exclusive=True), commands.Queue.DeclareOk)
    expect_ok(opened, commands.Queue.Bind(queue="q", exchange="amq.direct", routing_key="k"), commands.Queue.BindOk)
    expect_ok(opened, commands.Queue.Bind(queue="q", exchange="amq.direct", routing_key="k"), commands.Queue.BindOk)
    opened.publish(1, "amq.direct", "k", b"x")
    assert ready(opened, "q") == 1
    expect_ok(opened, commands.Queue.Unbind(queue="q", exchange="amq.direct", routing_key="k"), commands.Queue.UnbindOk)
    opened.publish(1, "amq.direct", "k", b"y")
    assert ready(opened, "q") == 1


def test_empty_queue_name_means_last_declared_queue(opened) -> None:
    """Bind with queue '' and key '' uses the last declared queue's name for both; the shortcut
    is per channel."""
    expect_ok(opened, commands.Queue.Declare(queue="q", exclusive=True), commands.Queue.DeclareOk)
    expect_ok(opened, commands.Queue.Bind(queue="", exchange="amq.direct", routing_key=""), commands.Queue.BindOk)
    opened.publish(1, "amq.direct", "", b"not-routed")
    opened.publish(1, "amq.direct", "q", b"routed")
    assert ready(opened, "q") == 1
    expect_ok(opened, commands.Queue.Unbind(queue="", exchange="amq.direct", routing_key=""), commands.Queue.UnbindOk)
    opened.send(1, commands.Basic.Get(queue="", no_ack=True))
    assert opened.expect(commands.Basic.GetOk, 1).routing_key == "q"
    opened.expect(header.ContentHeader, 1)
    assert opened.expect(body.ContentBody, 1).value == b"routed"
    opened.publish(1, "amq.direct", "q", b"after-unbind")
    opened.publish(1, "", "q", b"direct-to-queue")
    opened.send(1, commands.Queue.Purge(queue=""))
    assert opened.expect(commands.Queue.PurgeOk, 1).message_count == 1
    opened.open_channel(2)
    assert close_of(opened, 2, commands.Queue.Purge(queue="")) == (404, "NOT_FOUND - no previously declared queue", 50, 30)
    opened.send(1, commands.Queue.Delete(queue=""))
    assert opened.expect(commands.Queue.DeleteOk, 1).message_count == 0
    assert close_of(opened, 1, commands.Queue.Declare(queue="q", passive=True)) == (
        404, "NOT_FOUND - no queue 'q' in vhost '/'", 50, 10)


def test_passive_declare_sets_last_declared_queue(opened) -> None:
    expect_ok(opened, commands.Queue.Declare(queue="q", exclusive=True), commands.Queue.DeclareOk)
    expect_ok(opened, commands.Queue.Declare(queue="", exclusive=True), commands.Queue.DeclareOk)
    opened.publish(1, "", "q", b"x")
    expect_ok(opened, commands.Queue.Declare(queue="q", passive=True), commands.Queue.DeclareOk)
    opened.send(1, commands.Queue.Purge(queue=""))
    assert opened.expect(commands.Queue.PurgeOk, 1).message_count == 1


def test_invalid_x_match(opened) -> None:
    expect_ok(opened, commands.Queue.Declare(queue="q", exclusive=True), commands.Queue.DeclareOk)
    assert close_of(opened, 1, commands.Queue.Bind(queue="q", exchange="amq.headers", arguments={"x-match": "foo"})) == (
        406, 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x',
        50, 20)


def test_exchange_to_exchange_binding_routes_and_unbinds(channel) -> None:
    channel.exchange_declare("src", "topic")
    channel.exchange_declare("dst", "fanout")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "dst")
    channel.exchange_bind("dst", "src", "a.#")
    channel.basic_publish("src", "a.b", b"1")
    channel.basic_publish("src", "b", b"2")
    channel.exchange_unbind("dst", "src", "a.#")
    channel.basic_publish("src", "a.b", b"3")
    assert bodies(channel, q) == [b"1"]


def test_exchange_binding_cycle_delivers_once(channel) -> None:
    channel.exchange_declare("a", "fanout")
    channel.exchange_declare("b", "fanout")
    channel.exchange_bind("b", "a")
    channel.exchange_bind("a", "b")
    channel.exchange_bind("a", "a")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "b")
    channel.queue_bind(q, "a")
    channel.basic_publish("a", "", b"once")
    assert bodies(channel, q) == [b"once"]


def test_deleting_destination_exchange_removes_its_bindings(channel) -> None:
    channel.exchange_declare("src", "fanout")
    channel.exchange_declare("dst", "fanout")
    channel.exchange_bind("dst", "src")
    channel.exchange_delete("dst")
    channel.exchange_declare("dst", "fanout")
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "dst")
    channel.basic_publish("src", "", b"lost")
    channel.exchange_delete("src", if_unused=True)  # no binding left where src is the source
    assert bodies(channel, q) == []
