"""/api/exchanges over HTTP, with the effects checked over AMQP (pika).

Checked against RabbitMQ 3.10.8 (curl): the default exchange is listed first as "" and is
`amq.default` in paths; PUT without a type makes a direct exchange (201), an unknown type is
400 "invalid exchange type 'nope'"; deleting a system exchange is 401 "Access refused.", a
missing one 404; publish answers {"routed":true|false}, a missing key
`[{key_missing,payload_encoding}]`, an unknown encoding ["unsupported_encoding","foo"], a
missing exchange 400 "404 NOT_FOUND - no exchange 'nope' in vhost '/'".
"""

from __future__ import annotations

import pika
import pytest

from tests.management.conftest import amqp


def test_put_get_delete_exchange_and_amqp_sees_it(api, broker):
    reply = api.put("/api/exchanges/%2F/x1", json={"type": "fanout", "durable": "true", "arguments": {"a": 1}})
    assert (reply.status_code, reply.content) == (201, b"")
    assert api.put("/api/exchanges/%2F/x1", json={"type": "fanout", "durable": True, "arguments": {"a": 1}}).status_code == 204
    assert api.get("/api/exchanges/%2F/x1").json() == {
        "name": "x1", "vhost": "/", "type": "fanout", "durable": True, "auto_delete": False, "internal": False,
        "arguments": {"a": 1}, "incoming": [], "outgoing": []}
    assert api.put("/api/exchanges/%2F/x1", json={"type": "direct"}).json() == {
        "error": "bad_request",
        "reason": "inequivalent arg 'type' for exchange 'x1' in vhost '/': received 'direct' but current is 'fanout'"}
    conn = amqp(broker)
    channel = conn.channel()
    channel.exchange_declare("x1", "fanout", passive=True)
    channel.queue_declare("xq")
    channel.queue_bind("xq", "x1")
    assert api.delete("/api/exchanges/%2F/x1", params={"if-unused": "true"}).json() == {
        "error": "bad_request", "reason": "exchange 'x1' in vhost '/' in use"}
    assert api.delete("/api/exchanges/%2F/x1").status_code == 204
    assert api.get("/api/exchanges/%2F/x1").status_code == 404
    assert api.delete("/api/exchanges/%2F/x1").status_code == 404
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        channel.exchange_declare("x1", "fanout", passive=True)
    assert closed.value.reply_code == 404
    conn.close()


def test_exchange_refusals_and_defaults(api):
    assert api.put("/api/exchanges/%2F/plain", json={}).status_code == 201
    assert api.get("/api/exchanges/%2F/plain").json()["type"] == "direct"
    assert api.put("/api/exchanges/%2F/bad", json={"type": "nope"}).json() == {
        "error": "bad_request", "reason": "invalid exchange type 'nope'"}
    assert api.put("/api/exchanges/%2F/amq.direct", json={"type": "direct"}).json()["reason"] == (
        "inequivalent arg 'durable' for exchange 'amq.direct' in vhost '/': received 'false' but current is 'true'")
    assert api.put("/api/exchanges/%2F/amq.direct", json={"type": "direct", "durable": True}).status_code == 204
    assert api.delete("/api/exchanges/%2F/amq.direct").json() == {"error": "not_authorised", "reason": "Access refused."}
    assert api.put("/api/exchanges/%2F/amq.new", json={"type": "direct"}).json() == {
        "error": "not_authorised", "reason": "Access refused."}
    listed = api.get("/api/exchanges/%2F").json()
    assert (listed[0]["name"], listed[0]["type"]) == ("", "direct")
    assert "amq.topic" in [x["name"] for x in listed]
    assert api.get("/api/exchanges/%2F/amq.default").json()["name"] == ""


def test_publish_routes_and_reports_it(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("pq")
    body = {"routing_key": "pq", "properties": {"headers": {"h": "v"}, "delivery_mode": 2, "type": "t"},
            "payload": "hello", "payload_encoding": "string"}
    assert api.post("/api/exchanges/%2F/amq.default/publish", json=body).json() == {"routed": True}
    assert api.post("/api/exchanges/%2F/amq.default/publish",
                    json={**body, "payload": "/w==", "payload_encoding": "base64", "properties": {}}).json() == {"routed": True}
    assert api.post("/api/exchanges/%2F/amq.default/publish", json={**body, "routing_key": "none"}).json() == {"routed": False}
    method, properties, payload = channel.basic_get("pq", auto_ack=True)
    assert (payload, properties.headers, properties.delivery_mode, properties.type) == (b"hello", {"h": "v"}, 2, "t")
    assert channel.basic_get("pq", auto_ack=True)[2] == b"\xff"
    conn.close()


def test_publish_refusals(api):
    body = {"routing_key": "k", "properties": {}, "payload": "x", "payload_encoding": "string"}
    del_key = {k: v for k, v in body.items() if k != "payload_encoding"}
    assert api.post("/api/exchanges/%2F/amq.direct/publish", json=del_key).json() == {
        "error": "bad_request", "reason": "[{key_missing,payload_encoding}]"}
    assert api.post("/api/exchanges/%2F/amq.direct/publish", json={**body, "payload_encoding": "foo"}).json() == {
        "error": "bad_request", "reason": ["unsupported_encoding", "foo"]}
    assert api.post("/api/exchanges/%2F/nope/publish", json=body).json() == {
        "error": "bad_request", "reason": "404 NOT_FOUND - no exchange 'nope' in vhost '/'"}
    assert api.post("/api/exchanges/%2F/amq.direct/publish",
                    json={**body, "properties": {"delivery_mode": "x"}}).status_code == 400
    assert api.post("/api/exchanges/%2F/amq.direct/publish", json={**body, "properties": {"user_id": "bob"}}).json() == {
        "error": "bad_request",
        "reason": "406 PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"}
