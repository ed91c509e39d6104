"""The control socket: the whole management API without a password, for the data directory's
owner only, plus the control routes no TCP listener serves; stop through it ends the process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from tests.support.process import STARTUP, Amqpd, clean_env
from tests.support.server import BrokerThread


def over_socket(broker: BrokerThread) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=broker.settings.control_socket())
    return httpx.Client(transport=transport, base_url="http://amqpd", timeout=10)


@pytest.fixture
def broker():
    broker = BrokerThread(node_name="bunny@testhost").start()
    yield broker
    broker.stop()


def test_the_socket_is_in_the_data_directory_and_only_its_owner_may_open_it(broker):
    mode = os.stat(broker.settings.control_socket()).st_mode
    assert Path(broker.settings.control_socket()).parent == Path(broker.settings.data_dir)
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_the_socket_serves_the_api_as_the_operator_without_a_password(broker):
    with over_socket(broker) as client:
        whoami = client.get("/api/whoami")
        created = client.put("/api/vhosts/ops")
        vhosts = client.get("/api/vhosts").json()
    assert whoami.json() == {"name": "rmq-cli", "tags": ["administrator"]}
    assert created.status_code == 201
    assert "ops" in [vhost["name"] for vhost in vhosts]


def test_status_names_the_node_and_its_listeners(broker):
    with over_socket(broker) as client:
        status = client.get("/control/status").json()
    assert status["node_name"] == "bunny@testhost"
    assert status["pid"] == os.getpid()
    assert {"node": "bunny@testhost", "protocol": "amqp", "interface": "127.0.0.1", "port": broker.port,
            "purpose": "AMQP 0-9-1 and AMQP 1.0"} in status["listeners"]


def test_the_node_name_is_the_apis_too(broker):
    overview = httpx.get(f"{broker.api}/api/overview", auth=("guest", "guest")).json()
    assert overview["node"] == "bunny@testhost"


def test_control_routes_are_not_served_over_tcp(broker):
    reply = httpx.get(f"{broker.api}/control/status", auth=("guest", "guest"))
    assert reply.status_code == 404
    assert reply.json() == {"error": "Object Not Found", "reason": "Not Found"}


def test_a_stale_socket_file_is_replaced(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "amqpd.sock").write_bytes(b"left by a killed broker")
    broker = BrokerThread(data_dir=str(data_dir)).start()
    try:
        with over_socket(broker) as client:
            assert client.get("/control/status").json()["data_directory"] == str(data_dir)
    finally:
        broker.stop()
    assert not (data_dir / "amqpd.sock").exists()  # removed at shutdown


def test_stop_through_the_socket_shuts_the_process_down(tmp_path):
    process = Amqpd("--port", "0", data_dir=tmp_path / "data", env=clean_env())
    process.wait_for(STARTUP)
    transport = httpx.HTTPTransport(uds=str(tmp_path / "data" / "amqpd.sock"))
    with httpx.Client(transport=transport, base_url="http://amqpd") as client:
        assert client.post("/control/stop").status_code == 204
    code, stderr = process.finish()
    assert code == 0
    assert "requested_by=amqpctl" in stderr
    assert "amqpd stopped" in stderr
    assert not (tmp_path / "data" / "amqpd.sock").exists()


def test_a_data_directory_too_long_for_a_socket_leaves_the_broker_running(tmp_path):
    data_dir = tmp_path / ("d" * 120)
    process = Amqpd("--port", "0", data_dir=data_dir, env=clean_env())
    try:
        process.wait_for(STARTUP)
        assert any("too long for the control socket" in line for line in process.lines)
    finally:
        process.kill()


def test_status_and_the_api_name_the_config_file(tmp_path):
    config = tmp_path / "amqpd.toml"
    config.write_text('heartbeat = 30\n')
    process = Amqpd("--port", "0", "--config", str(config), data_dir=tmp_path / "data", env=clean_env())
    try:
        process.wait_for(STARTUP)
        transport = httpx.HTTPTransport(uds=str(tmp_path / "data" / "amqpd.sock"))
        with httpx.Client(transport=transport, base_url="http://amqpd") as client:
            status = client.get("/control/status").json()
            nodes = client.get("/api/nodes").json()
    finally:
        process.kill()
    assert status["config_files"] == [str(config)]
    assert nodes[0]["config_files"] == [str(config)]
