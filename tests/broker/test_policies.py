"""Policies and operator policies on a vhost: matching, priority, RabbitMQ 3.10.8's rule per key where
a queue argument and a policy meet (each checked on the real broker: the lowest of max-length,
max-length-bytes, message-ttl and expires wins; the argument wins for overflow, dead-letter-exchange,
dead-letter-routing-key and alternate-exchange), operator caps, and applying to live queues."""

import pytest

from amqpd.broker import Policy, PolicyError, PolicyKind, effective_policy
from tests.broker.test_features import DLX, advance, bodies_of, declare, fill, message
from tests.broker.test_queue import clock, vhost  # noqa: F401 (fixtures)

POLICY, OPERATOR = PolicyKind.POLICY, PolicyKind.OPERATOR


def put(vhost, name, pattern, definition, priority=0, apply_to="all", kind=POLICY):
    return vhost.put_policy(kind, Policy.make(kind, vhost.name, name, pattern, definition, priority, apply_to))


def test_the_highest_priority_matching_policy_applies_alone(vhost):
    put(vhost, "low", "^q", {"max-length": 1, "message-ttl": 5}, priority=1)
    put(vhost, "high", "^q", {"max-length": 3}, priority=2)
    put(vhost, "other", "^x", {"max-length": 9}, priority=7)
    put(vhost, "exchanges-only", "^q", {"max-length": 9}, priority=8, apply_to="exchanges")
    assert effective_policy(declare(vhost, "q1")) == ("high", None, {"max-length": 3})
    assert effective_policy(declare(vhost, "zq")) == (None, None, {})


def test_equal_priorities_pick_the_name_that_sorts_first(vhost):
    put(vhost, "b", "^q", {"max-length": 2})
    put(vhost, "a", "^q", {"max-length": 1})
    assert effective_policy(declare(vhost, "q"))[0] == "a"


@pytest.mark.parametrize(("argument", "policy", "kept"), [(5, 2, 2), (2, 5, 2)])
def test_the_lower_length_limit_of_argument_and_policy_wins(vhost, argument, policy, kept):
    put(vhost, "p", "^q", {"max-length": policy})
    q = declare(vhost, "q", **{"x-max-length": argument})
    fill(q, *"abcdef")
    assert q.message_count == kept


@pytest.mark.parametrize(("argument", "policy", "kept"), [("reject-publish", "drop-head", ["first"]),
                                                          ("drop-head", "reject-publish", ["second"])])
def test_the_overflow_argument_wins_over_the_policy(vhost, argument, policy, kept):
    put(vhost, "p", "^q", {"overflow": policy})
    q = declare(vhost, "q", **{"x-max-length": 1, "x-overflow": argument})
    fill(q, "first", "second")
    assert bodies_of(q) == kept


def test_dead_letter_keys_come_from_the_argument_first_then_the_policy(vhost):
    """Argument x-dead-letter-exchange "" wins over the policy's "dlx"; the policy's routing key fills in."""
    vhost.declare_exchange("dlx", "fanout")
    pdlq, dlq = declare(vhost, "pdlq"), declare(vhost, "dlq")
    vhost.bind_queue("pdlq", None, "dlx", "", {})
    put(vhost, "p", "^q", {"dead-letter-exchange": "dlx", "dead-letter-routing-key": "dlq"})
    q = declare(vhost, "q", **{"x-max-length": 1, "x-dead-letter-exchange": ""})
    fill(q, "x", "y")
    assert bodies_of(dlq) == ["x"] and bodies_of(pdlq) == []


def test_the_lower_message_ttl_wins(vhost, clock):
    put(vhost, "p", "^q", {"message-ttl": 1000})
    q = declare(vhost, "q", **{"x-message-ttl": 100000})
    fill(q, "m")
    advance(vhost, clock, 2)
    assert q.message_count == 0


def test_an_operator_policy_caps_the_policy_and_the_argument(vhost):
    put(vhost, "p", "^q", {"max-length": 5, "message-ttl": 100000})
    put(vhost, "cap", "^q", {"max-length": 2}, kind=OPERATOR)
    assert effective_policy(declare(vhost, "q1")) == ("p", "cap", {"max-length": 2, "message-ttl": 100000})
    vhost.delete_policy(POLICY, "p")
    q = declare(vhost, "q2", **{"x-max-length": 5})
    assert effective_policy(q) == (None, "cap", {"max-length": 2})
    fill(q, *"abcdef")
    assert q.message_count == 2


def test_a_policy_put_on_a_live_queue_trims_it_and_dead_letters_the_rest(vhost):
    q, dlq = declare(vhost, "q", **DLX), declare(vhost, "dlq")
    fill(q, "m0", "m1", "m2", "m3", "m4")
    put(vhost, "p", "^q$", {"max-length": 2})
    assert bodies_of(q) == ["m3", "m4"] and bodies_of(dlq) == ["m0", "m1", "m2"]


def test_clearing_a_ttl_policy_stops_expiring_new_messages(vhost, clock):
    put(vhost, "p", "^q", {"message-ttl": 1000})
    q = declare(vhost, "q")
    fill(q, "old")
    assert vhost.delete_policy(POLICY, "p") and not vhost.delete_policy(POLICY, "p")
    q.enqueue(message("new"))
    advance(vhost, clock, 2)
    assert bodies_of(q) == ["new"]  # the queued one kept its deadline, as in RabbitMQ


def test_a_queue_declared_later_gets_the_policy(vhost):
    put(vhost, "p", "^later", {"max-length": 1})
    q = declare(vhost, "later")
    fill(q, "a", "b")
    assert bodies_of(q) == ["b"]


def test_an_exchange_policy_gives_an_alternate_exchange_its_argument_overrides(vhost):
    vhost.declare_exchange("x", "direct")
    vhost.declare_exchange("own", "direct", args={"alternate-exchange": "ae2"})
    for ae, queue in (("ae", "aq"), ("ae2", "aq2")):
        vhost.declare_exchange(ae, "fanout")
        declare(vhost, queue)
        vhost.bind_queue(queue, None, ae, "", {})
    put(vhost, "p", "^(x|own)$", {"alternate-exchange": "ae"}, apply_to="exchanges")
    assert vhost.exchange_policy("x") == "p"
    assert {q.name for q in vhost.route(vhost.exchanges["x"], message("m"))} == {"aq"}
    assert {q.name for q in vhost.route(vhost.exchanges["own"], message("m"))} == {"aq2"}
    vhost.delete_policy(POLICY, "p")
    assert vhost.route(vhost.exchanges["x"], message("m")) == set()


@pytest.mark.parametrize(("kind", "definition", "reason"), [
    (POLICY, {"foo": 1}, '[{<<"foo">>,1}] are not recognised policy settings'),
    (POLICY, {"foo": 2, "bar": 3, "max-length": 1}, '[{<<"bar">>,3},{<<"foo">>,2}] are not recognised policy settings'),
    (POLICY, {"foo": 1, "max-length": -1}, "-1 is not a valid maximum length"),
    (POLICY, {"max-length": "x"}, '<<"x">> is not a valid maximum length'),
    (POLICY, {"max-length": 1.5}, "1.5 is not a valid maximum length"),
    (POLICY, {"max-length": -1, "message-ttl": -1, "expires": 0}, "0 is not a valid queue expiry"),
    (POLICY, {"message-ttl": True}, "true is not a valid message TTL"),
    (POLICY, {"message-ttl": None}, "null is not a valid message TTL"),
    (POLICY, {"overflow": "bad"}, '<<"bad">> is not a valid overflow value'),
    (POLICY, {"dead-letter-exchange": 1}, "1 is not a valid dead letter exchange name"),
    (POLICY, {"alternate-exchange": 5}, "5 is not a valid alternate exchange name"),
    (POLICY, {"queue-mode": "x"}, '<<"x">> is not a valid queue-mode value'),
    (POLICY, {"delivery-limit": -1}, "-1 is not a valid delivery limit"),
    (POLICY, {"max-age": "1X"}, '<<"1X">> is not a valid max age'),
    (POLICY, {"max-priority": 5}, '[{<<"max-priority">>,5}] are not recognised policy settings'),
    (POLICY, {}, "no policy provided"),
    (OPERATOR, {"overflow": "drop-head"}, '[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings'),
])
def test_bad_definitions_are_refused_with_rabbitmqs_reason(kind, definition, reason):
    with pytest.raises(PolicyError) as refused:
        Policy.make(kind, "/", "p", "^q", definition)
    assert str(refused.value) == reason


def test_accepted_keys_of_other_queue_types_change_nothing_on_a_classic_queue(vhost):
    put(vhost, "p", "^q", {"delivery-limit": 1, "max-age": "1D", "queue-mode": "lazy"})
    q = declare(vhost, "q")
    fill(q, "a", "b")
    assert q.features is None and bodies_of(q) == ["a", "b"]


@pytest.mark.parametrize("key", ["message-ttl", "expires", "max-length", "max-length-bytes"])
def test_a_huge_value_rabbitmq_accepts_in_a_policy_works(vhost, clock, key):
    """JSON integers have no bound (RabbitMQ 3.10.8 accepts 10**44): timers are capped at 2**32-1 ms."""
    put(vhost, "p", "^q", {key: 10**400})
    q = declare(vhost, "q")
    q.enqueue(message("m"))
    advance(vhost, clock, 3600)
    assert q.message_count == 1 and "q" in vhost.queues
