"""Policies, operator policies, parameters, global parameters and limits over HTTP, with the effect
checked over AMQP, across a restart, and through rabbitmqadmin and pyrabbit2. Status codes and
bodies are RabbitMQ 3.10.8's (checked with curl and rabbitmqadmin against it)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrabbit2.api import Client

from tests.management.conftest import amqp
from tests.management.test_fuzz import BODIES as FUZZ_BODIES
from tests.management.test_fuzz import NAMES, QUERIES, assert_answered
from tests.management.test_rabbitmqadmin import admin

QUEUE_POLICY = {"pattern": "^q", "definition": {"max-length": 2}, "priority": 1, "apply-to": "queues"}


def depth(channel, name: str) -> int:
    return channel.queue_declare(name, passive=True).method.message_count


def test_policy_put_get_list_delete(api):
    assert api.put("/api/policies/%2F/p", json=QUEUE_POLICY).status_code == 201
    assert api.put("/api/policies/%2F/p", json={**QUEUE_POLICY, "priority": 2}).status_code == 204
    minimal = api.put("/api/policies/%2F/m", json={"pattern": "^m", "definition": {"message-ttl": 5}})
    assert minimal.status_code == 201
    expected = {"vhost": "/", "name": "p", "pattern": "^q", "apply-to": "queues", "definition": {"max-length": 2},
                "priority": 2}
    assert api.get("/api/policies/%2F/p").json() == expected
    listed = api.get("/api/policies").json()
    assert listed == [{"vhost": "/", "name": "m", "pattern": "^m", "apply-to": "all",
                       "definition": {"message-ttl": 5}, "priority": 0}, expected]
    assert api.get("/api/policies/%2F").json() == listed
    assert api.delete("/api/policies/%2F/p").status_code == 204
    assert api.get("/api/policies/%2F/p").status_code == 404
    assert api.delete("/api/policies/%2F/p").json() == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.get("/api/policies/nosuch").status_code == 404
    missing_vhost = api.put("/api/policies/nosuch/p", json=QUEUE_POLICY)
    assert (missing_vhost.status_code, missing_vhost.json()) == (404, {"error": "not_found", "reason": "vhost_not_found"})


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("policies", {"pattern": "^q"}, "[{key_missing,definition}]"),
    ("policies", {"definition": {"max-length": 1}}, "[{key_missing,pattern}]"),
    ("policies", {"pattern": "^q", "definition": {"foo": 1}},
     "Validation failed\n\n[{&lt;&lt;\"foo\"&gt;&gt;,1}] are not recognised policy settings\n"),
    ("policies", {"pattern": "^q", "definition": {"max-length": "x"}},
     "Validation failed\n\n&lt;&lt;\"x\"&gt;&gt; is not a valid maximum length\n"),
    ("policies", {"pattern": "^q", "definition": {"max-length": 1}, "priority": "5"},
     "Validation failed\n\npriority should be a number, actually was &lt;&lt;\"5\"&gt;&gt;\n"),
    ("policies", {"pattern": "^q", "definition": {"max-length": 1}, "apply-to": "foo"},
     "Validation failed\n\napply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n"),
    ("policies", {"pattern": 5, "definition": {"max-length": 1}}, "Validation failed\n\npattern should be a binary but was 5\n"),
    ("policies", {"pattern": "^q", "definition": {}}, "Validation failed\n\nno policy provided\n"),
    ("operator-policies", {"pattern": "^q", "definition": {"overflow": "drop-head"}},
     "Validation failed\n\n[{<<\"overflow\">>,<<\"drop-head\">>}] are not recognised policy settings\n"),
    ("operator-policies", {"pattern": "^q", "definition": {"max-length": -1}},
     "Validation failed\n\n-1 is not a valid maximum length\n"),
])
def test_bad_policies_get_rabbitmqs_400(api, path, body, reason):
    refused = api.put(f"/api/{path}/%2F/p", json=body)
    assert (refused.status_code, refused.json()) == (400, {"error": "bad_request", "reason": reason})
    assert api.get(f"/api/{path}").json() == []


def test_a_policy_trims_a_live_queue_over_amqp_and_its_removal_lets_it_grow(api, broker):
    conn = amqp(broker)
    ch = conn.channel()
    ch.queue_declare("dlq")
    ch.queue_declare("q1", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
    for i in range(5):
        ch.basic_publish("", "q1", str(i).encode())
    assert api.put("/api/policies/%2F/p", json=QUEUE_POLICY).status_code == 201
    assert (depth(ch, "q1"), depth(ch, "dlq")) == (2, 3)
    assert [ch.basic_get("q1", auto_ack=True)[2] for _ in range(2)] == [b"3", b"4"]
    assert api.delete("/api/policies/%2F/p").status_code == 204
    for i in range(4):
        ch.basic_publish("", "q1", str(i).encode())
    assert depth(ch, "q1") == 4
    conn.close()


def test_an_operator_policy_caps_a_queue_declared_later(api, broker):
    assert api.put("/api/operator-policies/%2F/cap", json={"pattern": "^q", "definition": {"max-length": 1}}
                   ).status_code == 201
    assert api.get("/api/operator-policies/%2F/cap").json()["definition"] == {"max-length": 1}
    conn = amqp(broker)
    ch = conn.channel()
    ch.queue_declare("q2", arguments={"x-max-length": 5})
    for body in (b"a", b"b", b"c"):
        ch.basic_publish("", "q2", body)
    assert depth(ch, "q2") == 1 and ch.basic_get("q2", auto_ack=True)[2] == b"c"
    conn.close()


def test_an_exchange_policy_sets_the_alternate_exchange(api, broker):
    conn = amqp(broker)
    ch = conn.channel()
    ch.exchange_declare("ae", "fanout")
    ch.queue_declare("unrouted")
    ch.queue_bind("unrouted", "ae")
    ch.exchange_declare("x1", "direct")
    api.put("/api/policies/%2F/ae", json={"pattern": "^x", "definition": {"alternate-exchange": "ae"},
                                          "apply-to": "exchanges"})
    ch.basic_publish("x1", "nowhere", b"m")
    assert depth(ch, "unrouted") == 1
    conn.close()


def test_policies_limits_and_parameters_survive_a_restart(broker_factory, tmp_path):
    data_dir = str(tmp_path / "data")
    first = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=first.api, auth=("guest", "guest")) as api:
        conn = amqp(first)
        ch = conn.channel()
        ch.queue_declare("qd", durable=True)
        for i in range(4):
            ch.basic_publish("", "qd", str(i).encode(), pika.BasicProperties(delivery_mode=2))
        conn.close()
        api.put("/api/policies/%2F/p", json=QUEUE_POLICY)
        api.put("/api/operator-policies/%2F/o", json={"pattern": "^nothing", "definition": {"expires": 60000}})
        api.put("/api/vhosts/v2")
        api.put("/api/policies/v2/gone", json=QUEUE_POLICY)
        api.delete("/api/vhosts/v2")
        assert api.put("/api/vhost-limits/%2F/max-queues", json={"value": 10}).status_code == 204
        assert api.put("/api/user-limits/guest/max-channels", json={"value": 7}).status_code == 204
        assert api.put("/api/global-parameters/g", json={"value": {"a": [1, 2]}}).status_code == 201
    first.stop()
    second = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=second.api, auth=("guest", "guest")) as api:
        assert [p["name"] for p in api.get("/api/policies").json()] == ["p"]
        assert api.get("/api/operator-policies/%2F/o").json()["definition"] == {"expires": 60000}
        assert api.get("/api/vhost-limits").json() == [{"vhost": "/", "value": {"max-queues": 10}}]
        assert api.get("/api/user-limits/guest").json() == [{"user": "guest", "value": {"max-channels": 7}}]
        assert api.get("/api/global-parameters/g").json() == {"name": "g", "value": {"a": [1, 2]}}
    assert second.node.vhost_limit("/", "max-queues") == 10 and second.node.user_limit("guest", "max-channels") == 7
    conn = amqp(second)
    assert depth(conn.channel(), "qd") == 2  # the recovered queue got its policy before its messages
    conn.close()


def test_parameters_refuse_every_component_as_rabbitmq_without_plugins(api):
    refused = api.put("/api/parameters/shovel/%2F/s1", json={"value": {"src-uri": "amqp://"}})
    assert (refused.status_code, refused.json()) == (400, {"error": "bad_request",
                                                           "reason": "Validation failed\n\ncomponent shovel not found\n"})
    assert api.get("/api/parameters").json() == [] and api.get("/api/parameters/shovel/%2F").json() == []
    assert api.get("/api/parameters/shovel/%2F/s1").status_code == 404
    assert api.delete("/api/parameters/shovel/%2F/s1").status_code == 404


def test_global_parameters_include_the_cluster_name(api, broker):
    assert api.put("/api/global-parameters/g1", json={"value": {"a": 1}}).status_code == 201
    assert api.put("/api/global-parameters/g1", json={"value": {"a": 2}}).status_code == 204
    assert api.put("/api/global-parameters/g2", json={}).json()["reason"] == "[{key_missing,value}]"
    assert api.get("/api/global-parameters").json() == [{"name": "cluster_name", "value": broker.node.name},
                                                          {"name": "g1", "value": {"a": 2}}]
    assert api.put("/api/global-parameters/cluster_name", json={"value": "named"}).status_code == 204
    assert api.get("/api/cluster-name").json() == {"name": "named"}
    assert api.delete("/api/global-parameters/g1").status_code == 204
    assert api.delete("/api/global-parameters/g1").status_code == 404


def test_vhost_and_user_limits(api, broker):
    assert api.put("/api/vhost-limits/%2F/max-connections", json={"value": 5}).status_code == 204
    assert api.put("/api/vhost-limits/%2F/max-queues", json={"value": 10}).status_code == 204
    assert api.get("/api/vhost-limits/%2F").json() == [{"vhost": "/", "value": {"max-connections": 5, "max-queues": 10}}]
    bad = api.put("/api/vhost-limits/%2F/max-foo", json={"value": 10})
    assert bad.json()["reason"] == "Validation failed\n\nUnrecognised terms [{<<\"max-foo\">>,10}] in limits\n"
    bad = api.put("/api/vhost-limits/%2F/max-queues", json={"value": "x"})
    assert bad.json()["reason"] == "Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n"
    assert api.put("/api/vhost-limits/nosuch/max-queues", json={"value": 1}).json() == {
        "error": "not_found", "reason": "vhost_not_found"}
    assert api.delete("/api/vhost-limits/%2F/max-queues").status_code == 204
    assert api.delete("/api/vhost-limits/%2F/max-connections").status_code == 204
    assert api.get("/api/vhost-limits/%2F").json() == []
    assert broker.node.vhost_limit("/", "max-queues") is None
    assert api.put("/api/user-limits/guest/max-channels", json={"value": 100}).status_code == 204
    assert broker.node.user_limit("guest", "max-channels") == 100
    assert api.get("/api/user-limits").json() == [{"user": "guest", "value": {"max-channels": 100}}]
    assert api.get("/api/users/guest").json()["limits"] == {"max-channels": 100}  # as RabbitMQ shows them
    assert api.put("/api/user-limits/nosuch/max-channels", json={"value": 1}).json()["reason"] == ["no_such_user", "nosuch"]
    assert api.put("/api/user-limits/guest/max-foo", json={"value": 1}).json()["reason"] == (
        "Unrecognised terms [{<<\"max-foo\">>,1}] in user-limits")


def test_only_policymakers_with_vhost_access_change_policies(api, broker):
    for user, tags in (("pm", "policymaker"), ("mg", "management")):
        api.put(f"/api/users/{user}", json={"password": "pw", "tags": tags})
        api.put(f"/api/permissions/%2F/{user}", json={"configure": ".*", "write": ".*", "read": ".*"})
    with httpx.Client(base_url=broker.api, auth=("pm", "pw")) as pm, httpx.Client(base_url=broker.api, auth=("mg", "pw")) as mg:
        assert pm.put("/api/policies/%2F/p", json=QUEUE_POLICY).status_code == 201
        refused = mg.put("/api/policies/%2F/p", json=QUEUE_POLICY)
        assert (refused.status_code, refused.json()) == (
            401, {"error": "not_authorised", "reason": "User not authorised to access object"})
        assert mg.get("/api/policies").json()[0]["name"] == "p"
        assert pm.put("/api/operator-policies/%2F/o", json=QUEUE_POLICY).status_code == 401


def test_rabbitmqadmin_declares_lists_and_deletes_policies(broker):
    declared = admin(broker, "declare", "policy", "name=pa", "pattern=^qa", 'definition={"max-length":3}',
                     "priority=2", "apply-to=queues")
    assert (declared.returncode, declared.stdout) == (0, "policy declared\n")
    listed = admin(broker, "-f", "tsv", "list", "policies")
    assert listed.stdout.splitlines() == ["vhost\tname\tapply-to\tdefinition\tpattern\tpriority",
                                          '/\tpa\tqueues\t{"max-length": 3}\t^qa\t2']
    assert admin(broker, "declare", "operator_policy", "name=op", "pattern=^qa",
                 'definition={"max-length":1}').stdout == "operator_policy declared\n"
    assert admin(broker, "delete", "policy", "name=pa").stdout == "policy deleted\n"
    gone = admin(broker, "delete", "policy", "name=pa")
    assert gone.returncode == 1 and "*** Not found: /api/policies/%2F/pa" in gone.stdout + gone.stderr
    bad = admin(broker, "declare", "policy", "name=bad", "pattern=^q", 'definition={"foo":1}')
    assert bad.returncode == 1 and '[{&lt;&lt;"foo"&gt;&gt;,1}] are not recognised policy settings' in bad.stdout + bad.stderr
    assert admin(broker, "declare", "vhost_limit", "vhost=/", "name=max-queues", "value=5").returncode == 0
    assert admin(broker, "-f", "tsv", "list", "vhost_limits").stdout.splitlines() == [
        "vhost\tvalue", '/\t{"max-queues": 5}']


def test_pyrabbit2_policy_calls(broker):
    client = Client(f"127.0.0.1:{broker.management_port}", "guest", "guest")
    client.create_policy("/", "py", pattern="^py", definition={"message-ttl": 1000}, priority=3, **{"apply-to": "queues"})
    assert client.get_policy("/", "py")["definition"] == {"message-ttl": 1000}
    assert [p["name"] for p in client.get_all_policies()] == ["py"]
    client.delete_policy("/", "py")
    assert client.get_all_policies() == []


DEFINITION_KEYS = ["message-ttl", "expires", "max-length", "max-length-bytes", "overflow", "dead-letter-exchange",
                   "dead-letter-routing-key", "alternate-exchange", "queue-mode", "delivery-limit", "max-age",
                   "ha-mode", "ha-params", "foo", ""]
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=8)
BODIES = st.fixed_dictionaries({}, optional={
    "pattern": st.one_of(st.sampled_from(["^q", "(", "[", "*", ""]), VALUES),
    "definition": st.one_of(st.dictionaries(st.sampled_from(DEFINITION_KEYS), VALUES, max_size=4), VALUES),
    "priority": VALUES, "apply-to": st.one_of(st.sampled_from(["all", "queues", "exchanges"]), VALUES)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, operator=st.booleans())
def test_bad_policy_bodies_get_a_400_with_a_reason_never_a_500(api, body, operator):
    path = "operator-policies" if operator else "policies"
    answer = api.put(f"/api/{path}/%2F/fuzz", content=json.dumps(body))
    if answer.status_code in (201, 204):
        assert api.get(f"/api/{path}/%2F/fuzz").json()["pattern"] == body["pattern"]
        api.delete(f"/api/{path}/%2F/fuzz")
    else:
        assert answer.status_code == 400, (body, answer.status_code)
        assert answer.json()["error"] == "bad_request" and answer.json()["reason"]


MY_ROUTES = ["policies", "policies/{}", "policies/{}/{}", "operator-policies", "operator-policies/{}",
             "operator-policies/{}/{}", "parameters", "parameters/{}", "parameters/{}/{}", "parameters/shovel/{}/{}",
             "global-parameters", "global-parameters/{}", "vhost-limits", "vhost-limits/{}",
             "vhost-limits/{}/max-queues", "vhost-limits/{}/{}", "user-limits", "user-limits/{}",
             "user-limits/{}/max-channels", "user-limits/{}/{}"]
LIMIT_BODIES = st.dictionaries(st.sampled_from(["value", "pattern", "definition"]), VALUES, max_size=3).map(
    lambda value: json.dumps(value).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(MY_ROUTES), names=st.lists(NAMES, min_size=3, max_size=3),
       method=st.sampled_from(["GET", "PUT", "DELETE", "HEAD"]), body=st.one_of(FUZZ_BODIES, LIMIT_BODIES),
       query=QUERIES)
def test_any_request_on_these_routes_gets_an_answer(api, route, names, method, body, query):
    path = "/api/" + route.format(*(quote(name, safe="") for name in names)) + query
    reply = api.request(method, path, content=body)
    assert_answered(reply.status_code, (method, path, body[:100], reply.text[:200]))


def test_queue_and_exchange_objects_name_their_policies(api):
    """GET /api/queues/{v}/{q} shows policy, operator_policy and effective_policy_definition; an
    exchange object has a `policy` key only while one applies (both as RabbitMQ 3.10.8 shows them)."""
    assert api.put("/api/queues/%2F/qpol", json={"durable": False, "arguments": {"x-max-length": 9}}).status_code == 201
    assert api.put("/api/exchanges/%2F/xpol", json={"type": "direct"}).status_code == 201
    assert "policy" not in api.get("/api/exchanges/%2F/xpol").json()
    assert api.put("/api/policies/%2F/p", json=QUEUE_POLICY).status_code == 201
    assert api.put("/api/operator-policies/%2F/op", json={"pattern": "^q", "definition": {"message-ttl": 500},
                                                          "apply-to": "queues"}).status_code == 201
    assert api.put("/api/policies/%2F/xp", json={"pattern": "^xpol$", "apply-to": "exchanges",
                                                 "definition": {"alternate-exchange": "amq.fanout"}}).status_code == 201
    queue = api.get("/api/queues/%2F/qpol").json()
    assert (queue["policy"], queue["operator_policy"]) == ("p", "op")
    assert queue["effective_policy_definition"] == {"max-length": 2, "message-ttl": 500}
    assert api.get("/api/exchanges/%2F/xpol").json()["policy"] == "xp"


def test_runaway_patterns_neither_hang_the_broker_nor_match(api, broker):
    """A policy pattern and a list filter that backtrack without end: the broker answers, the
    policy applies to nothing (as PCRE's match limit makes RabbitMQ's re:run answer nomatch)."""
    runaway, victim = "(a|aa)+$", "a" * 60 + "!"
    assert api.put("/api/policies/%2F/runaway", json={"pattern": runaway, "definition": {"max-length": 1},
                                                      "apply-to": "queues"}).status_code == 201
    try:
        channel = amqp(broker).channel()
        channel.queue_declare(victim)
        for _ in range(3):
            channel.basic_publish("", victim, b"m")
        assert channel.queue_declare(victim, passive=True).method.message_count == 3  # no max-length
        listed = api.get("/api/queues/%2F", params={"page": 1, "name": runaway, "use_regex": "true"})
        assert (listed.status_code, listed.json()["items"]) == (200, [])  # the name filter is paging's
        assert api.get(f"/api/queues/%2F/{quote(victim)}").json()["policy"] is None
        channel.queue_delete(victim)
    finally:
        api.delete("/api/policies/%2F/runaway")
