"""Vhosts, users and permissions over the API, and what they do on the AMQP side.

Checked against RabbitMQ 3.10.8's API (curl): PUT answers 201 when it creates and 204 when it
replaces, DELETE 204, both with no body; a vhost created over HTTP grants its creator full
permissions; the 400 reasons (tags_not_present, both_password_and_password_hash_are_provided,
["not_base64", hash], "[{key_missing,write},{key_missing,read}]", vhost_or_user_not_found,
["no_such_user", name], ["not_boolean", value]) and the pagination errors are RabbitMQ's.
Deleting a user or a vhost closes its connections with 320 "CONNECTION_FORCED - user 'u' is
deleted" / "... vhost 'v' is deleted" (pika against RabbitMQ 3.10.8).
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pika
import pytest

from tests.management.conftest import amqp

FULL = {"configure": ".*", "write": ".*", "read": ".*"}


def test_vhost_put_get_delete(api):
    assert api.put("/api/vhosts/v1", json={"description": "d", "tags": "a,b", "tracing": "true"}).status_code == 201
    reply = api.put("/api/vhosts/v1", json={"description": "e", "tags": ["c"]})
    assert (reply.status_code, reply.content) == (204, b"")
    vhost = api.get("/api/vhosts/v1").json()
    assert {k: vhost[k] for k in ("name", "description", "tags", "metadata", "tracing", "messages")} == {
        "name": "v1", "description": "e", "tags": ["c"], "metadata": {"description": "e", "tags": ["c"]},
        "tracing": True, "messages": 0}
    assert api.get("/api/permissions/v1/guest").json() == {"user": "guest", "vhost": "v1", **FULL}
    assert api.put("/api/vhosts/v1", json={"tracing": "yes"}).json() == {
        "error": "bad_request", "reason": ["not_boolean", "yes"]}
    reply = api.delete("/api/vhosts/v1")
    assert (reply.status_code, reply.content) == (204, b"")
    assert api.delete("/api/vhosts/v1").status_code == 404
    assert api.get("/api/permissions/v1/guest").status_code == 404


def test_vhost_list_paginates_as_rabbitmq(api):
    for name in ("b", "a", "c"):
        api.put(f"/api/vhosts/{name}")
    assert [v["name"] for v in api.get("/api/vhosts").json()] == ["/", "a", "b", "c"]
    page = api.get("/api/vhosts", params={"page": "2", "page_size": "3"}).json()
    assert {k: v for k, v in page.items() if k != "items"} == {
        "filtered_count": 4, "item_count": 1, "page": 2, "page_count": 2, "page_size": 3, "total_count": 4}
    assert [v["name"] for v in page["items"]] == ["c"]
    named = api.get("/api/vhosts", params={"page": "1", "name": "B"}).json()
    assert [v["name"] for v in named["items"]] == ["b"] and named["filtered_count"] == 1
    regex = api.get("/api/vhosts", params={"page": "1", "name": "^[ab]$", "use_regex": "true"}).json()
    assert [v["name"] for v in regex["items"]] == ["a", "b"]
    assert [v["name"] for v in api.get("/api/vhosts", params={"sort": "name", "sort_reverse": "true"}).json()] == [
        "c", "b", "a", "/"]
    assert api.get("/api/vhosts", params={"columns": "name"}).json()[0] == {"name": "/"}
    assert api.get("/api/vhosts", params={"page": "0"}).json() == {
        "error": "invalid_pagination_parameters",
        "reason": "Invalid pagination parameters: page number 0, page size undefined"}
    assert api.get("/api/vhosts", params={"page": "1", "page_size": "600"}).json()["reason"] == (
        "Invalid pagination parameters: page number 1, page size 600")
    assert api.get("/api/vhosts", params={"page": "5"}).json() == {
        "error": "page_out_of_range", "reason": "Page out of range, page: 5 page size: 100, len: 4"}
    assert api.get("/api/vhosts", params={"page": "x"}).json() == {
        "error": "bad_request", "reason": "Pagination parameters are invalid"}


def test_user_put_rules(api):
    assert api.put("/api/users/u", json={"password": "pw"}).json() == {
        "error": "bad_request", "reason": "tags_not_present"}
    assert api.put("/api/users/u", json={"password": "p", "password_hash": "x", "tags": ""}).json() == {
        "error": "bad_request", "reason": "both_password_and_password_hash_are_provided"}
    assert api.put("/api/users/u", json={"password_hash": "!!notb64", "tags": ""}).json() == {
        "error": "bad_request", "reason": ["not_base64", "!!notb64"]}
    assert api.put("/api/users/u", content=b"{bad").json() == {"error": "bad_request", "reason": "not_json"}
    assert api.put("/api/users/u", content=b'{"tags": "", "password": NaN}').json()["reason"] == "not_json"
    assert api.put("/api/users/u", json="twice").json()["reason"].startswith("invalid payload")
    assert api.put("/api/users/u", json={"tags": "a,b"}).status_code == 201
    assert api.get("/api/users/u").json() == {
        "name": "u", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": ["a", "b"], "limits": {}}
    assert api.put("/api/users/u", json={"password": "pw", "tags": ["management"]}).status_code == 204
    user = api.get("/api/users/u").json()
    assert user["tags"] == ["management"] and len(base64.b64decode(user["password_hash"])) == 36
    assert [u["name"] for u in api.get("/api/users").json()] == ["guest", "u"]
    assert [u["name"] for u in api.get("/api/users/without-permissions").json()] == ["u"]


def test_a_user_made_over_http_logs_in_over_amqp_once_granted(api, broker):
    api.put("/api/users/app", json={"password": "app-pw", "tags": ""})
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        amqp(broker, "app", "app-pw")  # no permission yet: 530
    reply = api.put("/api/permissions/%2F/app", json=FULL)
    assert (reply.status_code, reply.content) == (201, b"")
    assert api.put("/api/permissions/%2F/app", json={**FULL, "read": "^r"}).status_code == 204
    conn = amqp(broker, "app", "app-pw")
    assert conn.is_open
    conn.close()
    assert api.get("/api/permissions/%2F/app").json() == {"user": "app", "vhost": "/", **FULL, "read": "^r"}
    assert api.get("/api/users/app/permissions").json() == [{"user": "app", "vhost": "/", **FULL, "read": "^r"}]
    assert {p["user"] for p in api.get("/api/vhosts/%2F/permissions").json()} == {"guest", "app"}
    assert api.delete("/api/permissions/%2F/app").status_code == 204
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        amqp(broker, "app", "app-pw")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        amqp(broker, "app", "wrong")


@pytest.mark.parametrize("algorithm,digest", [("rabbit_password_hashing_sha256", hashlib.sha256),
                                              ("rabbit_password_hashing_sha512", hashlib.sha512),
                                              ("rabbit_password_hashing_md5", hashlib.md5)])
def test_an_imported_hash_logs_in(api, broker, algorithm, digest):
    salt = b"\x01\x02\x03\x04"
    password_hash = base64.b64encode(salt + digest(salt + b"s3cret").digest()).decode()
    assert api.put("/api/users/imp", json={"password_hash": password_hash, "hashing_algorithm": algorithm,
                                           "tags": "management"}).status_code == 201
    api.put("/api/permissions/%2F/imp", json=FULL)
    amqp(broker, "imp", "s3cret").close()
    assert httpx.get(broker.api + "/api/whoami", auth=("imp", "s3cret")).json()["name"] == "imp"
    assert api.get("/api/users/imp").json()["password_hash"] == password_hash


def test_permission_put_rules(api):
    api.put("/api/users/u", json={"password": "pw", "tags": ""})
    assert api.put("/api/permissions/%2F/u", json={"configure": ".*"}).json() == {
        "error": "bad_request", "reason": "[{key_missing,write},{key_missing,read}]"}
    assert api.put("/api/permissions/nope/u", json=FULL).json() == {
        "error": "bad_request", "reason": "vhost_or_user_not_found"}
    assert api.put("/api/permissions/%2F/nouser", json=FULL).json()["reason"] == "vhost_or_user_not_found"
    assert api.put("/api/permissions/%2F/u", json={**FULL, "read": "("}).json()["reason"][0] == "invalid_regexp"
    assert api.delete("/api/permissions/%2F/u").json() == {"error": "Object Not Found", "reason": "Not Found"}


def test_bulk_delete_stops_at_an_unknown_user(api):
    for name in ("a", "b"):
        api.put(f"/api/users/{name}", json={"password": "x", "tags": ""})
    assert api.post("/api/users/bulk-delete", json={}).json() == {
        "error": "bad_request", "reason": "[{key_missing,users}]"}
    assert api.post("/api/users/bulk-delete", json={"users": ["a", "ghost", "b"]}).json() == {
        "error": "bad_request", "reason": ["no_such_user", "ghost"]}
    assert [u["name"] for u in api.get("/api/users").json()] == ["b", "guest"]
    assert api.post("/api/users/bulk-delete", json={"users": ["b"]}).status_code == 204
    assert [u["name"] for u in api.get("/api/users").json()] == ["guest"]


def closed_by_broker(conn: pika.BlockingConnection) -> tuple[int, str]:
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        while True:
            conn.process_data_events(time_limit=1)
    return closed.value.reply_code, closed.value.reply_text


def test_deleting_a_vhost_closes_its_connections_and_drops_its_contents(api, broker):
    api.put("/api/vhosts/doomed")
    conn = amqp(broker, vhost="doomed")
    channel = conn.channel()
    channel.queue_declare("kept", durable=True)
    channel.basic_publish("", "kept", b"m", pika.BasicProperties(delivery_mode=2))
    other = amqp(broker)  # another vhost's connection stays open
    assert api.delete("/api/vhosts/doomed").status_code == 204
    assert closed_by_broker(conn) == (320, "CONNECTION_FORCED - vhost 'doomed' is deleted")
    assert other.is_open
    other.close()
    api.put("/api/vhosts/doomed")  # made again: empty
    conn = amqp(broker, vhost="doomed")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
        conn.channel().queue_declare("kept", passive=True)
    assert gone.value.reply_code == 404
    conn.close()


def test_deleting_a_user_closes_its_connections(api, broker):
    api.put("/api/users/leaver", json={"password": "pw", "tags": ""})
    api.put("/api/permissions/%2F/leaver", json=FULL)
    conn = amqp(broker, "leaver", "pw")
    guest = amqp(broker)
    assert api.delete("/api/users/leaver").status_code == 204
    assert closed_by_broker(conn) == (320, "CONNECTION_FORCED - user 'leaver' is deleted")
    assert guest.is_open
    guest.close()
    assert api.get("/api/permissions/%2F/leaver").status_code == 404


def test_what_the_api_changed_survives_a_restart(broker_factory, tmp_path):
    data_dir = str(tmp_path / "data")
    first = broker_factory(data_dir=data_dir, vhosts=["configured"])
    with httpx.Client(base_url=first.api, auth=("guest", "guest")) as api:
        api.put("/api/vhosts/made", json={"description": "over http", "tags": "t"})
        api.put("/api/users/app", json={"password": "app-pw", "tags": "management"})
        api.put("/api/permissions/made/app", json={**FULL, "write": "^w"})
        api.put("/api/cluster-name", json={"name": "my-cluster"})
        api.put("/api/vhosts/gone")
        conn = amqp(first, vhost="gone")
        conn.channel().queue_declare("durable-in-gone", durable=True)
        conn.close()
        api.delete("/api/vhosts/gone")
        api.put("/api/users/gone", json={"password": "x", "tags": ""})
        api.delete("/api/users/gone")
        assert api.put("/api/users/guest", json={"password": "new-guest-pw", "tags": "administrator"}
                       ).status_code == 204
    first.stop()
    second = broker_factory(data_dir=data_dir, vhosts=["configured"])
    with httpx.Client(base_url=second.api, auth=("guest", "new-guest-pw")) as api:
        assert [v["name"] for v in api.get("/api/vhosts").json()] == ["/", "configured", "made"]
        assert api.get("/api/vhosts/made").json()["metadata"] == {"description": "over http", "tags": ["t"]}
        assert [u["name"] for u in api.get("/api/users").json()] == ["app", "guest"]
        assert api.get("/api/permissions/made/app").json()["write"] == "^w"
        assert api.get("/api/cluster-name").json() == {"name": "my-cluster"}
        assert api.get("/api/vhosts/gone").status_code == 404
    assert "gone" not in second.node.vhosts  # nor was it brought back by its durable queue
    amqp(second, "app", "app-pw", "made").close()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        amqp(second, "guest", "guest")


def test_overview_whoami_cluster_name_nodes_extensions(api, broker):
    conn = amqp(broker)
    conn.channel().queue_declare("q")
    overview = api.get("/api/overview").json()
    assert {k: overview[k] for k in ("management_version", "rabbitmq_version", "product_name", "product_version",
                                     "node", "cluster_name", "rates_mode")} == {
        "management_version": "3.10.8", "rabbitmq_version": "3.10.8", "product_name": "RabbitMQ",
        "product_version": "3.10.8", "node": broker.node.name, "cluster_name": broker.node.name,
        "rates_mode": "basic"}
    assert overview["object_totals"] == {"channels": 1, "connections": 1, "consumers": 0, "exchanges": 7,
                                         "queues": 1}
    assert overview["queue_totals"]["messages"] == 0
    assert overview["message_stats"]["deliver_details"] == {"rate": 0.0}
    assert [x["name"] for x in overview["exchange_types"]] == ["direct", "fanout", "headers", "topic"]
    assert {(x["protocol"], x["port"]) for x in overview["listeners"]} == {
        ("amqp", broker.port), ("http", broker.management_port), ("http/prometheus", broker.server.prometheus_port)}
    assert overview["contexts"][0]["port"] == str(broker.management_port)
    conn.close()
    assert api.get("/api/overview", params={"columns": "rabbitmq_version,object_totals.queues"}).json() == {
        "rabbitmq_version": "3.10.8", "object_totals": {"queues": 1}}
    assert api.get("/api/whoami").json() == {"name": "guest", "tags": ["administrator"]}
    assert api.put("/api/cluster-name", json={}).json() == {"error": "bad_request", "reason": "[{key_missing,name}]"}
    assert api.put("/api/cluster-name", json={"name": "c1"}).status_code == 204
    assert api.get("/api/cluster-name").json() == {"name": "c1"}
    nodes = api.get("/api/nodes").json()
    assert [n["name"] for n in nodes] == [broker.node.name]
    assert nodes[0]["running"] is True and nodes[0]["type"] == "disc" and nodes[0]["partitions"] == []
    assert api.get(f"/api/nodes/{broker.node.name}").json()["name"] == broker.node.name
    assert api.get("/api/nodes/rabbit@elsewhere").status_code == 404
    assert api.get("/api/extensions").json() == []


def test_aliveness_test_uses_its_queue(api, broker):
    assert api.get("/api/aliveness-test/%2F").json() == {"status": "ok"}
    assert api.get("/api/aliveness-test/%2F").json() == {"status": "ok"}
    conn = amqp(broker)
    declared = conn.channel().queue_declare("aliveness-test", passive=True)
    assert declared.method.message_count == 0  # the message was got back
    conn.close()
    assert api.get("/api/aliveness-test/nope").status_code == 404


def test_health_checks(api, broker):
    for path in ("/api/healthchecks/node", f"/api/healthchecks/node/{broker.node.name}",
                 "/api/health/checks/alarms", "/api/health/checks/local-alarms", "/api/health/checks/virtual-hosts"):
        assert api.get(path).json() == {"status": "ok"}, path
    assert api.get(f"/api/health/checks/port-listener/{broker.port}").json() == {"status": "ok", "port": broker.port}
    reply = api.get("/api/health/checks/port-listener/1")
    assert (reply.status_code, reply.json()) == (503, {"status": "failed", "reason": "No active listener",
                                                       "missing": 1, "ports": [broker.port, broker.management_port,
                                                                                 broker.server.prometheus_port]})
    assert api.get("/api/health/checks/port-listener/abc").json() == {"error": "bad_request", "reason": "Invalid port"}
    assert api.get("/api/health/checks/protocol-listener/amqp091").json() == {"status": "ok", "protocol": "amqp"}
    reply = api.get("/api/health/checks/protocol-listener/stomp")
    assert (reply.status_code, reply.json()["missing"], reply.json()["protocols"]) == (
        503, "stomp", ["amqp", "http", "http/prometheus"])
    broker.call(broker.server.alarm.set, "disk", True)
    reply = api.get("/api/health/checks/alarms")
    assert (reply.status_code, reply.json()) == (503, {
        "status": "failed", "reason": "There are alarms in effect in the cluster",
        "alarms": [{"node": broker.node.name, "resource": "disk"}]})
    assert api.get("/api/nodes").json()[0]["disk_free_alarm"] is True
    broker.call(broker.server.alarm.set, "disk", False)
    assert api.get("/api/health/checks/local-alarms").json() == {"status": "ok"}


def test_single_node_checks_and_feature_flags(api):
    """As RabbitMQ 3.10.8 answers on a node alone (checked with curl): the quorum and mirror
    checks pass with their reason, and the feature flags list its nine flags (admin only)."""
    for check in ("node-is-quorum-critical", "node-is-mirror-sync-critical"):
        assert api.get(f"/api/health/checks/{check}").json() == {"status": "ok", "reason": "single node cluster"}
    flags = api.get("/api/feature-flags").json()
    assert [flag["name"] for flag in flags] == [
        "classic_mirrored_queue_version", "drop_unroutable_metric", "empty_basic_get_metric",
        "implicit_default_bindings", "maintenance_mode_status", "quorum_queue", "stream_queue", "user_limits",
        "virtual_host_metadata"]
    assert flags[5] == {"name": "quorum_queue", "desc": "Support queues of type `quorum`",
                        "doc_url": "https://www.rabbitmq.com/quorum-queues.html", "state": "enabled",
                        "stability": "stable", "provided_by": "rabbit"}
