"""/api/bindings over HTTP, with the effects checked over AMQP (pika).

Checked against RabbitMQ 3.10.8 (curl): POST answers 201 with a relative Location
`{destination}/{properties_key, URL-encoded}` (routing key "a b/c~" gives properties key
"a+b%2Fc%7E" and Location "q/a%2Bb%252Fc%257E"; an empty key without arguments "~"; with
arguments "key~<hash>"); a missing source or destination on POST is 404
`{"error":"not_found","reason":"no exchange 'nope' in vhost '/'"}`; binding from the default
exchange is 401 "Access refused."; the default exchange's implicit binding to each queue is
listed with the queue's name as routing and properties key.
"""

from __future__ import annotations

import httpx

from tests.management.conftest import amqp


def test_bind_queue_list_show_and_unbind(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("bq")
    reply = api.post("/api/bindings/%2F/e/amq.direct/q/bq", json={"routing_key": "a b/c~"})
    assert (reply.status_code, reply.headers["location"]) == (201, "bq/a%2Bb%252Fc%257E")
    channel.basic_publish("amq.direct", "a b/c~", b"routed")
    assert channel.basic_get("bq", auto_ack=True)[2] == b"routed"
    with_args = api.post("/api/bindings/%2F/e/amq.direct/q/bq", json={"routing_key": "k", "arguments": {"x": 1}})
    props = with_args.headers["location"].split("/")[1]
    assert props.startswith("k~")
    listed = api.get("/api/bindings/%2F/e/amq.direct/q/bq").json()
    assert [(b["routing_key"], b["arguments"], b["properties_key"]) for b in listed] == [
        ("a b/c~", {}, "a+b%2Fc%7E"), ("k", {"x": 1}, props)]
    assert api.get(f"/api/bindings/%2F/e/amq.direct/q/bq/{props}").json() == {
        "source": "amq.direct", "vhost": "/", "destination": "bq", "destination_type": "queue",
        "routing_key": "k", "arguments": {"x": 1}, "properties_key": props}
    assert api.delete("/api/bindings/%2F/e/amq.direct/q/bq/a%2Bb%252Fc%257E").status_code == 204
    assert api.delete("/api/bindings/%2F/e/amq.direct/q/bq/a%2Bb%252Fc%257E").status_code == 404
    channel.basic_publish("amq.direct", "a b/c~", b"lost")
    assert channel.basic_get("bq", auto_ack=True)[2] is None
    everything = api.get("/api/bindings/%2F").json()
    assert [(b["source"], b["destination"], b["routing_key"]) for b in everything] == [
        ("", "bq", "bq"), ("amq.direct", "bq", "k")]
    assert api.get("/api/bindings/%2F/e/amq.default/q/bq/bq").json()["source"] == ""
    conn.close()


def test_exchange_to_exchange_binding(api, broker):
    api.put("/api/exchanges/%2F/src", json={"type": "fanout"})
    api.put("/api/exchanges/%2F/dst", json={"type": "fanout"})
    api.put("/api/queues/%2F/eq")
    api.post("/api/bindings/%2F/e/dst/q/eq")
    reply = api.post("/api/bindings/%2F/e/src/e/dst", json={})
    assert (reply.status_code, reply.headers["location"]) == (201, "dst/~")
    assert api.post("/api/exchanges/%2F/src/publish", json={
        "routing_key": "", "properties": {}, "payload": "via", "payload_encoding": "string"}).json() == {"routed": True}
    assert [b["destination"] for b in api.get("/api/exchanges/%2F/src/bindings/source").json()] == ["dst"]
    assert [b["source"] for b in api.get("/api/exchanges/%2F/dst/bindings/destination").json()] == ["src"]
    assert api.delete("/api/bindings/%2F/e/src/e/dst/~").status_code == 204
    assert api.post("/api/exchanges/%2F/src/publish", json={
        "routing_key": "", "properties": {}, "payload": "via", "payload_encoding": "string"}).json() == {"routed": False}


def test_binding_refusals(api):
    api.put("/api/queues/%2F/rq")
    missing = api.post("/api/bindings/%2F/e/nope/q/rq", json={})
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found", "reason": "no exchange 'nope' in vhost '/'"})
    assert api.post("/api/bindings/%2F/e/amq.direct/q/nope", json={}).json() == {
        "error": "not_found", "reason": "no queue 'nope' in vhost '/'"}
    assert api.post("/api/bindings/%2F/e/amq.default/q/rq", json={}).json() == {
        "error": "not_authorised", "reason": "Access refused."}
    assert api.get("/api/bindings/%2F/e/amq.direct/x/rq").status_code == 404
    assert api.post("/api/bindings/%2F/e/amq.headers/q/rq", json={"arguments": {"x-match": "bad"}}).status_code == 400


def test_durable_objects_made_over_http_survive_a_restart(broker_factory, tmp_path):
    data_dir = str(tmp_path / "data")
    first = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=first.api, auth=("guest", "guest")) as api:
        api.put("/api/queues/%2F/kept", json={"durable": True, "arguments": {"x-max-length": 3}})
        api.put("/api/queues/%2F/transient", json={})
        api.put("/api/exchanges/%2F/kx", json={"type": "topic", "durable": True})
        api.post("/api/bindings/%2F/e/kx/q/kept", json={"routing_key": "a.*"})
        api.post("/api/exchanges/%2F/kx/publish", json={
            "routing_key": "a.b", "properties": {"delivery_mode": 2}, "payload": "kept", "payload_encoding": "string"})
    first.stop()
    second = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=second.api, auth=("guest", "guest")) as api:
        assert [(q["name"], q["arguments"], q["messages"]) for q in api.get("/api/queues").json()] == [
            ("kept", {"x-max-length": 3}, 1)]
        assert api.get("/api/exchanges/%2F/kx").json()["type"] == "topic"
        assert [b["routing_key"] for b in api.get("/api/exchanges/%2F/kx/bindings/source").json()] == ["a.*"]
    conn = amqp(second)
    assert conn.channel().basic_get("kept", auto_ack=True)[2] == b"kept"
    conn.close()
