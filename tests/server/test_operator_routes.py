"""The control routes behind rabbitmqctl's eval / set_vm_memory_high_watermark / trace_on /
authenticate_user / status, checked over AMQP with pika; and feature-flag enabling on the API."""

from __future__ import annotations

import os
import time

import httpx
import pika
import pytest
from pika.exceptions import ProbableAuthenticationError

from tests.server.test_control_socket import over_socket
from tests.support.process import STARTUP, Amqpd, clean_env
from tests.support.raw import RawClient
from tests.support.server import BrokerThread


@pytest.fixture
def broker():
    broker = BrokerThread(node_name="ops@testhost").start()
    yield broker
    broker.stop()


class Publisher:
    """A pika connection that records connection.blocked / unblocked."""

    def __init__(self, broker: BrokerThread) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(broker.url))
        self.events: list[str] = []
        self.conn.add_on_connection_blocked_callback(lambda c, frame: self.events.append(frame.method.reason))
        self.conn.add_on_connection_unblocked_callback(lambda c, frame: self.events.append("unblocked"))
        self.ch = self.conn.channel()

    def publish(self) -> None:
        self.ch.basic_publish("amq.fanout", "", b"x")

    def wait_events(self, count: int) -> list[str]:
        deadline = time.monotonic() + 5
        while len(self.events) < count and time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.05)
        return self.events


def alarms_of(control: httpx.Client) -> list[str]:
    return [alarm["resource"] for alarm in control.get("/control/status").json()["alarms"]]


@pytest.mark.parametrize("resource, reason", [("memory", "low on memory"), ("disk", "low on disk")])
def test_an_alarm_set_by_hand_blocks_publishers_until_cleared(broker, resource, reason):
    publisher = Publisher(broker)
    with over_socket(broker) as control:
        assert control.put(f"/control/alarms/{resource}", json={"on": True}).status_code == 204
        publisher.publish()
        assert publisher.wait_events(1) == [reason]
        broker.call(broker.server.alarm.check)  # the periodic memory check does not clear it
        assert alarms_of(control) == [resource]
        health = httpx.get(f"{broker.api}/api/health/checks/alarms", auth=("guest", "guest"))
        assert health.status_code == 503
        assert control.put(f"/control/alarms/{resource}", json={"on": False}).status_code == 204
        assert publisher.wait_events(2) == [reason, "unblocked"]
        assert alarms_of(control) == []
        assert control.put("/control/alarms/cpu", json={"on": True}).status_code == 404
    publisher.conn.close()


def test_the_memory_watermark_as_a_fraction_of_ram_blocks_and_unblocks(broker):
    publisher = Publisher(broker)
    with over_socket(broker) as control:
        assert control.put("/control/memory-high-watermark", json={"fraction": 0.000000001}).status_code == 204
        publisher.publish()
        assert publisher.wait_events(1) == ["low on memory"]
        status = control.get("/control/status").json()
        assert status["vm_memory_high_watermark_setting"] == {"relative": 0.000000001}
        assert control.put("/control/memory-high-watermark", json={"fraction": 0.4}).status_code == 204
        assert publisher.wait_events(2) == ["low on memory", "unblocked"]
        assert control.put("/control/memory-high-watermark", json={"absolute": 1}).status_code == 204
        assert alarms_of(control) == ["memory"]
        assert control.get("/control/status").json()["vm_memory_high_watermark_limit"] == 1
    publisher.conn.close()


def test_channel_max_applies_to_new_connections(broker):
    with over_socket(broker) as control:
        assert control.put("/control/env/channel_max", json={"value": 7}).status_code == 204
        assert control.put("/control/env/frame_max", json={"value": 1}).status_code == 404  # not an env key here
    raw = RawClient(broker.port)
    tune = raw.handshake()
    assert tune.channel_max == 7
    raw.close()


def test_loopback_users_empty_lets_guest_in_from_another_address(broker_factory):
    address = next((a for a in os.popen("hostname -I").read().split() if "." in a and not a.startswith("127.")),
                   None)
    if address is None and not os.environ.get("CI"):  # in CI it must run: a missing address fails below
        pytest.skip("no non-loopback IPv4 address on this machine")
    assert address is not None, "CI needs a non-loopback IPv4 address to test loopback_users"
    broker = broker_factory(host="0.0.0.0")
    url = f"amqp://guest:guest@{address}:{broker.port}/"
    with pytest.raises(ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(url))
    with over_socket(broker) as control:
        assert control.put("/control/env/loopback_users", json={"value": []}).status_code == 204
    pika.BlockingConnection(pika.URLParameters(url)).close()


def test_authenticate(broker):
    with over_socket(broker) as control:
        good = control.post("/control/authenticate", json={"user": "guest", "password": "guest"})
        bad = control.post("/control/authenticate", json={"user": "guest", "password": "nope"})
        nobody = control.post("/control/authenticate", json={"user": "nobody", "password": "x"})
    assert (good.status_code, good.json()) == (200, {"ok": True})
    assert (bad.status_code, bad.json()) == (401, {"error": "not_authorised",
                                                  "reason": "user 'guest' - invalid credentials"})
    assert nobody.json()["reason"] == "user 'nobody' - user does not exist"


def test_status_reports_what_rabbitmqctl_status_does(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    conn.channel().queue_declare("counted")
    with over_socket(broker) as control:
        status = control.get("/control/status").json()
    assert status["node_name"] == "ops@testhost"
    assert status["rabbitmq_version"] == "3.10.8"
    assert status["running"] is True
    assert status["totals"] == {"virtual_host_count": 1, "connection_count": 1, "queue_count": 1}
    assert status["enabled_plugins"] == ["rabbitmq_management", "rabbitmq_prometheus"]
    assert status["file_descriptors"]["total_used"] > 0
    assert status["disk_free"] > 0
    assert status["memory"]["total"]["rss"] > 0
    assert status["alarms"] == []
    conn.close()


def test_enable_feature_flag(broker):
    known = httpx.put(f"{broker.api}/api/feature-flags/quorum_queue/enable", auth=("guest", "guest"), json={})
    unknown = httpx.put(f"{broker.api}/api/feature-flags/nope/enable", auth=("guest", "guest"), json={})
    assert known.status_code == 204
    assert (unknown.status_code, unknown.json()) == (400, {"error": "bad_request", "reason": "unsupported"})


def test_the_pid_file_is_written_at_start_and_removed_at_stop(tmp_path):
    pid_file = tmp_path / "run" / "amqpd.pid"
    process = Amqpd("--port", "0", "--pid-file", str(pid_file), data_dir=tmp_path / "data", env=clean_env())
    process.wait_for(STARTUP)
    assert pid_file.read_text() == f"{process.proc.pid}\n"
    process.proc.terminate()
    code, _ = process.finish()
    assert code == 0
    assert not pid_file.exists()


def test_the_pid_file_defaults_to_the_data_directory(tmp_path):
    process = Amqpd("--port", "0", data_dir=tmp_path / "data", env=clean_env())
    try:
        process.wait_for(STARTUP)
        assert (tmp_path / "data" / "amqpd.pid").read_text() == f"{process.proc.pid}\n"
    finally:
        process.kill()
