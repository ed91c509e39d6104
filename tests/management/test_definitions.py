"""/api/definitions: export in RabbitMQ 3.10.8's shape, import merged through the API's own rules."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.management.conftest import amqp
from tests.management.test_fuzz import JSON, KEYS, NAMES, assert_answered
from tests.support.server import BrokerThread

FIXTURE = Path(__file__).parent / "data" / "rabbitmq-3.10.8-definitions.json"
OBJECTS = ("users", "vhosts", "permissions", "topic_permissions", "parameters", "policies", "queues", "exchanges",
           "bindings")

DOCUMENT = {
    "users": [{"name": "carol", "password": "pw", "tags": "management"}],
    "vhosts": [{"name": "dv"}],
    "permissions": [{"user": "carol", "vhost": "dv", "configure": ".*", "write": ".*", "read": ".*"}],
    "queues": [{"name": "dq", "vhost": "dv", "durable": True, "auto_delete": False, "arguments": {}}],
    "exchanges": [{"name": "dx", "vhost": "dv", "type": "topic", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": {}}],
    "bindings": [{"source": "dx", "vhost": "dv", "destination": "dq", "destination_type": "queue",
                  "routing_key": "a.#", "arguments": {}}],
}


def test_import_then_routes_over_amqp_and_exports_back(broker: BrokerThread, api: httpx.Client) -> None:
    assert api.post("/api/definitions", json=DOCUMENT).status_code == 204
    with amqp(broker, "carol", "pw", "dv") as conn:
        channel = conn.channel()
        channel.basic_publish("dx", "a.b", b"hello")
        method, _, body = next(channel.consume("dq", inactivity_timeout=5))
        assert body == b"hello"
        channel.basic_ack(method.delivery_tag)
    exported = api.get("/api/definitions").json()
    assert list(exported)[:4] == ["rabbit_version", "rabbitmq_version", "product_name", "product_version"]
    assert {"name": "dq", "vhost": "dv", "durable": True, "auto_delete": False, "arguments": {}} in exported["queues"]
    assert DOCUMENT["exchanges"][0] in exported["exchanges"]
    assert DOCUMENT["bindings"][0] in exported["bindings"]
    assert all(not x["name"].startswith("amq.") and x["name"] for x in exported["exchanges"])
    cluster_name = api.get("/api/cluster-name").json()["name"]
    assert exported["global_parameters"][0] == {"name": "cluster_name", "value": cluster_name}


def test_import_merges_and_skips_existing_queues(api: httpx.Client) -> None:
    assert api.put("/api/queues/%2F/keep", json={"durable": True, "arguments": {"x-max-length": 3}}).status_code == 201
    document = {"queues": [{"name": "keep", "vhost": "/", "durable": False, "auto_delete": True, "arguments": {}},
                           {"name": "amq.reserved", "vhost": "/", "durable": True, "auto_delete": False,
                            "arguments": {}}]}
    assert api.post("/api/definitions", json=document).status_code == 204
    queue = api.get("/api/queues/%2F/keep").json()
    assert (queue["durable"], queue["arguments"]) == (True, {"x-max-length": 3})
    assert api.get("/api/queues/%2F/amq.reserved").status_code == 404
    assert api.get("/api/users/guest").status_code == 200  # not in the file, not deleted


def test_rabbitmq_export_imports_and_exports_back(broker: BrokerThread, api: httpx.Client) -> None:
    original = json.loads(FIXTURE.read_text())
    assert api.post("/api/definitions", content=FIXTURE.read_bytes(),
                    headers={"content-type": "application/json"}).status_code == 204
    exported = api.get("/api/definitions").json()
    for key in OBJECTS:
        for item in original[key]:
            assert item in exported[key], (key, item)
    with amqp(broker, "defs_alice", "s3cret", "defs_v"):  # the hash imported as-is logs in
        pass
    assert api.get("/api/queues/defs_v/defs.ttl.q2").json()["policy"] == "defs_ttl"


def test_hash_without_algorithm_is_md5_in_a_pre_3_6_file(broker: BrokerThread, api: httpx.Client) -> None:
    """RabbitMQ before 3.6 hashed with MD5 and wrote no hashing_algorithm; later files mean sha256."""
    salt = b"\x01\x02\x03\x04"
    md5 = base64.b64encode(salt + hashlib.md5(salt + b"old").digest()).decode()
    users = [{"name": "olduser", "password_hash": md5, "tags": "administrator"}]
    permissions = [{"user": "olduser", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
    document = {"rabbit_version": "3.5.7", "users": users, "permissions": permissions}
    assert api.post("/api/definitions", json=document).status_code == 204
    assert api.get("/api/users/olduser").json()["hashing_algorithm"] == "rabbit_password_hashing_md5"
    with amqp(broker, "olduser", "old"):
        pass


def test_per_vhost_form(api: httpx.Client) -> None:
    assert api.post("/api/definitions", json=DOCUMENT).status_code == 204
    exported = api.get("/api/definitions/dv").json()
    assert list(exported) == ["rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"]
    assert exported["queues"] == [{"name": "dq", "durable": True, "auto_delete": False, "arguments": {}}]
    assert exported["bindings"] == [{"source": "dx", "destination": "dq", "destination_type": "queue",
                                     "routing_key": "a.#", "arguments": {}}]
    assert api.put("/api/vhosts/other").status_code == 201
    assert api.post("/api/definitions/other", json=exported).status_code == 204
    assert api.get("/api/bindings/other/e/dx/q/dq").json()[0]["routing_key"] == "a.#"
    missing = api.get("/api/definitions/nope")
    assert (missing.status_code, missing.json()) == (400, {"error": "bad_request", "reason": "vhost_not_found"})
    missing = api.post("/api/definitions/nope", json={})
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found", "reason": "vhost_not_found"})


@pytest.mark.parametrize(("body", "reason"), [
    (b"{bad", "failed_to_parse_json"),
    (b"[]", "failed_to_parse_json"),
    (b'{"users":[{"name":"x"}]}', "tags_not_present"),
    (b'{"queues":[{"name":"x","vhost":"nope"}]}', ["no_such_vhost", "nope"]),
    (b'{"queues":[{"name":"x"}]}', ["no_such_vhost", "undefined"]),
])
def test_bad_bodies_are_rabbitmq_400s(api: httpx.Client, body: bytes, reason: object) -> None:
    response = api.post("/api/definitions", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": "bad_request", "reason": reason})


def test_bindings_with_a_missing_end_are_skipped(api: httpx.Client) -> None:
    """RabbitMQ 3.10.8 answers 204 and binds nothing."""
    document = {"bindings": [{"source": "amq.direct", "vhost": "/", "destination": "nope", "destination_type": "queue",
                              "routing_key": "k", "arguments": {}}]}
    assert api.post("/api/definitions", json=document).status_code == 204
    assert api.get("/api/exchanges/%2F/amq.direct/bindings/source").json() == []


@pytest.mark.parametrize("body", [
    b'{"users":5}', b'{"users":[5]}', b'{"vhosts":[{"name":3}]}', b'{"queues":[{"name":null,"vhost":"/"}]}',
    b'{"bindings":[{"vhost":"/","destination_type":"cat"}]}', b'{"policies":[{"vhost":"/","name":"p"}]}',
    b'{"parameters":[{"vhost":"/","component":"vhost-limits","value":5}]}',
    b'{"exchanges":[{"vhost":"/","name":"e","type":"bogus"}]}',
    b'{"users":[{"name":"u","tags":[],"limits":{"bogus":1}}]}', b'{"vhosts":[{"name":"v","limits":[1]}]}',
    b'{"exchanges":[{"vhost":"/","name":["x"]}]}', b'{"queues":[{"vhost":"/","name":{}}]}',
    b'{"bindings":[{"vhost":"/","source":["x"],"destination":"q","destination_type":"queue"}]}',
])
def test_bad_items_are_never_500(api: httpx.Client, body: bytes) -> None:
    response = api.post("/api/definitions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


def test_rabbitmqadmin_export_and_import(broker: BrokerThread, api: httpx.Client, tmp_path: Path) -> None:
    """rabbitmqadmin's export/import (its messages and exit codes are RabbitMQ 3.10.8's)."""
    from tests.management.test_rabbitmqadmin import IN_CI, RABBITMQADMIN, admin
    if RABBITMQADMIN is None and not IN_CI:  # in CI the bootstrap provides it, so it must run
        pytest.skip("rabbitmqadmin is not installed (scripts/bootstrap.sh takes it from Debian's rabbitmq-server)")
    assert api.post("/api/definitions", json=DOCUMENT).status_code == 204
    path = tmp_path / "defs.json"
    exported = admin(broker, "export", str(path))
    assert (exported.returncode, exported.stdout) == (0, f'Exported definitions for 127.0.0.1 to "{path}"\n')
    assert api.delete("/api/vhosts/dv").status_code == 204
    imported = admin(broker, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith('Uploaded definitions from "127.0.0.1" to')
    assert api.get("/api/bindings/dv/e/dx/q/dq").json()[0]["routing_key"] == "a.#"
    path.write_text("{bad")
    refused = admin(broker, "import", str(path))
    assert (refused.returncode, refused.stderr.strip()) == (1, "*** failed_to_parse_json")


def test_multipart_file_upload(api: httpx.Client) -> None:
    """The web UI's form upload (`file` field), as curl -F sends it; RabbitMQ 3.10.8 answers the same."""
    upload = api.post("/api/definitions", files={"file": ("defs.json", json.dumps(DOCUMENT).encode())})
    assert upload.status_code == 204
    assert api.get("/api/queues/dv/dq").status_code == 200
    for files in ({"file": ("bad.json", b"{bad")}, {"other": ("defs.json", json.dumps(DOCUMENT).encode())}):
        refused = api.post("/api/definitions", files=files)
        assert (refused.status_code, refused.json()) == (400, {"error": "bad_request", "reason": "failed_to_parse_json"})


ITEM_KEYS = [*KEYS, "vhost", "user", "source", "destination", "destination_type", "component", "pattern",
             "definition", "priority", "apply-to", "limits", "metadata"]
ITEMS = st.lists(st.dictionaries(st.sampled_from(ITEM_KEYS), st.one_of(NAMES, JSON), max_size=7), max_size=3)
DOCUMENTS = st.dictionaries(st.sampled_from(OBJECTS + ("global_parameters",)), st.one_of(ITEMS, JSON), max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=DOCUMENTS, per_vhost=st.booleans())
def test_any_document_gets_an_answer(api: httpx.Client, document: dict, per_vhost: bool) -> None:
    """Arbitrary definitions: 204 or one of RabbitMQ's 4xx replies, never a 500."""
    path = "/api/definitions/%2F" if per_vhost else "/api/definitions"
    reply = api.post(path, content=json.dumps(document).encode(), headers={"content-type": "application/json"})
    assert_answered(reply.status_code, (path, document, reply.text[:200]))
    assert api.get("/api/definitions").status_code == 200


def test_exclusive_queues_and_their_bindings_are_not_exported(broker: BrokerThread, api: httpx.Client) -> None:
    with amqp(broker) as conn:
        channel = conn.channel()
        channel.queue_declare("mine", exclusive=True)
        channel.queue_bind("mine", "amq.topic", "k")
        exported = api.get("/api/definitions").json()
        assert api.get("/api/queues/%2F/mine").status_code == 200
    assert [q["name"] for q in exported["queues"]] == []
    assert exported["bindings"] == []
