"""/api/queues over HTTP, with the effects checked over AMQP (pika), and real clients.

Checked against RabbitMQ 3.10.8 (curl): PUT 201 then 204; an inequivalent redeclare is 400
with the AMQP text; a reserved `amq.` name is 401 "Access refused."; a missing queue is 404;
/get's missing keys are `[{key_missing,ackmode},{key_missing,count}]`, a bad encoding
"Unsupported encoding. Please use auto or base64.", a missing queue 404
`{"error":"not_found","reason":"NOT_FOUND - no queue 'q' in vhost '/'"}`; properties with
nothing set are `[]`; ack_requeue_true gives each get another message and requeues them after
(redelivered on the next get); a queue with no traffic has no message_stats.
"""

from __future__ import annotations

import pika
import pytest

from tests.management.conftest import amqp


def test_put_get_delete_queue_and_amqp_sees_it(api, broker):
    reply = api.put("/api/queues/%2F/q1", json={"durable": True, "arguments": {"x-max-length": 5}})
    assert (reply.status_code, reply.content) == (201, b"")
    assert api.put("/api/queues/%2F/q1", json={"durable": "true", "arguments": {"x-max-length": 5}}).status_code == 204
    conn = amqp(broker)
    channel = conn.channel()
    assert channel.queue_declare("q1", passive=True).method.message_count == 0
    channel.basic_publish("", "q1", b"hello")
    queue = api.get("/api/queues/%2F/q1").json()
    assert {k: queue[k] for k in ("name", "vhost", "type", "durable", "auto_delete", "exclusive", "arguments",
                                  "node", "state", "messages", "messages_ready", "messages_unacknowledged",
                                  "consumers", "policy", "consumer_details")} == {
        "name": "q1", "vhost": "/", "type": "classic", "durable": True, "auto_delete": False, "exclusive": False,
        "arguments": {"x-max-length": 5}, "node": broker.node.name, "state": "running", "messages": 1,
        "messages_ready": 1, "messages_unacknowledged": 0, "consumers": 0, "policy": None, "consumer_details": []}
    assert queue["message_stats"] == {"publish": 1, "publish_details": {"rate": 0.0}}  # as RabbitMQ 3.10.8
    assert api.delete("/api/queues/%2F/q1", params={"if-empty": "true"}).json() == {
        "error": "bad_request", "reason": "queue 'q1' in vhost '/' not empty"}
    assert api.delete("/api/queues/%2F/q1").status_code == 204
    assert api.get("/api/queues/%2F/q1").status_code == 404
    assert api.delete("/api/queues/%2F/q1").json() == {"error": "Object Not Found", "reason": "Not Found"}
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        channel.queue_declare("q1", passive=True)
    assert closed.value.reply_code == 404
    conn.close()


def test_put_queue_follows_the_amqp_rules(api):
    assert api.put("/api/queues/%2F/q2", json={"durable": True}).status_code == 201
    assert api.put("/api/queues/%2F/q2", json={}).json() == {
        "error": "bad_request",
        "reason": "inequivalent arg 'durable' for queue 'q2' in vhost '/': received 'false' but current is 'true'"}
    reply = api.put("/api/queues/%2F/amq.q", json={})
    assert (reply.status_code, reply.json()) == (401, {"error": "not_authorised", "reason": "Access refused."})
    assert api.put("/api/queues/nowhere/q", json={}).status_code == 404
    assert api.put("/api/queues/%2F/q3", json={"arguments": "x"}).status_code == 400


def test_list_paginates_filters_and_picks_columns(api):
    for name in ("b", "a", "abc"):
        api.put(f"/api/queues/%2F/{name}")
    api.put("/api/vhosts/other")
    api.put("/api/queues/other/z")
    assert [(q["vhost"], q["name"]) for q in api.get("/api/queues").json()] == [
        ("/", "a"), ("/", "abc"), ("/", "b"), ("other", "z")]
    assert [q["name"] for q in api.get("/api/queues/other").json()] == ["z"]
    page = api.get("/api/queues/%2F", params={"page": "1", "page_size": "1", "name": "^ab", "use_regex": "true"}).json()
    assert (page["total_count"], page["filtered_count"], [q["name"] for q in page["items"]]) == (3, 1, ["abc"])
    assert api.get("/api/queues/%2F", params={"columns": "name,messages"}).json()[0] == {"name": "a", "messages": 0}


def test_purge_and_get_with_each_ackmode(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("g")
    channel.basic_publish("", "g", b"one", pika.BasicProperties(headers={"h": 1}, delivery_mode=2))
    channel.basic_publish("", "g", b"\xff")
    get = {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"}
    first = api.post("/api/queues/%2F/g/get", json=get).json()
    assert first == [
        {"payload_bytes": 3, "redelivered": False, "exchange": "", "routing_key": "g", "message_count": 1,
         "properties": {"delivery_mode": 2, "headers": {"h": 1}}, "payload": "one", "payload_encoding": "string"},
        {"payload_bytes": 1, "redelivered": False, "exchange": "", "routing_key": "g", "message_count": 0,
         "properties": [], "payload": "/w==", "payload_encoding": "base64"}]
    again = api.post("/api/queues/%2F/g/get", json={**get, "count": "1", "encoding": "base64", "truncate": 2}).json()
    assert [(m["redelivered"], m["payload"], m["payload_bytes"]) for m in again] == [(True, "b24=", 3)]
    assert api.post("/api/queues/%2F/g/get", json={**get, "ackmode": "reject_requeue_false", "count": 1}).status_code == 200
    assert channel.queue_declare("g", passive=True).method.message_count == 1
    assert api.post("/api/queues/%2F/g/get", json={**get, "ackmode": "ack_requeue_false"}).json()[0]["payload"] == "/w=="
    assert api.post("/api/queues/%2F/g/get", json=get).json() == []
    channel.basic_publish("", "g", b"x")
    assert api.delete("/api/queues/%2F/g/contents").status_code == 204
    assert channel.queue_declare("g", passive=True).method.message_count == 0
    conn.close()


def test_get_refusals(api):
    api.put("/api/queues/%2F/r")
    assert api.post("/api/queues/%2F/r/get", json={"encoding": "auto"}).json() == {
        "error": "bad_request", "reason": "[{key_missing,ackmode},{key_missing,count}]"}
    assert api.post("/api/queues/%2F/r/get", json={"count": 1, "ackmode": "ack_requeue_true", "encoding": "x"}).json() == {
        "error": "bad_request", "reason": "Unsupported encoding. Please use auto or base64."}
    assert api.post("/api/queues/%2F/r/get", json={"count": 1, "ackmode": "no", "encoding": "auto"}).json() == {
        "error": "bad_request", "reason": "Invalid ackmode value: no"}
    assert api.post("/api/queues/%2F/r/get", json={"count": "x", "ackmode": "ack_requeue_true",
                                                   "encoding": "auto"}).json() == {
        "error": "bad_request", "reason": ["not_integer", "x"]}
    missing = api.post("/api/queues/%2F/none/get", json={"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert (missing.status_code, missing.json()) == (
        404, {"error": "not_found", "reason": "NOT_FOUND - no queue 'none' in vhost '/'"})
    assert api.post("/api/queues/%2F/r/actions", json={"action": "sync"}).status_code == 204


def test_queue_bindings_and_consumer_details(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("qb", exclusive=True)
    channel.queue_bind("qb", "amq.direct", "k")
    channel.basic_consume("qb", lambda *args: None, consumer_tag="ctag")
    assert [(b["source"], b["routing_key"], b["properties_key"]) for b in api.get("/api/queues/%2F/qb/bindings").json()] == [
        ("", "qb", "qb"), ("amq.direct", "k", "k")]
    queue = api.get("/api/queues/%2F/qb").json()
    local = conn._impl.params.port
    assert queue["exclusive"] is True and queue["consumers"] == 1
    assert queue["owner_pid_details"]["name"].endswith(f" -> 127.0.0.1:{local}")
    assert [(c["consumer_tag"], c["ack_required"], c["queue"]) for c in queue["consumer_details"]] == [
        ("ctag", True, {"name": "qb", "vhost": "/"})]
    conn.close()


def test_a_management_user_sees_only_its_vhosts(api, broker):
    api.put("/api/vhosts/mine")
    api.put("/api/queues/mine/m")
    api.put("/api/queues/%2F/theirs")
    api.put("/api/users/mu", json={"password": "pw", "tags": "management"})
    api.put("/api/permissions/mine/mu", json={"configure": ".*", "write": ".*", "read": ".*"})
    reply = api.get("/api/queues", auth=("mu", "pw"))
    assert [q["name"] for q in reply.json()] == ["m"]
    assert api.get("/api/queues/%2F", auth=("mu", "pw")).json() == {
        "error": "not_authorised", "reason": "User not authorised to access virtual host"}


def test_another_connections_exclusive_queue_is_locked_to_the_api(api, broker):
    """RabbitMQ 3.10.8 answers each of these 400 with the RESOURCE_LOCKED text (checked with pika)."""
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("ex", exclusive=True)
    channel.basic_publish("", "ex", b"m")
    locked = ("cannot obtain exclusive access to locked queue 'ex' in vhost '/'. It could be originally declared "
              "on another connection or the exclusive property value does not match that of the original declaration.")
    assert api.post("/api/queues/%2F/ex/get", json={"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}).json() == {
        "error": "bad_request", "reason": f"405 RESOURCE_LOCKED - {locked}"}
    for reply in (api.put("/api/queues/%2F/ex", json={}), api.delete("/api/queues/%2F/ex"),
                  api.delete("/api/queues/%2F/ex/contents"), api.post("/api/bindings/%2F/e/amq.direct/q/ex", json={})):
        assert reply.json() == {"error": "bad_request", "reason": locked}
    assert channel.queue_declare("ex", passive=True).method.message_count == 1
    conn.close()


def test_quorum_queue_fields_and_get_requeue_modes(api, broker):
    """As RabbitMQ 3.10.8: type quorum with its Raft group (leader, members, online: this node);
    /get shows x-delivery-count; ack_requeue_true returns to the front, reject_requeue_true
    requeues to the back."""
    conn = amqp(broker)
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
    channel.basic_publish("", "qq", b"a")
    channel.basic_publish("", "qq", b"b")
    queue = api.get("/api/queues/%2F/qq").json()
    node = broker.node.name
    assert {k: queue[k] for k in ("type", "leader", "members", "online", "messages")} == {
        "type": "quorum", "leader": node, "members": [node], "online": [node], "messages": 2}

    def get(mode):
        reply = api.post("/api/queues/%2F/qq/get", json={"count": 1, "ackmode": mode, "encoding": "auto"}).json()
        return [(m["payload"], m["redelivered"], m["properties"]) for m in reply]

    assert get("ack_requeue_true") == [("a", False, {"headers": {"x-delivery-count": 0}})]
    assert get("ack_requeue_true") == [("a", True, {"headers": {"x-delivery-count": 1}})]
    assert get("reject_requeue_true") == [("a", True, {"headers": {"x-delivery-count": 2}})]
    assert get("reject_requeue_true") == [("b", False, {"headers": {"x-delivery-count": 0}})]
    assert get("ack_requeue_false") == [("a", True, {"headers": {"x-delivery-count": 3}})]
    conn.close()
