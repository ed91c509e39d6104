"""Transport rules and error bodies of the management API, as RabbitMQ 3.10.8 answers them.

Every body and status here was checked with curl against the real RabbitMQ 3.10.8 with the
management plugin (guest/guest on 127.0.0.1:15672): 401 without credentials (empty body,
www-authenticate), "not_authorized"/"Login failed" for a bad password, the British
"not_authorised" with "Not management user" / "Not administrator user" / "Not monitor user" /
"User not authorised to access virtual host", 404 "Object Not Found", 405 with an empty body,
400 for a malformed Authorization header or a bad percent-escape.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from amqpd.broker.node import Node
from amqpd.settings import Settings
from amqpd.management.auth import authenticate
from amqpd.management.errors import ApiError
from tests.management.conftest import amqp

CHALLENGE = 'Basic realm="RabbitMQ Management"'
NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


def test_the_slash_vhost_is_routed_from_its_raw_escape(api):
    reply = api.get("/api/vhosts/%2F")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["name"] == "/"
    assert api.get("/api/vhosts/%2f").json()["name"] == "/"


def test_a_vhost_with_a_slash_in_its_name_is_one_segment(api):
    assert api.put("/api/vhosts/rabbit%2Fhole").status_code == 201
    assert api.get("/api/vhosts/rabbit%2Fhole").json()["name"] == "rabbit/hole"
    assert api.get("/api/vhosts/rabbit/hole").json() == NOT_FOUND


def test_plus_stays_a_plus(api):
    assert api.put("/api/vhosts/a+b").status_code == 201
    assert [v["name"] for v in api.get("/api/vhosts").json()] == ["/", "a+b"]


def test_one_trailing_slash_and_an_empty_query_are_ignored(api):
    assert api.get("/api/healthchecks/node/").json() == {"status": "ok"}
    assert api.get("/api/users/guest/").json()["name"] == "guest"
    assert api.get("/api/whoami?").json() == {"name": "guest", "tags": ["administrator"]}


def test_unknown_routes_and_objects_are_404_with_rabbitmqs_body(api, broker):
    for path in ("/api/nope", "/api/vhosts/nope", "/api/users/nope", "/api/permissions/%2F/nope",  # "/" is the console
                 "/api/aliveness-test/nope", "/api/healthchecks/node/rabbit@nope", "//api/whoami"):
        reply = api.get(path)
        assert (reply.status_code, reply.json()) == (404, NOT_FOUND), path
    # an unknown route is 404 before credentials are looked at, as on RabbitMQ
    assert httpx.get(broker.api + "/api/nope", auth=("nobody", "x")).json() == NOT_FOUND


def test_wrong_method_is_405_with_an_empty_body(api):
    reply = api.post("/api/overview")
    assert (reply.status_code, reply.content) == (405, b"")
    assert set(reply.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert api.delete("/api/whoami").status_code == 405


def test_options_needs_no_credentials(broker):
    reply = httpx.request("OPTIONS", broker.api + "/api/whoami")
    assert reply.status_code == 200
    assert "GET" in reply.headers["allow"]


def test_bad_percent_escapes_are_400(api):
    for path in ("/api/vhosts/%zz", "/api/vhosts/%", "/api/vhosts/%FF"):
        assert api.get(path).status_code == 400, path


def test_no_credentials_is_401_with_a_challenge_and_no_body(broker):
    reply = httpx.get(broker.api + "/api/whoami")
    assert (reply.status_code, reply.reason_phrase, reply.content) == (401, "Unauthorized", b"")
    assert reply.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize("auth", [("guest", "wrong"), ("nobody", "guest")])
def test_bad_credentials_are_login_failed(broker, auth):
    reply = httpx.get(broker.api + "/api/whoami", auth=auth)
    assert reply.status_code == 401
    assert reply.json() == {"error": "not_authorized", "reason": "Login failed"}
    assert reply.headers["www-authenticate"] == CHALLENGE


def test_other_schemes_fail_and_malformed_basic_is_400(broker):
    reply = httpx.get(broker.api + "/api/whoami", headers={"Authorization": "Bearer abc"})
    assert reply.json() == {"error": "not_authorized", "reason": "Login failed"}
    reply = httpx.get(broker.api + "/api/whoami", headers={"Authorization": "Basic !!!"})
    assert (reply.status_code, reply.content) == (400, b"")


def test_tags_decide_what_a_user_may_do(broker_factory):
    broker = broker_factory(users={"plain": "pw", "mgmt": "pw", "mon": "pw"},
                            user_tags={"mgmt": ["management"], "mon": ["monitoring"]})

    def get(user: str, path: str) -> httpx.Response:
        return httpx.get(broker.api + path, auth=(user, "pw"))

    assert get("plain", "/api/whoami").json() == {"error": "not_authorised", "reason": "Not management user"}
    assert "www-authenticate" not in get("plain", "/api/whoami").headers
    assert get("mgmt", "/api/whoami").json() == {"name": "mgmt", "tags": ["management"]}
    assert get("mgmt", "/api/users").json() == {"error": "not_authorised", "reason": "Not administrator user"}
    assert get("mgmt", "/api/nodes").json() == {"error": "not_authorised", "reason": "Not monitor user"}
    assert get("mgmt", "/api/aliveness-test/%2F").json() == {
        "error": "not_authorised", "reason": "User not authorised to access virtual host"}
    assert get("mgmt", "/api/vhosts").json() == []  # only the vhosts it has permissions in
    assert "node" not in get("mgmt", "/api/overview").json()
    assert get("mon", "/api/nodes").status_code == 200
    assert get("mon", "/api/overview").json()["node"] == broker.node.name
    assert get("mon", "/api/vhosts").json()[0]["name"] == "/"


def test_guest_may_use_the_api_from_loopback_only():
    """RabbitMQ's loopback_users rule holds over HTTP too (checked on the node: the test broker
    listens on loopback only)."""
    node = Node(Settings())
    header = "Basic Z3Vlc3Q6Z3Vlc3Q="  # guest:guest
    assert authenticate(node, header, "127.0.0.1").user.name == "guest"
    assert authenticate(node, header, "::ffff:127.0.0.1").user.name == "guest"
    with pytest.raises(ApiError) as refused:
        authenticate(node, header, "10.1.2.3")
    assert (refused.value.status, refused.value.error, refused.value.reason) == (
        401, "not_authorised", "User can only log in via localhost")


def test_a_slow_http_client_does_not_stall_amqp(broker):
    """Half an HTTP request stays open in its own task while AMQP goes on."""
    with socket.create_connection(("127.0.0.1", broker.management_port)) as slow:
        slow.sendall(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        conn = amqp(broker)
        channel = conn.channel()
        channel.queue_declare("q")
        channel.basic_publish("", "q", b"through")
        method, _, body = channel.basic_get("q", auto_ack=True)
        assert body == b"through"
        conn.close()


def test_the_api_can_be_turned_off(broker_factory):
    broker = broker_factory(management=False)
    assert broker.server.management_port is None
    conn = amqp(broker)
    assert conn.is_open
    conn.close()


def test_no_password_reaches_the_log(broker, api, capfd):
    httpx.get(broker.api + "/api/whoami", auth=("guest", "pw-in-a-failed-login"))
    api.put("/api/users/u", json={"password": "pw-of-a-new-user", "tags": ""})
    hashed = api.get("/api/users/u").json()["password_hash"]
    api.delete("/api/users/u")
    out, err = capfd.readouterr()
    logged = out + err
    assert "HTTP access denied" in logged and "invalid credentials" in logged  # the failed login, by name
    assert "pw-in-a-failed-login" not in logged and "pw-of-a-new-user" not in logged and hashed not in logged


def test_the_api_follows_a_dual_stack_host(broker_factory):
    """With --host ::, the API listens where AMQP does: IPv4 and IPv6 clients both reach it."""
    broker = broker_factory(host="::")
    for host in ("127.0.0.1", "[::1]"):
        reply = httpx.get(f"http://{host}:{broker.management_port}/api/whoami", auth=("guest", "guest"))
        assert reply.json() == {"name": "guest", "tags": ["administrator"]}, host
