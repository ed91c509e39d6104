"""/api/topic-permissions and what it does on the AMQP side.

Status codes and bodies checked with curl on RabbitMQ 3.10.8: PUT is 201 for the user's first entry
in the vhost and 204 after; missing keys are listed in one 400; an unknown vhost or user is 400
vhost_or_user_not_found; GET and DELETE of a (vhost, user) without entries are 404, DELETE of one
exchange's entry is 204 while the user has any entry in the vhost.
"""

from __future__ import annotations

import httpx
import pika
import pytest

from tests.management.conftest import amqp

ENTRY = {"exchange": "amq.topic", "write": "^{username}\\.", "read": ".*"}


@pytest.fixture
def app_user(api):
    api.put("/api/users/app", json={"password": "app-pw", "tags": ""})
    api.put("/api/permissions/%2F/app", json={"configure": ".*", "write": ".*", "read": ".*"})


def test_topic_permission_routes(api, app_user):
    assert api.get("/api/topic-permissions/%2F/app").status_code == 404
    assert api.put("/api/topic-permissions/%2F/app", json=ENTRY).status_code == 201
    assert api.put("/api/topic-permissions/%2F/app", json={**ENTRY, "exchange": "t2"}).status_code == 204
    assert api.put("/api/topic-permissions/%2F/app", json=ENTRY).status_code == 204
    both = [{"user": "app", "vhost": "/", **ENTRY}, {"user": "app", "vhost": "/", **ENTRY, "exchange": "t2"}]
    assert api.get("/api/topic-permissions/%2F/app").json() == both
    assert api.get("/api/topic-permissions").json() == both
    assert api.get("/api/vhosts/%2F/topic-permissions").json() == both
    assert api.get("/api/users/app/topic-permissions").json() == both
    assert api.get("/api/vhosts/nope/topic-permissions").status_code == 404
    assert api.get("/api/users/nope/topic-permissions").status_code == 404
    assert api.delete("/api/topic-permissions/%2F/app/t2").status_code == 204
    assert api.delete("/api/topic-permissions/%2F/app/never-set").status_code == 204
    assert api.get("/api/topic-permissions/%2F/app").json() == both[:1]
    assert api.delete("/api/topic-permissions/%2F/app").status_code == 204
    assert api.delete("/api/topic-permissions/%2F/app").status_code == 404
    assert api.delete("/api/topic-permissions/%2F/app/amq.topic").status_code == 404
    assert api.get("/api/topic-permissions").json() == []


def test_topic_permission_put_errors(api, app_user):
    def error(path: str, body: dict) -> tuple[int, dict]:
        reply = api.put(path, json=body)
        return reply.status_code, reply.json()

    assert error("/api/topic-permissions/%2F/app", {}) == (
        400, {"error": "bad_request", "reason": "[{key_missing,exchange},{key_missing,write},{key_missing,read}]"})
    assert error("/api/topic-permissions/%2F/app", {"exchange": "x", "write": "^a"}) == (
        400, {"error": "bad_request", "reason": "[{key_missing,read}]"})
    for path in ("/api/topic-permissions/%2F/nobody", "/api/topic-permissions/nov/app"):
        assert error(path, ENTRY) == (400, {"error": "bad_request", "reason": "vhost_or_user_not_found"})
    status, body = error("/api/topic-permissions/%2F/app", {**ENTRY, "write": "("})
    assert (status, body["reason"][:2]) == (400, ["invalid_regexp", "("])


def test_a_topic_permission_set_over_http_limits_publishing(api, broker, app_user):
    api.put("/api/topic-permissions/%2F/app", json=ENTRY)
    conn = amqp(broker, "app", "app-pw")
    ch = conn.channel()
    ch.basic_publish("amq.topic", "app.ok", b"m")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish("amq.topic", "other.key", b"m")
        ch.basic_qos(prefetch_count=1)
    assert (info.value.reply_code, info.value.reply_text) == (
        403, "ACCESS_REFUSED - access to topic 'other.key' in exchange 'amq.topic' in vhost '/' refused for user 'app'")
    conn.close()


def test_topic_permissions_survive_a_restart_and_go_with_their_user(broker_factory, tmp_path):
    data_dir = str(tmp_path / "data")
    first = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=first.api, auth=("guest", "guest")) as api:
        api.put("/api/users/app", json={"password": "app-pw", "tags": ""})
        api.put("/api/users/gone", json={"password": "x", "tags": ""})
        for user in ("app", "gone"):
            api.put(f"/api/topic-permissions/%2F/{user}", json=ENTRY)
        api.put("/api/topic-permissions/%2F/app", json={**ENTRY, "exchange": "dropped"})
        api.delete("/api/topic-permissions/%2F/app/dropped")
        api.delete("/api/users/gone")
    first.stop()
    second = broker_factory(data_dir=data_dir)
    with httpx.Client(base_url=second.api, auth=("guest", "guest")) as api:
        assert api.get("/api/topic-permissions").json() == [{"user": "app", "vhost": "/", **ENTRY}]
