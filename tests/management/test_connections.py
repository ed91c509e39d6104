"""/api/connections, /api/channels and /api/consumers against live pika clients.

Checked against RabbitMQ 3.10.8 with pika: a connection is named "peer:port -> host:port" and
shows client_properties, user_provided_name, protocol "AMQP 0-9-1"; a channel "<conn> (n)"
with prefetch_count, confirm, consumer_count; a consumer its tag, queue, ack_required,
prefetch_count and arguments (x-priority); an unknown name is 404; DELETE answers 204 and the
client receives Connection.Close 320 "CONNECTION_FORCED - bye now" with X-Reason: bye now
(and "CONNECTION_FORCED - Closed via management plugin" without it); a management user asking
for another user's connection is 401 "User not authorised to access object".
"""

from __future__ import annotations

from urllib.parse import quote

import pika
import pytest


def connect(broker, name: str, user: str = "guest", password: str = "guest") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, credentials=pika.PlainCredentials(user, password),
        client_properties={"connection_name": name}))


def named(api, name: str) -> dict:
    [found] = [c for c in api.get("/api/connections").json() if c["user_provided_name"] == name]
    return found


def test_connection_channel_and_consumer_objects(api, broker):
    conn = connect(broker, "probe")
    channel = conn.channel()
    channel.basic_qos(prefetch_count=7)
    channel.confirm_delivery()
    channel.queue_declare("cq")
    channel.basic_consume("cq", lambda *args: None, consumer_tag="ctag", arguments={"x-priority": 3})
    found = named(api, "probe")
    peer_port = found["peer_port"]
    assert found["name"] == f"127.0.0.1:{peer_port} -> 127.0.0.1:{broker.port}"
    assert {k: found[k] for k in ("user", "vhost", "host", "port", "peer_host", "protocol", "ssl", "state",
                                  "channels", "auth_mechanism", "type", "node")} == {
        "user": "guest", "vhost": "/", "host": "127.0.0.1", "port": broker.port, "peer_host": "127.0.0.1",
        "protocol": "AMQP 0-9-1", "ssl": False, "state": "running", "channels": 1, "auth_mechanism": "PLAIN",
        "type": "network", "node": broker.node.name}
    assert found["client_properties"]["product"] == "Pika Python Client Library"
    path = quote(found["name"], safe="")
    assert api.get(f"/api/connections/{path}").json()["name"] == found["name"]
    channels = api.get(f"/api/connections/{path}/channels").json()
    assert [{k: c[k] for k in ("name", "number", "prefetch_count", "confirm", "transactional", "consumer_count")}
            for c in channels] == [{"name": f"{found['name']} (1)", "number": 1, "prefetch_count": 7, "confirm": True,
                                    "transactional": False, "consumer_count": 1}]
    assert api.get(f"/api/channels/{quote(channels[0]['name'], safe='')}").json()["connection_details"] == {
        "name": found["name"], "peer_host": "127.0.0.1", "peer_port": peer_port}
    assert [c["name"] for c in api.get("/api/vhosts/%2F/channels").json()] == [channels[0]["name"]]
    [consumer] = api.get("/api/consumers/%2F").json()
    assert {k: consumer[k] for k in ("consumer_tag", "queue", "ack_required", "exclusive", "prefetch_count",
                                     "arguments", "active")} == {
        "consumer_tag": "ctag", "queue": {"name": "cq", "vhost": "/"}, "ack_required": True, "exclusive": False,
        "prefetch_count": 7, "arguments": {"x-priority": 3}, "active": True}
    assert consumer["channel_details"]["name"] == channels[0]["name"]
    assert api.get("/api/consumers", params={"page": "1"}).json()["items"] == [consumer]
    page = api.get("/api/connections", params={"page": "1"}).json()
    assert (page["total_count"], page["page_count"]) == (1, 1)
    assert [c["name"] for c in api.get("/api/vhosts/%2F/connections").json()] == [found["name"]]
    conn.close()


@pytest.mark.parametrize("headers, text", [
    ({"X-Reason": "bye now"}, "CONNECTION_FORCED - bye now"),
    ({}, "CONNECTION_FORCED - Closed via management plugin")])
def test_delete_closes_the_connection_with_320(api, broker, headers, text):
    conn = connect(broker, "doomed")
    path = quote(named(api, "doomed")["name"], safe="")
    reply = api.delete(f"/api/connections/{path}", headers=headers)
    assert (reply.status_code, reply.content) == (204, b"")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.channel()
    assert (closed.value.reply_code, closed.value.reply_text) == (320, text)
    assert api.get(f"/api/connections/{path}").status_code == 404


def test_unknown_and_by_user(api, broker):
    assert api.get("/api/connections/nope").json() == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.delete("/api/connections/nope").status_code == 404
    assert api.get("/api/channels/nope").status_code == 404
    conn = connect(broker, "mine")
    assert [c["user"] for c in api.get("/api/connections/username/guest").json()] == ["guest"]
    assert api.delete("/api/connections/username/guest").status_code == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.channel()
    assert closed.value.reply_code == 320


def test_a_management_user_sees_only_its_own_connections(api, broker):
    api.put("/api/users/mu", json={"password": "pw", "tags": "management"})
    api.put("/api/permissions/%2F/mu", json={"configure": ".*", "write": ".*", "read": ".*"})
    theirs = connect(broker, "guest's")
    mine = connect(broker, "mu's", "mu", "pw")
    assert [c["user_provided_name"] for c in api.get("/api/connections", auth=("mu", "pw")).json()] == ["mu's"]
    assert sorted(c["user_provided_name"] for c in api.get("/api/connections").json()) == ["guest's", "mu's"]
    other = quote(named(api, "guest's")["name"], safe="")
    for method in ("GET", "DELETE"):
        assert api.request(method, f"/api/connections/{other}", auth=("mu", "pw")).json() == {
            "error": "not_authorised", "reason": "User not authorised to access object"}
    assert api.get(f"/api/connections/{other}/channels", auth=("mu", "pw")).status_code == 401
    theirs.close()
    mine.close()
