"""amqpd's API extensions: peek at a queue's head, explain a route; effects checked over AMQP.

Peek must leave a queue exactly as it was (a following basic.get sees the same messages, not
redelivered, in the same order; paged-out messages stay on disk); route explain must name the
queues a real publish reaches, with the hop that took it there.
"""

from __future__ import annotations

import pika
import pytest

from tests.management.conftest import amqp


def _get_all(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str) -> list[tuple[bytes, bool, int]]:
    got = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return got
        got.append((body, method.redelivered, method.message_count))


def test_peek_shows_the_head_and_leaves_the_queue_as_it_was(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("pq")
    channel.basic_publish("", "pq", b"first", pika.BasicProperties(headers={"h": "v"}, content_type="text/plain"))
    channel.basic_publish("", "pq", b"\xff\xfe", pika.BasicProperties(priority=3))
    channel.basic_publish("", "pq", b"third")
    peeked = api.get("/api/queues/%2F/pq/peek", params={"count": "2"})
    assert peeked.status_code == 200
    assert peeked.json() == [
        {"payload": "first", "payload_bytes": 5, "payload_encoding": "string", "redelivered": False,
         "exchange": "", "routing_key": "pq", "message_count": 2,
         "properties": {"content_type": "text/plain", "headers": {"h": "v"}}},
        {"payload": "//4=", "payload_bytes": 2, "payload_encoding": "base64", "redelivered": False,
         "exchange": "", "routing_key": "pq", "message_count": 1, "properties": {"priority": 3}}]
    assert api.get("/api/queues/%2F/pq/peek").json() == api.get("/api/queues/%2F/pq/peek").json()
    assert len(api.get("/api/queues/%2F/pq/peek").json()) == 3  # default count 10
    # /get with ack_requeue_false takes exactly what peek showed
    assert api.post("/api/queues/%2F/pq/get", json={"count": 1, "ackmode": "ack_requeue_false",
                                                     "encoding": "auto"}).json() == peeked.json()[:1]
    assert _get_all(channel, "pq") == [(b"\xff\xfe", False, 1), (b"third", False, 0)]
    assert api.get("/api/queues/%2F/pq/peek").json() == []
    conn.close()


def test_peek_does_not_disturb_consumers_or_unacked_messages(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("cq")
    for body in (b"a", b"b", b"c"):
        channel.basic_publish("", "cq", body)
    channel.basic_qos(prefetch_count=1)
    delivered = []
    channel.basic_consume("cq", lambda ch, method, props, body: delivered.append((method.delivery_tag, body)))
    conn.process_data_events(time_limit=0.5)
    while not delivered:
        conn.process_data_events(time_limit=1)
    assert [m["payload"] for m in api.get("/api/queues/%2F/cq/peek").json()] == ["b", "c"]
    channel.basic_ack(delivered[0][0])
    while len(delivered) < 2:
        conn.process_data_events(time_limit=1)
    assert [body for _, body in delivered] == [b"a", b"b"]
    assert [m["payload"] for m in api.get("/api/queues/%2F/cq/peek").json()] == ["c"]
    conn.close()


def test_peek_reads_paged_out_messages_without_loading_them(api, broker_factory):
    broker = broker_factory(queue_window=2)
    conn = amqp(broker)
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare("dq", durable=True)
    for i in range(8):
        channel.basic_publish("", "dq", b"m%d" % i + b"." * 98, pika.BasicProperties(delivery_mode=2))
    with api.__class__(base_url=broker.api, auth=("guest", "guest"), timeout=10) as client:
        before = client.get("/api/queues/%2F/dq").json()
        memory = ("messages_ready", "messages_ram", "message_bytes_ram", "messages_paged_out")
        assert [before[key] for key in memory] == [8, 2, 200, 6]  # 2 in memory, 6 on disk
        peeked = client.get("/api/queues/%2F/dq/peek", params={"count": "6"}).json()
        assert [m["payload"][:2] for m in peeked] == ["m0", "m1", "m2", "m3", "m4", "m5"]
        assert [m["message_count"] for m in peeked] == [7, 6, 5, 4, 3, 2]
        after = client.get("/api/queues/%2F/dq").json()
        assert [after[key] for key in memory] == [8, 2, 200, 6]  # still on disk
    assert [(body[:2], redelivered) for body, redelivered, _ in _get_all(channel, "dq")] == [
        (b"m%d" % i, False) for i in range(8)]
    conn.close()


def test_peek_follows_priority_order(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("prio", arguments={"x-max-priority": 5})
    for body, priority in ((b"low", 1), (b"high", 5), (b"mid", 3), (b"none", None)):
        channel.basic_publish("", "prio", body, pika.BasicProperties(priority=priority))
    assert [m["payload"] for m in api.get("/api/queues/%2F/prio/peek").json()] == ["high", "mid", "low", "none"]
    assert [body for body, _, _ in _get_all(channel, "prio")] == [b"high", b"mid", b"low", b"none"]
    conn.close()


def test_peek_refuses_bad_counts_and_unknown_queues(api):
    api.put("/api/queues/%2F/q")
    for bad in ("x", "-1", "1001", "1.5"):
        reply = api.get("/api/queues/%2F/q/peek", params={"count": bad})
        assert (reply.status_code, reply.json()) == (
            400, {"error": "bad_request", "reason": "count must be an integer from 0 to 1000"})
    assert api.get("/api/queues/%2F/q/peek", params={"count": "0"}).json() == []
    assert api.get("/api/queues/%2F/nowhere/peek").json() == {"error": "Object Not Found", "reason": "Not Found"}
    assert api.get("/api/queues/%2F/q/peek", auth=("guest", "wrong")).status_code == 401


def _route(api, exchange: str, routing_key: str, headers: dict | None = None) -> dict:
    body = {"routing_key": routing_key, "properties": {"headers": headers} if headers else {}}
    reply = api.post(f"/api/exchanges/%2F/{exchange}/route", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _hop(source, destination, routing_key, via, destination_type="queue", arguments=None) -> dict:
    return {"source": source, "destination": destination, "destination_type": destination_type,
            "routing_key": routing_key, "arguments": arguments or {}, "via": via}


def test_route_explains_bindings_exchange_hops_and_alternates_as_publishes_route(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.exchange_declare("ae", "fanout")
    channel.exchange_declare("front", "topic", arguments={"alternate-exchange": "ae"})
    channel.exchange_declare("fan", "fanout")
    for queue in ("orders", "audit", "lost", "all"):
        channel.queue_declare(queue)
    channel.queue_bind("orders", "front", "order.*")
    channel.queue_bind("orders", "front", "order.#")
    channel.exchange_bind("fan", "front", "#.eu")
    channel.queue_bind("audit", "fan", "")
    channel.queue_bind("all", "fan", "")
    channel.queue_bind("lost", "ae", "")

    explained = _route(api, "front", "order.eu")
    assert explained["unroutable"] is False
    assert explained["queues"] == [{"vhost": "/", "name": n} for n in ("all", "audit", "orders")]
    assert sorted(explained["routes"], key=lambda r: (r["source"], r["destination"], r["routing_key"])) == [
        _hop("fan", "all", "", "binding"), _hop("fan", "audit", "", "binding"),
        _hop("front", "fan", "#.eu", "binding", "exchange"),
        _hop("front", "orders", "order.#", "binding"), _hop("front", "orders", "order.*", "binding")]

    assert _route(api, "front", "nothing") == {
        "queues": [{"vhost": "/", "name": "lost"}], "unroutable": False,
        "routes": [_hop("front", "ae", "nothing", "alternate-exchange", "exchange"), _hop("ae", "lost", "", "binding")]}

    # a real publish reaches the same queues
    channel.basic_publish("front", "order.eu", b"x")
    channel.basic_publish("front", "nothing", b"y")
    counts = {q: channel.queue_declare(q, passive=True).method.message_count for q in ("orders", "audit", "lost", "all")}
    assert counts == {"orders": 1, "audit": 1, "all": 1, "lost": 1}
    conn.close()


def test_route_explains_the_default_exchange_cc_and_headers(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    for queue in ("a", "b", "c"):
        channel.queue_declare(queue)
    channel.exchange_declare("hx", "headers")
    channel.queue_bind("c", "hx", "", arguments={"x-match": "any", "kind": "report", "zone": "eu"})
    assert _route(api, "amq.default", "a", {"CC": ["b", "missing"], "BCC": ["c"]}) == {
        "queues": [{"vhost": "/", "name": n} for n in ("a", "b", "c")], "unroutable": False,
        "routes": [_hop("", "a", "a", "default-exchange"), _hop("", "b", "b", "cc"), _hop("", "c", "c", "cc")]}
    assert _route(api, "hx", "", {"zone": "eu"}) == {
        "queues": [{"vhost": "/", "name": "c"}], "unroutable": False,
        "routes": [_hop("hx", "c", "", "binding", arguments={"x-match": "any", "kind": "report", "zone": "eu"})]}
    assert _route(api, "hx", "", {"zone": "us"}) == {"queues": [], "routes": [], "unroutable": True}
    assert _route(api, "amq.direct", "a") == {"queues": [], "routes": [], "unroutable": True}
    # nothing was enqueued by explaining
    assert [channel.queue_declare(q, passive=True).method.message_count for q in ("a", "b", "c")] == [0, 0, 0]
    conn.close()


def test_route_refuses_bad_requests(api):
    assert api.post("/api/exchanges/%2F/nowhere/route", json={"routing_key": "k"}).status_code == 404
    reply = api.post("/api/exchanges/%2F/amq.direct/route", json={})
    assert (reply.status_code, reply.json()) == (400, {"error": "bad_request", "reason": "[{key_missing,routing_key}]"})
    reply = api.post("/api/exchanges/%2F/amq.direct/route", json={"routing_key": "k", "properties": {"headers": {"CC": 1}}})
    assert reply.status_code == 400
    assert reply.json()["reason"].startswith("invalid message: {unacceptable_type_in_header,\"CC\"")
