"""amqpctl's node and diagnostics verbs (status, stop_app / start_app, eval, the memory
watermark, tracing, authenticate_user, wait, ping, check_*), run as the console script against a
real broker; effects checked over AMQP with pika and with rabbitmqctl's texts and exit codes."""

from __future__ import annotations

import json
import re

import pika
import pytest
from pika.exceptions import AMQPConnectionError

from tests.ctl.conftest import amqpctl
from tests.support.process import STARTUP, Amqpd, clean_env
from tests.support.raw import RawClient
from tests.support.server import BrokerThread


@pytest.fixture
def broker():
    broker = BrokerThread(node_name="ctl@testhost").start()
    yield broker
    broker.stop()


def test_status_prints_rabbitmqctls_sections(ctl, broker):
    ran = ctl("status")
    assert ran.code == 0
    assert ran.lines[0] == "Status of node ctl@testhost ..."
    titles = [line for line in ran.lines if line.startswith("\x1b[1m")]
    assert titles == [f"\x1b[1m{title}\x1b[0m" for title in (
        "Runtime", "Plugins", "Data directory", "Config files", "Log file(s)", "Alarms", "Memory",
        "File Descriptors", "Free Disk Space", "Totals", "Listeners")]
    assert "Node name: ctl@testhost" in ran.lines
    assert "RabbitMQ version: 3.10.8" in ran.lines
    assert f"Interface: 127.0.0.1, port: {broker.port}, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1.0" in ran.lines
    assert "Virtual host count: 1" in ran.lines


def test_status_as_json(ctl, broker):
    ran = ctl("status", "--formatter", "json")
    assert ran.code == 0
    report = json.loads(ran.stdout)
    assert report["rabbitmq_version"] == "3.10.8"
    assert report["alarms"] == []
    assert report["totals"]["queue_count"] == 0


def test_stop_app_and_start_app(ctl, broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    conn.channel().queue_declare("kept", durable=True)
    stopped = ctl("stop_app")
    assert (stopped.code, stopped.stdout) == (0, "Stopping rabbit application on node ctl@testhost ...\n")
    with pytest.raises(AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(broker.url))
    running = ctl("check_running")
    assert running.code == 69
    assert running.stderr == ("Error:\nRabbitMQ on node ctl@testhost is not running or has not fully booted yet "
                              "(check with is_booting)\n")
    assert ctl("await_startup").stderr == "Error:\nrabbit_is_not_running\n"
    started = ctl("start_app")
    assert (started.code, started.stdout) == (0, "Starting node ctl@testhost ...\n")
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    conn.channel().queue_declare("kept", durable=True, passive=True)
    conn.close()
    assert ctl("check_running").stdout.splitlines()[-1] == "RabbitMQ on node ctl@testhost is fully booted and running"
    assert ctl("await_startup").code == 0


def test_eval_raises_and_clears_a_disk_alarm(ctl, broker):
    assert ctl("eval", "rabbit_alarm:set_alarm({{resource_limit, disk, node()}, []}).").stdout == "ok\n"
    alarmed = ctl("check_local_alarms")
    assert alarmed.code == 69
    assert alarmed.stdout == "Asking node ctl@testhost to report any local resource alarms ...\n"
    assert alarmed.stderr == "Error:\nFree disk space alarm on node ctl@testhost\n"
    assert ctl("eval", "rabbit_alarm:clear_alarm({resource_limit, disk, node()}).").code == 0
    clear = ctl("check_local_alarms")
    assert (clear.code, clear.lines[-1]) == (0, "Node ctl@testhost reported no local alarms")


def test_eval_blocks_publishers_with_a_memory_alarm(ctl, broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    events: list[str] = []
    conn.add_on_connection_blocked_callback(lambda c, frame: events.append(frame.method.reason))
    ctl("eval", "rabbit_alarm:set_alarm({{resource_limit, memory, node()}, []}).")
    conn.channel().basic_publish("amq.fanout", "", b"x")
    for _ in range(100):
        if events:
            break
        conn.process_data_events(time_limit=0.05)
    assert events == ["low on memory"]
    ctl("eval", "rabbit_alarm:clear_alarm({resource_limit, memory, node()}).")
    conn.close()


def test_eval_set_env_channel_max_and_anything_else_fails(ctl, broker):
    assert ctl("eval", "application:set_env(rabbit, channel_max, 9).").code == 0
    raw = RawClient(broker.port)
    assert raw.handshake().channel_max == 9
    raw.close()
    assert ctl("eval", "application:set_env(rabbit, loopback_users, []).").code == 0
    refused = ctl("eval", "os:cmd(\"rm -rf /\").")
    assert refused.code == 69
    assert refused.stderr.startswith("Error:\namqpctl eval runs only")


def test_set_vm_memory_high_watermark_blocks_and_unblocks(ctl, broker):
    low = ctl("set_vm_memory_high_watermark", "0.000000001")
    assert low.stdout == "Setting memory threshold on ctl@testhost to 0.000000001 ...\n"
    assert ctl("check_local_alarms").stderr == "Error:\nMemory alarm on node ctl@testhost\n"
    assert ctl("set_vm_memory_high_watermark", "0.4").code == 0
    assert ctl("check_local_alarms").code == 0
    absolute = ctl("set_vm_memory_high_watermark", "absolute", "2GB")
    assert absolute.stdout == "Setting memory threshold on ctl@testhost to 2GB bytes ...\n"
    assert json.loads(ctl("status", "--formatter", "json").stdout)["vm_memory_high_watermark_limit"] == 2 * 10 ** 9


def test_trace_on_and_off(ctl, broker):
    on = ctl("trace_on", "-p", "/")
    assert on.stdout == 'Starting tracing for vhost "/" ...\nTrace enabled for vhost /\n'
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.queue_declare("firehose")
    ch.queue_bind("firehose", "amq.rabbitmq.trace", "#")
    ch.basic_publish("amq.direct", "k", b"x")
    method, _, body = next(ch.consume("firehose", auto_ack=True, inactivity_timeout=5))
    assert (method.routing_key, body) == ("publish.amq.direct", b"x")
    ch.cancel()
    off = ctl("trace_off")
    assert off.stdout == 'Stopping tracing for vhost "/" ...\nTrace disabled for vhost /\n'
    assert ctl("trace_on", "-p", "nope").code == 65
    conn.close()


def test_authenticate_user(ctl, broker):
    good = ctl("authenticate_user", "guest", "guest")
    assert (good.code, good.stdout) == (0, 'Authenticating user "guest" ...\nSuccess\n')
    bad = ctl("authenticate_user", "guest", "wrong")
    assert bad.code == 65
    assert bad.stderr == 'Error: failed to authenticate user "guest"\nuser \'guest\' - invalid credentials\n'


def test_enable_feature_flag(ctl, broker):
    assert ctl("enable_feature_flag", "quorum_queue").code == 0
    assert ctl("enable_feature_flag", "all").stdout == "Enabling all feature flags ...\n"
    unknown = ctl("enable_feature_flag", "nope")
    assert unknown.code == 64
    assert unknown.stderr == "Error:\nThis feature flag is not supported by node ctl@testhost\n"


def test_diagnostics(ctl, broker):
    ping = ctl("ping")
    assert ping.lines == ["Will ping ctl@testhost. This only checks if the OS process is running and registered "
                          "with epmd. Timeout: 60000 ms.", "Ping succeeded"]
    assert ctl("-q", "ping").stdout == "Ping succeeded\n"
    ports = ctl("check_port_connectivity")
    assert ports.code == 0
    assert ports.lines[-1] == (f"Successfully connected to ports {broker.port}, {broker.management_port}, "
                               f"{broker.server.prometheus_port} "
                               "on node ctl@testhost.")


def test_ping_without_a_broker_exits_69(tmp_path):
    ran = amqpctl("--data-dir", str(tmp_path), "ping")
    assert ran.code == 69


def test_control_verbs_over_url_exit_69(broker):
    ran = amqpctl("--url", f"http://guest:guest@127.0.0.1:{broker.management_port}", "stop_app")
    assert ran.code == 69
    assert pika.BlockingConnection(pika.URLParameters(broker.url)).is_open


def test_wait_for_the_pid_file_then_stop(tmp_path):
    data_dir = tmp_path / "data"
    pid_file = tmp_path / "amqpd.pid"
    process = Amqpd("--port", "0", "--pid-file", str(pid_file), "--node-name", "waited@testhost",
                    data_dir=data_dir, env=clean_env())
    try:
        waited = amqpctl("--data-dir", str(data_dir), "wait", str(pid_file))
        assert waited.code == 0
        assert waited.lines[0] == f"Waiting for pid file '{pid_file}' to appear"
        assert waited.lines[1] == f"pid is {process.proc.pid}"
        assert waited.lines[-1] == "Applications 'rabbit_and_plugins' are running on node 'waited@testhost'"
        process.wait_for(STARTUP)
        stopped = amqpctl("--data-dir", str(data_dir), "stop", str(pid_file))
        assert stopped.code == 0
        assert stopped.lines == [f"Stopping and halting node waited@testhost (will monitor pid file {pid_file}) ...",
                                 f"process {process.proc.pid} (take from pid file {pid_file}) is no longer running"]
        assert process.proc.poll() is not None  # `stop PIDFILE` returns once the process has exited
        assert not pid_file.exists()
        assert re.search(r"requested_by=amqpctl", "".join(process.lines))
    finally:
        process.kill()


def test_stop_returns_once_the_broker_has_stopped(tmp_path):
    data_dir = tmp_path / "data"
    process = Amqpd("--port", "0", data_dir=data_dir, env=clean_env())
    try:
        process.wait_for(STARTUP)
        stopped = amqpctl("--data-dir", str(data_dir), "stop")
        assert stopped.code == 0
        assert stopped.stdout.startswith("Stopping and halting node ")
        assert not (data_dir / "amqpd.sock").exists()
        assert process.finish()[0] == 0
    finally:
        process.kill()
