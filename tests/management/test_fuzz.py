"""Bad input never breaks the API: any path, method or body gets one of RabbitMQ's replies (a
4xx, or the health checks' 503), never a 500, and the broker goes on answering."""

from __future__ import annotations

import json
import socket
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.server import BrokerThread

ADMIN = ("fuzz-admin", "fuzz-pw")  # not a name the strategies make, so it keeps working
ROUTES = ["overview", "whoami", "cluster-name", "nodes", "nodes/{}", "extensions", "vhosts", "vhosts/{}",
          "vhosts/{}/permissions", "users", "users/{}", "users/without-permissions", "users/bulk-delete",
          "users/{}/permissions", "permissions", "permissions/{}/{}", "aliveness-test/{}", "healthchecks/node",
          "healthchecks/node/{}", "health/checks/alarms", "health/checks/port-listener/{}",
          "health/checks/protocol-listener/{}", "health/checks/virtual-hosts", "health/checks/node-is-quorum-critical",
          "feature-flags"]
ROUTES += ["queues", "queues/{}", "queues/{}/{}", "queues/{}/{}/contents", "queues/{}/{}/get", "queues/{}/{}/bindings",
           "queues/{}/{}/actions", "exchanges", "exchanges/{}", "exchanges/{}/{}", "exchanges/{}/{}/publish",
           "exchanges/{}/{}/bindings/source", "exchanges/{}/{}/bindings/destination", "bindings", "bindings/{}",
           "bindings/{}/e/{}/q/{}", "bindings/{}/e/{}/e/{}", "bindings/{}/e/{}/q/{}/{}", "bindings/{}/e/{}/e/{}/{}",
           "connections", "connections/{}", "connections/{}/channels", "connections/username/{}", "channels",
           "channels/{}", "vhosts/{}/connections", "vhosts/{}/channels", "consumers", "consumers/{}"]
ROUTES += ["topic-permissions", "topic-permissions/{}/{}", "topic-permissions/{}/{}/amq.topic", "vhosts/{}/topic-permissions",
           "users/{}/topic-permissions", "vhost-limits", "vhost-limits/{}", "vhost-limits/{}/max-queues",
           "vhost-limits/{}/{}", "user-limits", "user-limits/{}", "user-limits/{}/max-channels", "user-limits/{}/{}"]
NAMES = st.one_of(st.sampled_from(["/", "x", "guest", "%", "a b", "é", "..", "", "amq.default", "amq.direct", "q"]),
                  st.text(max_size=30))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=20)
KEYS = ["password", "password_hash", "hashing_algorithm", "tags", "configure", "write", "read", "description",
        "tracing", "default_queue_type", "name", "users", "exchange", "value"]
KEYS += ["durable", "auto_delete", "internal", "arguments", "type", "routing_key", "properties", "payload",
         "payload_encoding", "count", "ackmode", "encoding", "truncate"]
BODIES = st.one_of(
    JSON.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6).map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.just(b"[" * 5000),  # deeper than the JSON decoder's recursion
)
QUERIES = st.sampled_from(["", "?page=1", "?page=-1&page_size=x", "?page=1&name=(&use_regex=true",
                           "?columns=a.b.c,,", "?sort=name.x&sort_reverse=true", "?page=99999999999999999999"])


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerThread]:
    broker = BrokerThread(users={ADMIN[0]: ADMIN[1]}, user_tags={ADMIN[0]: ["administrator"]}).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def client(broker: BrokerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=broker.api, auth=ADMIN, timeout=10) as client:
        yield client


def strict_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def assert_answered(status: int, what: object) -> None:
    assert status < 500 or status == 503, what


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), names=st.lists(NAMES, min_size=4, max_size=4),
       method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]), body=BODIES, query=QUERIES)
def test_any_request_gets_an_answer(client, route, names, method, body, query):
    path = "/api/" + route.format(*(quote(name, safe="") for name in names)) + query
    reply = client.request(method, path, content=body)
    assert_answered(reply.status_code, (method, path, body[:100], reply.text[:200]))
    if reply.content and reply.headers.get("content-type") == "application/json":
        json.loads(reply.content, parse_constant=strict_json)  # standard JSON: no NaN or Infinity


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60),
       authorization=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)))
def test_any_raw_path_and_authorization_gets_an_answer(broker, target, authorization):
    """Request targets sent as they are (bad escapes, no leading slash, odd characters)."""
    headers = "Host: x\r\nConnection: close\r\n" + (f"Authorization: {authorization}\r\n" if authorization else "")
    with socket.create_connection(("127.0.0.1", broker.management_port), timeout=10) as sock:
        sock.sendall(f"GET /api/{target} HTTP/1.1\r\n{headers}\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert_answered(status, (target, authorization, reply[:300]))


def test_a_huge_body_is_refused_without_reading_it(broker):
    reply = httpx.put(broker.api + "/api/vhosts/big", content=b"{" + b" " * 21_000_000 + b"}", auth=ADMIN, timeout=30)
    assert reply.status_code == 413
    assert httpx.get(broker.api + "/api/whoami", auth=ADMIN).json()["name"] == ADMIN[0]


OBJECT_PATHS = ["queues/%2F/fq", "queues/%2F/fq/get", "exchanges/%2F/fx", "exchanges/%2F/fx/publish",
                "exchanges/%2F/amq.default/publish", "bindings/%2F/e/fx/q/fq", "bindings/%2F/e/fx/e/amq.direct",
                "exchanges/%2F/amq.headers", "bindings/%2F/e/amq.headers/q/fq"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(OBJECT_PATHS), method=st.sampled_from(["PUT", "POST", "DELETE"]),
       body=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6))
def test_bodies_for_existing_objects_get_an_answer(client, path, method, body):
    """Arbitrary bodies where the queue and exchange exist, so they reach the declare, bind, get
    and publish code rather than stopping at a 404."""
    client.put("/api/queues/%2F/fq")
    client.put("/api/exchanges/%2F/fx", json={"type": "topic"})
    reply = client.request(method, "/api/" + path, content=json.dumps(body).encode())
    assert_answered(reply.status_code, (method, path, body, reply.text[:200]))
