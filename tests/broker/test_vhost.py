"""The vhost model called directly: exchange/queue/binding rules and texts of RabbitMQ 3.10.8.

Every expected text here was observed on a real RabbitMQ 3.10.8 (integers sent as pika sends
them, i.e. as signedint).
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import pytest
from pamqp import commands

from amqpd.broker.message import Message
from amqpd.broker.vhost import VirtualHost
from amqpd.protocol import errors
from amqpd.protocol.properties import encode_properties

OWNER, OTHER = object(), object()
LOCKED = ("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q' in vhost '/'. It could be "
          "originally declared on another connection or the exclusive property value does not match that "
          "of the original declaration.")


@pytest.fixture
def vhost() -> VirtualHost:
    return VirtualHost("/")


@contextlib.contextmanager
def expect_channel_error(code: int, text: str) -> Iterator[None]:
    """Expect a ChannelError (a channel close) with this code and full reply text."""
    with pytest.raises(errors.ChannelError) as info:
        yield
    assert (info.value.code, info.value.text) == (code, text)


def message(routing_key: str = "", headers: dict | None = None) -> Message:
    raw = encode_properties(commands.Basic.Properties(headers=headers)) if headers else b"\0\0"
    return Message("x", routing_key, raw, b"body")


def names(queues) -> set[str]:
    return {q.name for q in queues}


# -- exchanges ------------------------------------------------------------------------------------


def test_predeclared_exchanges(vhost: VirtualHost) -> None:
    """The default exchange and the amq.* exchanges exist, durable, with RabbitMQ's types."""
    kinds = {name: (x.kind, x.durable, x.internal) for name, x in vhost.exchanges.items()}
    assert kinds == {
        "": ("direct", True, False), "amq.direct": ("direct", True, False), "amq.fanout": ("fanout", True, False),
        "amq.topic": ("topic", True, False), "amq.headers": ("headers", True, False),
        "amq.match": ("headers", True, False), "amq.rabbitmq.trace": ("topic", True, True),
    }


@pytest.mark.parametrize("kind, text", [
    ("x-foo", "COMMAND_INVALID - unknown exchange type 'x-foo'"),
    ("DIRECT", "COMMAND_INVALID - unknown exchange type 'DIRECT'"),
    ("", "COMMAND_INVALID - invalid exchange type ''"),
])
@pytest.mark.parametrize("name", ["new", "amq.direct", "amq.foo", ""])
def test_unknown_exchange_type_is_a_connection_error_checked_first(vhost: VirtualHost, name: str, kind: str,
                                                                   text: str) -> None:
    """An unknown type closes the connection before any name rule or equivalence check."""
    with pytest.raises(errors.ConnectionError) as info:
        vhost.declare_exchange(name, kind, durable=True)
    assert (info.value.code, info.value.text) == (503, text)


def test_passive_declare_ignores_type_and_flags(vhost: VirtualHost) -> None:
    """Passive declare checks only the name: any type, flags or arguments are accepted."""
    vhost.declare_exchange("e", "direct")
    assert vhost.declare_exchange("e", "x-foo", passive=True, durable=True, internal=True) is vhost.exchanges["e"]
    with expect_channel_error(404, "NOT_FOUND - no exchange 'missing' in vhost '/'"):
        vhost.declare_exchange("missing", "direct", passive=True)


@pytest.mark.parametrize("passive", [False, True])
def test_default_exchange_cannot_be_declared(vhost: VirtualHost, passive: bool) -> None:
    with expect_channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        vhost.declare_exchange("", "direct", passive=passive, durable=True)


def test_amq_prefix_reserved_for_new_exchanges(vhost: VirtualHost) -> None:
    """amq.foo is refused (403) but amq.direct redeclared equivalently is fine."""
    with expect_channel_error(403, "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'"):
        vhost.declare_exchange("amq.foo", "direct")
    with expect_channel_error(404, "NOT_FOUND - no exchange 'amq.foo' in vhost '/'"):
        vhost.declare_exchange("amq.foo", "direct", passive=True)
    assert vhost.declare_exchange("amq.direct", "direct", durable=True).name == "amq.direct"
    with expect_channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in "
                            "vhost '/': received 'false' but current is 'true'"):
        vhost.declare_exchange("amq.direct", "direct")


@pytest.mark.parametrize("first, second, field, received, current", [
    ({}, {"kind": "fanout"}, "type", "fanout", "direct"),
    ({}, {"durable": True}, "durable", "true", "false"),
    ({"durable": True}, {}, "durable", "false", "true"),
    ({}, {"auto_delete": True}, "auto_delete", "true", "false"),
    ({"auto_delete": True}, {}, "auto_delete", "false", "true"),
    ({}, {"internal": True}, "internal", "true", "false"),
    ({"internal": True}, {}, "internal", "false", "true"),
    ({}, {"kind": "topic", "durable": True, "auto_delete": True, "internal": True}, "type", "topic", "direct"),
    ({}, {"durable": True, "auto_delete": True}, "durable", "true", "false"),
    ({}, {"auto_delete": True, "internal": True}, "auto_delete", "true", "false"),
])
def test_exchange_redeclare_flag_mismatch(vhost: VirtualHost, first, second, field, received, current) -> None:
    """Type, durable, auto_delete, internal are compared in that order; the first mismatch is reported."""
    base = {"kind": "direct"}
    vhost.declare_exchange("e", **{**base, **first})
    with expect_channel_error(406, f"PRECONDITION_FAILED - inequivalent arg '{field}' for exchange 'e' in vhost '/': "
                            f"received '{received}' but current is '{current}'"):
        vhost.declare_exchange("e", **{**base, **second})


@pytest.mark.parametrize("first, second, detail", [
    (None, "ae1", "received the value 'ae1' of type 'longstr' but current is none"),
    ("ae1", None, "received none but current is the value 'ae1' of type 'longstr'"),
    ("ae1", "ae2", "received 'ae2' but current is 'ae1'"),
    ("ae1", 5, "received '5' but current is 'ae1'"),
])
def test_exchange_alternate_exchange_equivalence(vhost: VirtualHost, first, second, detail) -> None:
    vhost.declare_exchange("e", "direct", args={} if first is None else {"alternate-exchange": first})
    with expect_channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'e' in "
                            f"vhost '/': {detail}"):
        vhost.declare_exchange("e", "direct", args={} if second is None else {"alternate-exchange": second})


def test_exchange_same_alternate_and_unknown_arguments_accepted(vhost: VirtualHost) -> None:
    """Same alternate-exchange, and any change to an unknown argument, redeclare silently."""
    first = vhost.declare_exchange("e", "direct", args={"alternate-exchange": "ae1", "x-foo": "a"})
    assert vhost.declare_exchange("e", "direct", args={"alternate-exchange": "ae1", "x-foo": "b", "x-bar": 1}) is first
    assert first.arguments == {"alternate-exchange": "ae1", "x-foo": "a"}


@pytest.mark.parametrize("value, type_name", [
    (5, "signedint"), (2**40, "long"), (True, "bool"), (None, "void"), ({"a": 1}, "table"), (1.5, "double"),
    ([1], "array"),
])
def test_exchange_alternate_exchange_must_be_a_string(vhost: VirtualHost, value, type_name) -> None:
    with expect_channel_error(406, f"PRECONDITION_FAILED - invalid type '{type_name}' for arg 'alternate-exchange' in "
                            "exchange 'e' in vhost '/'"):
        vhost.declare_exchange("e", "direct", args={"alternate-exchange": value})
    assert "e" not in vhost.exchanges


@pytest.mark.parametrize("name, text", [
    ("amq.direct", "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed"),
    ("amq.foo", "ACCESS_REFUSED - deletion of system exchange 'amq.foo' in vhost '/' not allowed"),
    ("", "ACCESS_REFUSED - operation not permitted on the default exchange"),
])
def test_exchange_delete_refused(vhost: VirtualHost, name: str, text: str) -> None:
    with expect_channel_error(403, text):
        vhost.delete_exchange(name, if_unused=True)


def test_exchange_delete_missing_succeeds(vhost: VirtualHost) -> None:
    vhost.delete_exchange("missing")
    vhost.delete_exchange("missing", if_unused=True)
    assert "missing" not in vhost.exchanges


def test_exchange_delete_if_unused_counts_only_outgoing_bindings(vhost: VirtualHost) -> None:
    """in use = source of some binding; being only a destination does not count."""
    vhost.declare_exchange("src", "direct")
    vhost.declare_exchange("dst", "direct")
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "src", "k", {})
    vhost.bind_exchange("dst", "amq.direct", "k", {})
    with expect_channel_error(406, "PRECONDITION_FAILED - exchange 'src' in vhost '/' in use"):
        vhost.delete_exchange("src", if_unused=True)
    vhost.delete_exchange("dst", if_unused=True)
    assert "dst" not in vhost.exchanges and not vhost.exchanges["amq.direct"].bindings


def test_exchange_delete_drops_its_bindings(vhost: VirtualHost) -> None:
    """A recreated exchange starts without the old bindings."""
    vhost.declare_exchange("e", "fanout")
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "e", "", {})
    vhost.delete_exchange("e")
    new = vhost.declare_exchange("e", "fanout")
    assert vhost.route(new, message()) == set()


# -- bindings ----------------------------------------------------------------------------------------


def test_exchange_bind_errors(vhost: VirtualHost) -> None:
    """Default exchange refused on either side first; then the source, then the destination must exist."""
    default = "ACCESS_REFUSED - operation not permitted on the default exchange"
    for dst, src in (("amq.fanout", ""), ("", "amq.fanout"), ("", "nosuch-src"), ("nosuch-dst", "")):
        with expect_channel_error(403, default):
            vhost.bind_exchange(dst, src, "", {})
        with expect_channel_error(403, default):
            vhost.unbind_exchange(dst, src, "", {})
    with expect_channel_error(404, "NOT_FOUND - no exchange 'nosuch-src' in vhost '/'"):
        vhost.bind_exchange("nosuch-dst", "nosuch-src", "", {})
    with expect_channel_error(404, "NOT_FOUND - no exchange 'nosuch-dst' in vhost '/'"):
        vhost.bind_exchange("nosuch-dst", "amq.fanout", "", {})


def test_unbind_of_anything_missing_succeeds(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    vhost.unbind_exchange("nosuch-dst", "nosuch-src", "", {})
    vhost.unbind_exchange("amq.topic", "amq.fanout", "zz", {})
    vhost.unbind_queue("nosuch-q", OWNER, "amq.direct", "", {})
    vhost.unbind_queue("q", OWNER, "nosuch-ex", "", {})
    vhost.unbind_queue("q", OWNER, "amq.direct", "never", {})
    assert not vhost.exchanges["amq.direct"].bindings and not vhost.exchanges["amq.fanout"].bindings


def test_queue_bind_errors(vhost: VirtualHost) -> None:
    """Default exchange first, then the exchange, then the queue."""
    with expect_channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        vhost.bind_queue("nosuch-q", OWNER, "", "k", {})
    with expect_channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        vhost.unbind_queue("nosuch-q", OWNER, "", "k", {})
    with expect_channel_error(404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'"):
        vhost.bind_queue("nosuch-q", OWNER, "nosuch-ex", "", {})
    with expect_channel_error(404, "NOT_FOUND - no queue 'nosuch-q' in vhost '/'"):
        vhost.bind_queue("nosuch-q", OWNER, "amq.direct", "", {})


def test_headers_bind_validates_x_match(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    with expect_channel_error(406, 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any, '
                            'all-with-x, or any-with-x'):
        vhost.bind_queue("q", OWNER, "amq.headers", "", {"x-match": "foo"})
    vhost.bind_queue("q", OWNER, "amq.direct", "", {"x-match": "foo"})  # only headers exchanges check it
    assert len(vhost.exchanges["amq.direct"].bindings) == 1 and not vhost.exchanges["amq.headers"].bindings


def test_auto_delete_exchange_goes_with_its_last_outgoing_binding(vhost: VirtualHost) -> None:
    """Declared alone it stays; it goes when the last binding it is the source of goes."""
    vhost.declare_exchange("ad", "direct", auto_delete=True)
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "ad", "a", {})
    vhost.bind_queue("q", OWNER, "ad", "b", {})
    vhost.unbind_queue("q", OWNER, "ad", "a", {})
    assert "ad" in vhost.exchanges
    vhost.unbind_queue("q", OWNER, "ad", "b", {})
    assert "ad" not in vhost.exchanges


def test_auto_delete_exchange_goes_when_destinations_are_deleted(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ad1", "fanout", auto_delete=True)
    vhost.declare_exchange("ad2", "fanout", auto_delete=True)
    vhost.declare_exchange("dst", "fanout")
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "ad1", "", {})
    vhost.bind_exchange("dst", "ad2", "", {})
    vhost.delete_queue("q", OWNER)
    vhost.delete_exchange("dst")
    assert "ad1" not in vhost.exchanges and "ad2" not in vhost.exchanges


def test_auto_delete_exchange_as_destination_only_stays(vhost: VirtualHost) -> None:
    vhost.declare_exchange("ad", "fanout", auto_delete=True)
    vhost.bind_exchange("ad", "amq.direct", "k", {})
    vhost.unbind_exchange("ad", "amq.direct", "k", {})
    assert "ad" in vhost.exchanges


# -- routing -------------------------------------------------------------------------------------------


def test_default_exchange_routes_by_queue_name(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    assert names(vhost.route(vhost.default_exchange, message("q"))) == {"q"}
    assert vhost.route(vhost.default_exchange, message("other")) == set()


def test_exchange_to_exchange_cycle_delivers_once(vhost: VirtualHost) -> None:
    a = vhost.declare_exchange("a", "fanout")
    vhost.declare_exchange("b", "fanout")
    vhost.bind_exchange("b", "a", "", {})
    vhost.bind_exchange("a", "b", "", {})
    vhost.bind_exchange("a", "a", "", {})
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "b", "", {})
    assert names(vhost.route(a, message())) == {"q"}


def test_alternate_exchange_gets_unrouted_messages_only(vhost: VirtualHost) -> None:
    e = vhost.declare_exchange("e", "direct", args={"alternate-exchange": "ae"})
    vhost.declare_exchange("ae", "fanout")
    vhost.declare_queue("q", OWNER)
    vhost.declare_queue("unrouted", OWNER)
    vhost.bind_queue("q", OWNER, "e", "k", {})
    vhost.bind_queue("unrouted", OWNER, "ae", "", {})
    assert names(vhost.route(e, message("k"))) == {"q"}
    assert names(vhost.route(e, message("other"))) == {"unrouted"}
    vhost.delete_exchange("ae")
    assert vhost.route(e, message("other")) == set()


def test_topic_and_headers_routing(vhost: VirtualHost) -> None:
    for q in ("star", "hash", "all", "any", "allx"):
        vhost.declare_queue(q, OWNER)
    vhost.bind_queue("star", OWNER, "amq.topic", "a.*", {})
    vhost.bind_queue("hash", OWNER, "amq.topic", "a.#", {})
    topic = vhost.exchanges["amq.topic"]
    assert names(vhost.route(topic, message("a"))) == {"hash"}  # '#' matches zero words
    assert names(vhost.route(topic, message("a.b"))) == {"star", "hash"}
    assert names(vhost.route(topic, message("a.b.c"))) == {"hash"}
    vhost.bind_queue("all", OWNER, "amq.headers", "", {"x-match": "all", "h1": 1, "h2": "v"})
    vhost.bind_queue("any", OWNER, "amq.headers", "", {"x-match": "any", "h1": 1, "h2": "v"})
    vhost.bind_queue("allx", OWNER, "amq.headers", "", {"x-match": "all-with-x", "x-h": "v"})
    headers = vhost.exchanges["amq.headers"]
    assert names(vhost.route(headers, message(headers={"h1": 1, "h2": "v"}))) == {"all", "any"}
    assert names(vhost.route(headers, message(headers={"h1": 1}))) == {"any"}
    assert names(vhost.route(headers, message(headers={"x-h": "v"}))) == {"allx"}


# -- queues ------------------------------------------------------------------------------------------------


def test_server_named_queue_format(vhost: VirtualHost) -> None:
    queues = {vhost.declare_queue("", OWNER).name for _ in range(20)}
    assert len(queues) == 20
    assert all(re.fullmatch(r"amq\.gen-[A-Za-z0-9_-]{22}", name) for name in queues)


@pytest.mark.parametrize("passive, code, text", [
    (False, 403, "ACCESS_REFUSED - queue name 'amq.gen-xyz' contains reserved prefix 'amq.*'"),
    (True, 404, "NOT_FOUND - no queue 'amq.gen-xyz' in vhost '/'"),
])
def test_amq_prefix_reserved_for_queues(vhost: VirtualHost, passive: bool, code: int, text: str) -> None:
    with expect_channel_error(code, text):
        vhost.declare_queue("amq.gen-xyz", OWNER, passive=passive)


def test_passive_declare_of_empty_name_is_not_found(vhost: VirtualHost) -> None:
    vhost.declare_queue("", OWNER)
    with expect_channel_error(404, "NOT_FOUND - no queue '' in vhost '/'"):
        vhost.declare_queue("", OWNER, passive=True)


def test_passive_declare_ignores_flags_and_arguments(vhost: VirtualHost) -> None:
    q = vhost.declare_queue("q", OWNER, exclusive=True)
    assert vhost.declare_queue("q", OWNER, passive=True, durable=True, auto_delete=True,
                               args={"x-message-ttl": 5}) is q


def test_exclusive_queue_is_never_durable(vhost: VirtualHost) -> None:
    """RabbitMQ ignores durable on exclusive queues, so redeclaring with either value is fine."""
    q = vhost.declare_queue("q", OWNER, exclusive=True, durable=True)
    assert not q.durable
    assert vhost.declare_queue("q", OWNER, exclusive=True) is q
    with expect_channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'q' in vhost '/': "
                            "received 'true' but current is 'false'"):
        vhost.declare_queue("q", OWNER, exclusive=True, durable=True, auto_delete=True)


@pytest.mark.parametrize("first, second, text", [
    ({}, {"durable": True}, "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"),
    ({"durable": True}, {}, "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"),
    ({}, {"auto_delete": True}, "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': received 'true' but current is 'false'"),
    ({}, {"durable": True, "auto_delete": True}, "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"),
    ({}, {"durable": True, "args": {"x-message-ttl": 5}}, "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"),
])
def test_queue_redeclare_flag_mismatch(vhost: VirtualHost, first, second, text) -> None:
    vhost.declare_queue("q", OWNER, **first)
    with expect_channel_error(406, "PRECONDITION_FAILED - " + text):
        vhost.declare_queue("q", OWNER, **second)


@pytest.mark.parametrize("first, second", [({"exclusive": True}, {}), ({}, {"exclusive": True})])
def test_queue_redeclare_exclusive_mismatch_is_locked(vhost: VirtualHost, first, second) -> None:
    vhost.declare_queue("q", OWNER, **first)
    with expect_channel_error(405, LOCKED):
        vhost.declare_queue("q", OWNER, durable=True, **second)


MISSING = object()


@pytest.mark.parametrize("key, old, new, detail", [
    ("x-message-ttl", 10, 20, "received '20' but current is '10'"),
    ("x-message-ttl", 10, 10.0, "received '10.0' but current is '10'"),
    ("x-message-ttl", 10, "10", "received '10' but current is '10'"),
    ("x-message-ttl", 10, True, "received 'true' but current is '10'"),
    ("x-message-ttl", MISSING, 10, "received the value '10' of type 'signedint' but current is none"),
    ("x-message-ttl", 10, MISSING, "received none but current is the value '10' of type 'signedint'"),
    ("x-expires", 10000, 20000, "received '20000' but current is '10000'"),
    ("x-max-length", MISSING, 10, "received the value '10' of type 'signedint' but current is none"),
    ("x-max-length-bytes", 10, MISSING, "received none but current is the value '10' of type 'signedint'"),
    ("x-dead-letter-exchange", "a", "b", "received 'b' but current is 'a'"),
    ("x-dead-letter-exchange", MISSING, "a", "received the value 'a' of type 'longstr' but current is none"),
    ("x-max-priority", 5, 6, "received '6' but current is '5'"),
    ("x-queue-mode", MISSING, "default", "received the value 'default' of type 'longstr' but current is none"),
    ("x-queue-mode", "lazy", MISSING, "received none but current is the value 'lazy' of type 'longstr'"),
    ("x-queue-type", "classic", "quorum", "received 'quorum' but current is 'classic'"),
    ("x-queue-type", MISSING, "quorum", "received the value 'quorum' of type 'longstr' but current is none"),
    ("x-overflow", "drop-head", "reject-publish", "received 'reject-publish' but current is 'drop-head'"),
    ("x-single-active-consumer", True, False, "received 'false' but current is 'true'"),
    ("x-single-active-consumer", MISSING, False, "received the value 'false' of type 'bool' but current is none"),
    ("x-queue-version", 1, 2, "received '2' but current is '1'"),
    ("x-queue-master-locator", MISSING, "random", "received the value 'random' of type 'longstr' but current is none"),
])
def test_queue_argument_equivalence_mismatch(vhost: VirtualHost, key, old, new, detail) -> None:
    vhost.declare_queue("q", OWNER, args={} if old is MISSING else {key: old})
    with expect_channel_error(406, f"PRECONDITION_FAILED - inequivalent arg '{key}' for queue 'q' in vhost '/': {detail}"):
        vhost.declare_queue("q", OWNER, args={} if new is MISSING else {key: new})


@pytest.mark.parametrize("old, new", [
    ({"x-message-ttl": 10}, {"x-message-ttl": 10}),
    ({"x-max-priority": 5}, {"x-max-priority": 5}),
    ({}, {"x-queue-type": "classic"}),
    ({"x-queue-type": "classic"}, {}),
    ({"x-foo": "a"}, {"x-foo": "b"}),
    ({}, {"x-foo": "a", "x-ha-policy": "all"}),
    ({}, {"x-delivery-limit": 5, "x-max-in-memory-length": 1}),  # not classic arguments: not compared
])
def test_queue_argument_equivalence_accepted(vhost: VirtualHost, old, new) -> None:
    q = vhost.declare_queue("q", OWNER, args=old)
    assert vhost.declare_queue("q", OWNER, args=new) is q
    assert q.arguments == old


def test_queue_redeclare_reports_first_compared_argument(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER, args={"x-max-length": 1, "x-message-ttl": 1, "x-expires": 1000})
    with expect_channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue 'q' in vhost '/': "
                            "received '2000' but current is '1000'"):
        vhost.declare_queue("q", OWNER, args={"x-max-length": 2, "x-message-ttl": 2, "x-expires": 2000})


def test_queue_redeclare_does_not_validate(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    with expect_channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'q' in vhost '/': "
                            "received the value '300' of type 'signedint' but current is none"):
        vhost.declare_queue("q", OWNER, args={"x-max-priority": 300})


INVALID = "PRECONDITION_FAILED - invalid arg '{}' for queue 'q' in vhost '/': {}"


@pytest.mark.parametrize("args, key, reason", [
    ({"x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
    ({"x-message-ttl": "10"}, "x-message-ttl", '"expected integer, got longstr"'),
    ({"x-message-ttl": 10.5}, "x-message-ttl", '"expected integer, got double"'),
    ({"x-message-ttl": True}, "x-message-ttl", '"expected integer, got bool"'),
    ({"x-message-ttl": None}, "x-message-ttl", '"expected integer, got void"'),
    ({"x-message-ttl": {"a": 1}}, "x-message-ttl", '"expected integer, got table"'),
    ({"x-message-ttl": [1]}, "x-message-ttl", '"expected integer, got array"'),
    ({"x-expires": 0}, "x-expires", "{value_zero,0}"),
    ({"x-expires": -1}, "x-expires", "{value_negative,-1}"),
    ({"x-max-length": -1}, "x-max-length", "{value_negative,-1}"),
    ({"x-max-length-bytes": "5"}, "x-max-length-bytes", '"expected integer, got longstr"'),
    ({"x-max-priority": 256}, "x-max-priority", "{max_value_exceeded,256}"),
    ({"x-max-priority": -1}, "x-max-priority", "{value_negative,-1}"),
    ({"x-max-priority": "5"}, "x-max-priority", '"expected integer, got longstr"'),
    ({"x-overflow": "bar"}, "x-overflow", "invalid_overflow"),
    ({"x-overflow": 1}, "x-overflow", "{unacceptable_type,signedint}"),
    ({"x-queue-mode": "foo"}, "x-queue-mode", "\"unsupported queue mode 'foo'\""),
    ({"x-queue-version": 3}, "x-queue-version", "\"unsupported queue version '3'\""),
    ({"x-queue-version": -1}, "x-queue-version", "{value_negative,-1}"),
    ({"x-single-active-consumer": "yes"}, "x-single-active-consumer", "{unacceptable_type,longstr}"),
    ({"x-queue-type": "foo"}, "x-queue-type", "\"unsupported queue type 'foo'\""),
    ({"x-queue-type": "CLASSIC"}, "x-queue-type", "\"unsupported queue type 'CLASSIC'\""),
    ({"x-queue-type": 1}, "x-queue-type", "{unacceptable_type,signedint}"),
    ({"x-dead-letter-routing-key": "k"}, "x-dead-letter-routing-key", "routing_key_but_no_dlx_defined"),
    ({"x-dead-letter-routing-key": 70000, "x-dead-letter-exchange": "a"}, "x-dead-letter-routing-key",
     "{unacceptable_type,signedint}"),
    # several invalid: the first in RabbitMQ's order wins, x-queue-type before all
    ({"x-max-length": -1, "x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
    ({"x-message-ttl": -1, "x-expires": 0}, "x-expires", "{value_zero,0}"),
    ({"x-queue-version": 3, "x-single-active-consumer": "z"}, "x-queue-version", "\"unsupported queue version '3'\""),
    ({"x-single-active-consumer": "z", "x-queue-type": "z"}, "x-queue-type", "\"unsupported queue type 'z'\""),
    ({"x-overflow": "z", "x-queue-mode": "z"}, "x-overflow", "invalid_overflow"),
    ({"x-delivery-limit": 1, "x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
])
def test_invalid_queue_arguments(vhost: VirtualHost, args, key, reason) -> None:
    with expect_channel_error(406, INVALID.format(key, reason)):
        vhost.declare_queue("q", OWNER, exclusive=True, args=args)
    assert "q" not in vhost.queues


@pytest.mark.parametrize("args", [
    {"x-message-ttl": 0}, {"x-message-ttl": 2**32}, {"x-max-priority": 255}, {"x-max-priority": 0},
    {"x-overflow": "reject-publish-dlx"}, {"x-queue-mode": "lazy"}, {"x-queue-version": 2},
    {"x-single-active-consumer": False}, {"x-dead-letter-exchange": "nosuch"}, {"x-queue-master-locator": "foo"},
    {"x-queue-type": "classic"}, {"x-foo": None},
])
def test_valid_queue_arguments(vhost: VirtualHost, args) -> None:
    assert vhost.declare_queue("q", OWNER, args=args).arguments == args


@pytest.mark.parametrize("value, type_name", [(1, "signedint"), (True, "bool")])
def test_dead_letter_exchange_type_checked_before_everything(vhost: VirtualHost, value, type_name) -> None:
    with expect_channel_error(406, f"PRECONDITION_FAILED - invalid type '{type_name}' for arg 'x-dead-letter-exchange' "
                            "in queue 'q' in vhost '/'"):
        vhost.declare_queue("q", OWNER, args={"x-expires": 0, "x-queue-type": "z", "x-dead-letter-exchange": value})


@pytest.mark.parametrize("args, key, kind", [
    ({"x-delivery-limit": -1}, "x-delivery-limit", "classic"),
    ({"x-max-in-memory-length": -1}, "x-max-in-memory-length", "classic"),
    ({"x-queue-leader-locator": "balanced"}, "x-queue-leader-locator", "classic"),
    ({"x-max-age": "1D"}, "x-max-age", "classic"),
    ({"x-max-in-memory-length": 1, "x-delivery-limit": 1, "x-dead-letter-strategy": "z"}, "x-dead-letter-strategy",
     "classic"),
    ({"x-queue-type": "quorum", "x-queue-mode": "lazy"}, "x-queue-mode", "quorum"),
    ({"x-queue-type": "quorum", "x-max-priority": 5}, "x-max-priority", "quorum"),
])
def test_arguments_of_other_queue_types(vhost: VirtualHost, args, key, kind) -> None:
    """An argument only other queue types know is refused (alphabetically first), unvalidated."""
    with expect_channel_error(406, f"PRECONDITION_FAILED - invalid arg '{key}' for queue 'q' in vhost '/' of queue type "
                            f"rabbit_{kind}_queue"):
        vhost.declare_queue("q", OWNER, args=args)


@pytest.mark.parametrize("kind", ["quorum", "stream"])
@pytest.mark.parametrize("flags, prop", [
    ({"exclusive": True}, "exclusive-owner"),
    ({"exclusive": True, "durable": True}, "exclusive-owner"),
    ({}, "non-durable"),
    ({"durable": True, "auto_delete": True}, "auto-delete"),
    ({"exclusive": True, "auto_delete": True}, "auto-delete"),
])
def test_quorum_and_stream_queue_properties(vhost: VirtualHost, kind, flags, prop) -> None:
    with expect_channel_error(406, f"PRECONDITION_FAILED - invalid property '{prop}' for queue 'q' in vhost '/'"):
        vhost.declare_queue("q", OWNER, args={"x-queue-type": kind}, **flags)


def test_quorum_arguments_validated_before_properties(vhost: VirtualHost) -> None:
    with expect_channel_error(406, INVALID.format("x-quorum-initial-group-size", "{value_zero,0}")):
        vhost.declare_queue("q", OWNER, exclusive=True, args={"x-queue-type": "quorum", "x-quorum-initial-group-size": 0})
    with expect_channel_error(406, INVALID.format("x-dead-letter-strategy", "invalid_dlx_strategy")):
        vhost.declare_queue("q", OWNER, exclusive=True, args={"x-queue-type": "quorum", "x-dead-letter-strategy": "z"})
    with expect_channel_error(406, INVALID.format("x-queue-leader-locator", "invalid_queue_locator_arg")):
        vhost.declare_queue("q", OWNER, exclusive=True, args={"x-queue-type": "stream", "x-queue-leader-locator": "z"})


def test_exclusive_queue_locked_to_its_owner(vhost: VirtualHost) -> None:
    """Another connection gets 405 for every use except unbinding what is not bound."""
    vhost.declare_queue("q", OWNER, exclusive=True)
    vhost.bind_queue("q", OWNER, "amq.direct", "k", {})
    attempts = [
        lambda: vhost.declare_queue("q", OTHER, exclusive=True),
        lambda: vhost.declare_queue("q", OTHER),
        lambda: vhost.declare_queue("q", OTHER, passive=True),
        lambda: vhost.bind_queue("q", OTHER, "amq.direct", "j", {}),
        lambda: vhost.unbind_queue("q", OTHER, "amq.direct", "k", {}),
        lambda: vhost.purge_queue("q", OTHER),
        lambda: vhost.delete_queue("q", OTHER),
        lambda: vhost.queue("q", OTHER),
    ]
    for attempt in attempts:
        with expect_channel_error(405, LOCKED):
            attempt()
    vhost.unbind_queue("q", OTHER, "amq.direct", "never-bound", {})
    assert vhost.queues["q"].exclusive_owner is OWNER and len(vhost.exchanges["amq.direct"].bindings) == 1


def test_delete_and_purge(vhost: VirtualHost) -> None:
    """Delete of a missing queue counts 0; purge of one is 404; if_empty is checked before if_unused."""
    q = vhost.declare_queue("q", OWNER)
    for i in range(3):
        q.enqueue(message())
    q.consumers.append(object())  # type: ignore[arg-type]  # a consumer without credit
    with expect_channel_error(406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty"):
        vhost.delete_queue("q", OWNER, if_unused=True, if_empty=True)
    assert vhost.purge_queue("q", OWNER) == 3
    with expect_channel_error(406, "PRECONDITION_FAILED - queue 'q' in vhost '/' in use"):
        vhost.delete_queue("q", OWNER, if_unused=True, if_empty=True)
    q.consumers.clear()
    q.enqueue(message())
    assert vhost.delete_queue("q", OWNER) == 1
    assert vhost.delete_queue("q", OWNER, if_empty=True, if_unused=True) == 0
    with expect_channel_error(404, "NOT_FOUND - no queue 'q' in vhost '/'"):
        vhost.purge_queue("q", OWNER)


def test_deleted_queue_loses_bindings(vhost: VirtualHost) -> None:
    vhost.declare_queue("q", OWNER)
    vhost.bind_queue("q", OWNER, "amq.fanout", "", {})
    vhost.delete_queue("q", OWNER)
    vhost.declare_queue("q", OWNER)
    assert vhost.route(vhost.exchanges["amq.fanout"], message()) == set()
