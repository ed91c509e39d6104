"""/api/vhost-limits and /api/user-limits and their effect on AMQP.

Bodies and codes checked with curl on RabbitMQ 3.10.8: PUT {"value": N} → 204; a missing value
→ [{key_missing,value}]; a non-integer → "max-queues should be a number, actually was <<"x">>"
(wrapped in "Validation failed" for vhosts); an unknown limit → "Unrecognised terms ..."; an
unknown vhost on PUT → 404 not_found/vhost_not_found, an unknown user → 400 no_such_user; GET of
one without limits → []; DELETE → 204, set or not.
"""

from __future__ import annotations

import pika
import pytest

from tests.management.conftest import amqp


def test_vhost_limit_routes_and_effect(api, broker):
    assert api.get("/api/vhost-limits/%2F").json() == []
    assert api.put("/api/vhost-limits/%2F/max-queues", json={"value": 1}).status_code == 204
    assert api.put("/api/vhost-limits/%2F/max-connections", json={"value": 5}).status_code == 204
    value = {"max-connections": 5, "max-queues": 1}
    assert api.get("/api/vhost-limits/%2F").json() == [{"vhost": "/", "value": value}]
    assert api.get("/api/vhost-limits").json() == [{"vhost": "/", "value": value}]
    conn = amqp(broker)
    ch = conn.channel()
    ch.queue_declare("one")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare("two")
    assert (info.value.reply_code, info.value.reply_text) == (
        406, "PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost '/' (1) is reached")
    assert api.delete("/api/vhost-limits/%2F/max-queues").status_code == 204
    assert api.delete("/api/vhost-limits/%2F/max-queues").status_code == 204
    conn.channel().queue_declare("two")
    conn.close()
    assert api.get("/api/vhost-limits/%2F").json() == [{"vhost": "/", "value": {"max-connections": 5}}]
    assert api.get("/api/vhost-limits/nope").status_code == 404


def test_vhost_limit_errors(api):
    def error(name: str, body: dict, vhost: str = "%2F") -> tuple[int, object]:
        reply = api.put(f"/api/vhost-limits/{vhost}/{name}", json=body)
        return reply.status_code, reply.json()

    assert error("max-queues", {}) == (400, {"error": "bad_request", "reason": "[{key_missing,value}]"})
    assert error("max-queues", {"value": "7"}) == (400, {
        "error": "bad_request", "reason": "Validation failed\n\nmax-queues should be a number, actually was <<\"7\">>\n"})
    assert error("max-queues", {"value": True})[1]["reason"].endswith("actually was true\n")
    assert error("max-bogus", {"value": 5}) == (400, {
        "error": "bad_request", "reason": "Validation failed\n\nUnrecognised terms [{<<\"max-bogus\">>,5}] in limits\n"})
    assert error("max-queues", {"value": 5}, vhost="nov") == (404, {"error": "not_found", "reason": "vhost_not_found"})


def test_user_limit_routes_and_effect(api, broker):
    api.put("/api/users/app", json={"password": "app-pw", "tags": ""})
    api.put("/api/permissions/%2F/app", json={"configure": ".*", "write": ".*", "read": ".*"})
    assert api.get("/api/user-limits/app").json() == []
    assert api.put("/api/user-limits/app/max-channels", json={"value": 1}).status_code == 204
    assert api.get("/api/user-limits").json() == [{"user": "app", "value": {"max-channels": 1}}]
    conn = amqp(broker, "app", "app-pw")
    conn.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        conn.channel()
    assert (info.value.reply_code, info.value.reply_text) == (
        530, "NOT_ALLOWED - number of channels opened for user 'app' has reached the maximum allowed user limit of (1)")
    assert api.put("/api/user-limits/nobody/max-channels", json={"value": 1}).json() == {
        "error": "bad_request", "reason": ["no_such_user", "nobody"]}
    assert api.put("/api/user-limits/app/max-channels", json={"value": 2.5}).json() == {
        "error": "bad_request", "reason": "max-channels should be a number, actually was 2.5"}
    assert api.put("/api/user-limits/app/max-bogus", json={"value": 5}).json() == {
        "error": "bad_request", "reason": "Unrecognised terms [{<<\"max-bogus\">>,5}] in user-limits"}
    assert api.delete("/api/user-limits/app/max-channels").status_code == 204
    assert api.get("/api/user-limits/app").json() == []
    assert api.get("/api/user-limits/nobody").status_code == 404
