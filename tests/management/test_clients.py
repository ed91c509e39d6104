"""Real clients of the management API against amqpd: pyrabbit2 (aioamqp's test set-up uses it)
and amqpstorm's ManagementApi (its functional suite's assertions, for the routes served so far)."""

from __future__ import annotations

import pyrabbit2.api
import pytest
from amqpstorm.management import ApiError, ManagementApi
from pyrabbit2.api import Client

from tests.management.conftest import amqp


@pytest.fixture
def pyrabbit(broker) -> Client:
    return Client(f"127.0.0.1:{broker.management_port}", "guest", "guest")


@pytest.fixture
def amqpstorm_api(broker):
    with ManagementApi(broker.api, "guest", "guest") as api:
        yield api


def test_pyrabbit2_per_test_vhost_set_up(pyrabbit, broker):
    """What aioamqp's testcase does around each test: a fresh vhost, guest granted on it."""
    assert pyrabbit.is_alive() is True
    assert pyrabbit.get_whoami() == {"name": "guest", "tags": ["administrator"]}
    assert pyrabbit.get_overview()["rabbitmq_version"] == "3.10.8"
    assert [node["name"] for node in pyrabbit.get_nodes()] == [broker.node.name]
    pyrabbit.create_vhost("test-aioamqp")
    pyrabbit.set_vhost_permissions("test-aioamqp", "guest", ".*", ".*", ".*")
    assert "test-aioamqp" in pyrabbit.get_vhost_names()
    assert pyrabbit.get_permission("test-aioamqp", "guest")["configure"] == ".*"
    assert pyrabbit.is_alive("test-aioamqp") is True
    amqp(broker, vhost="test-aioamqp").close()
    pyrabbit.delete_vhost("test-aioamqp")
    assert "test-aioamqp" not in pyrabbit.get_vhost_names()


def test_pyrabbit2_users(pyrabbit, broker):
    pyrabbit.create_user("py", "py-pw", tags="management")
    assert [u["name"] for u in pyrabbit.get_users()] == ["guest", "py"]
    pyrabbit.set_vhost_permissions("/", "py", ".*", ".*", ".*")
    assert pyrabbit.get_user_permissions("py") == [
        {"user": "py", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
    assert Client(f"127.0.0.1:{broker.management_port}", "py", "py-pw").get_whoami()["tags"] == ["management"]
    with pytest.raises(pyrabbit2.api.PermissionError):  # its reading of a 401
        Client(f"127.0.0.1:{broker.management_port}", "py", "py-pw").get_users()
    pyrabbit.delete_permission("/", "py")
    pyrabbit.delete_user("py")
    assert [u["name"] for u in pyrabbit.get_users()] == ["guest"]


def test_amqpstorm_management_api(amqpstorm_api, broker):
    api = amqpstorm_api
    overview = api.overview()
    assert overview["node"] == broker.node.name and overview["management_version"] == "3.10.8"
    assert overview["contexts"][0]["node"] == broker.node.name
    assert api.cluster_name() == {"name": broker.node.name}
    assert api.whoami()["name"] == "guest"
    assert api.node(broker.node.name)["name"] == broker.node.name
    assert api.nodes()[0]["running"] is True
    assert api.aliveness_test("/") == {"status": "ok"}
    assert api.healthchecks.get() == {"status": "ok"}
    assert api.healthchecks.get(broker.node.name) == {"status": "ok"}

    api.virtual_host.create("storm")
    assert api.virtual_host.get("storm")["name"] == "storm"
    assert "storm" in [v["name"] for v in api.virtual_host.list()]
    api.user.create("storm-user", "pw", tags="monitoring")
    assert api.user.get("storm-user")["tags"] == ["monitoring"]
    api.user.set_permission("storm-user", "storm", configure_regex=".*", write_regex="^w", read_regex=".*")
    assert api.user.get_permission("storm-user", "storm")["write"] == "^w"
    assert {p["user"] for p in api.virtual_host.get_permissions("storm")} == {"guest", "storm-user"}
    assert api.user.get_permissions("storm-user")[0]["vhost"] == "storm"
    amqp(broker, "storm-user", "pw", "storm").close()
    api.user.delete_permission("storm-user", "storm")
    api.user.create("storm-2", "pw")
    api.user.delete(["storm-user", "storm-2"])  # bulk-delete
    assert [u["name"] for u in api.user.list()] == ["guest"]
    api.virtual_host.delete("storm")
    with pytest.raises(ApiError) as missing:
        api.virtual_host.get("storm")
    assert missing.value.error_code == 404


def test_amqpstorm_sees_a_401(broker):
    with ManagementApi(broker.api, "guest", "wrong") as api:
        with pytest.raises(ApiError, match="401 Client Error: Unauthorized"):
            api.overview()
