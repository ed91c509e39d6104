"""The Prometheus endpoint on a real broker (ephemeral ports): RabbitMQ 3.10.8's content type,
identity, family names, types and labels (as its rabbitmq_prometheus serves them), every
series the RabbitMQ-Overview dashboard queries, and counters that move with pika's traffic."""

from __future__ import annotations

import re
import signal

import httpx
import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from amqpd import cli, config
from tests.integration.test_cli import Amqpd, clean_env
from tests.support.server import BrokerThread

PROMETHEUS = re.compile(r"started prometheus listener on http://127\.0\.0\.1:(\d+)")
STARTUP = re.compile(r"Server startup complete; listening on amqp://127\.0\.0\.1:(\d+)")

# what the official RabbitMQ-Overview Grafana dashboard queries (OPERATOR-CONTRACTS.md 3.1),
# by family name as the parser reports it (counters without their _total), with their type
DASHBOARD = {
    "rabbitmq_identity_info": "unknown", "rabbitmq_build_info": "unknown", "rabbitmq_erlang_uptime_seconds": "gauge",
    "rabbitmq_connections": "gauge", "rabbitmq_channels": "gauge", "rabbitmq_queues": "gauge",
    "rabbitmq_consumers": "gauge",
    "rabbitmq_connections_opened": "counter", "rabbitmq_connections_closed": "counter",
    "rabbitmq_channels_opened": "counter", "rabbitmq_channels_closed": "counter",
    "rabbitmq_queues_declared": "counter", "rabbitmq_queues_created": "counter", "rabbitmq_queues_deleted": "counter",
    "rabbitmq_queue_messages_ready": "gauge", "rabbitmq_queue_messages_unacked": "gauge",
    "rabbitmq_global_messages_received": "counter", "rabbitmq_global_messages_received_confirm": "counter",
    "rabbitmq_global_messages_routed": "counter", "rabbitmq_global_messages_unroutable_dropped": "counter",
    "rabbitmq_global_messages_unroutable_returned": "counter", "rabbitmq_global_messages_confirmed": "counter",
    "rabbitmq_global_publishers": "gauge", "rabbitmq_global_consumers": "gauge",
    "rabbitmq_global_messages_delivered": "counter", "rabbitmq_global_messages_delivered_consume_auto_ack": "counter",
    "rabbitmq_global_messages_delivered_consume_manual_ack": "counter",
    "rabbitmq_global_messages_delivered_get_auto_ack": "counter",
    "rabbitmq_global_messages_delivered_get_manual_ack": "counter",
    "rabbitmq_global_messages_get_empty": "counter", "rabbitmq_global_messages_redelivered": "counter",
    "rabbitmq_global_messages_acknowledged": "counter",
    "rabbitmq_resident_memory_limit_bytes": "gauge", "rabbitmq_process_resident_memory_bytes": "gauge",
    "rabbitmq_disk_space_available_bytes": "gauge", "rabbitmq_disk_space_available_limit_bytes": "gauge",
    "rabbitmq_process_max_fds": "gauge", "rabbitmq_process_open_fds": "gauge",
}


@pytest.fixture(scope="module")
def broker():
    server = BrokerThread().start()
    yield server
    server.stop()


def scrape(broker, path: str = "/metrics") -> tuple[httpx.Response, dict]:
    reply = httpx.get(f"http://127.0.0.1:{broker.server.prometheus_port}{path}")
    return reply, {family.name: family for family in text_string_to_metric_families(reply.text)}


def value(families: dict, name: str, **labels: str) -> float:
    samples = [s for s in families[name].samples if all(s.labels.get(k) == v for k, v in labels.items())
               and not s.name.endswith("_created")]
    assert len(samples) == 1, samples
    return samples[0].value


def test_aggregated_endpoint_serves_text_format_0_0_4_with_every_dashboard_series(broker):
    reply, families = scrape(broker)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert {name: families[name].type for name in DASHBOARD if name in families} == DASHBOARD
    identity = families["rabbitmq_identity_info"].samples[0].labels
    assert identity["rabbitmq_node"] == broker.node.name and identity["rabbitmq_endpoint"] == "aggregated"
    assert set(identity) == {"rabbitmq_node", "rabbitmq_cluster", "rabbitmq_cluster_permanent_id", "rabbitmq_endpoint"}
    delivered = families["rabbitmq_global_messages_delivered"].samples
    assert {(s.labels["protocol"], s.labels["queue_type"]) for s in delivered} == {
        ("amqp091", "rabbit_classic_queue"), ("amqp091", "rabbit_quorum_queue"), ("amqp091", "rabbit_stream_queue")}
    assert "# TYPE rabbitmq_identity_info untyped" in reply.text  # as RabbitMQ prints it
    assert "# HELP rabbitmq_queue_messages_ready Messages ready to be delivered to consumers" in reply.text


def test_counters_move_with_publishes_consumes_and_acks(broker):
    _, before = scrape(broker)
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        channel.queue_declare("prom-q")
        channel.confirm_delivery()
        for _ in range(5):
            channel.basic_publish("", "prom-q", b"m")
        channel.basic_publish("amq.direct", "nowhere", b"lost")
        method, _, _ = channel.basic_get("prom-q")
        channel.basic_ack(method.delivery_tag)
        channel.basic_get("prom-q", auto_ack=True)
        _, during = scrape(broker)
        _, per_object = scrape(broker, "/metrics/per-object")
    finally:
        connection.close()
    _, after = scrape(broker)

    def moved(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert moved("rabbitmq_global_messages_received", protocol="amqp091") == 6
    assert moved("rabbitmq_global_messages_received_confirm", protocol="amqp091") == 6
    assert moved("rabbitmq_global_messages_confirmed", protocol="amqp091") == 6
    assert moved("rabbitmq_global_messages_routed", protocol="amqp091") == 5
    assert moved("rabbitmq_global_messages_unroutable_dropped", protocol="amqp091") == 1
    classic = {"protocol": "amqp091", "queue_type": "rabbit_classic_queue"}
    assert moved("rabbitmq_global_messages_delivered_get_manual_ack", **classic) == 1
    assert moved("rabbitmq_global_messages_delivered_get_auto_ack", **classic) == 1
    assert moved("rabbitmq_global_messages_acknowledged", **classic) == 1
    assert value(during, "rabbitmq_queue_messages_ready") >= 3
    assert value(during, "rabbitmq_channels") == 1 and value(during, "rabbitmq_connections") == 1
    assert value(during, "rabbitmq_channel_messages_published") == 6
    assert value(during, "rabbitmq_connection_incoming_bytes") > 0
    assert value(per_object, "rabbitmq_queue_messages_ready", vhost="/", queue="prom-q") == 3
    assert value(per_object, "rabbitmq_queue_messages_published", vhost="/", queue="prom-q") == 5
    assert value(per_object, "rabbitmq_queue_info", vhost="/", queue="prom-q", queue_type="rabbit_classic_queue") == 1
    assert per_object["rabbitmq_identity_info"].samples[0].labels["rabbitmq_endpoint"] == "per-object"
    # the connection has gone: its churn is counted, the node's totals keep its counts
    assert value(after, "rabbitmq_connections_closed") - value(before, "rabbitmq_connections_closed") == 1
    assert value(after, "rabbitmq_channels_opened") - value(before, "rabbitmq_channels_opened") == 1
    assert value(after, "rabbitmq_global_messages_received", protocol="amqp091") == value(
        during, "rabbitmq_global_messages_received", protocol="amqp091")



def test_delivery_counters_are_split_by_queue_type_and_survive_the_queue(broker):
    _, before = scrape(broker)
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare("prom-quorum", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("prom-stream", durable=True, arguments={"x-queue-type": "stream"})
    channel.queue_declare("prom-classic")
    for queue in ("prom-quorum", "prom-quorum", "prom-stream", "prom-stream", "prom-stream", "prom-classic"):
        channel.basic_publish("", queue, b"m")
    for _ in range(2):
        method, _, _ = channel.basic_get("prom-quorum")
        channel.basic_ack(method.delivery_tag)
    channel.basic_qos(prefetch_count=10)
    tags: list[int] = []
    channel.basic_consume("prom-stream", lambda ch, m, p, b: tags.append(m.delivery_tag),
                          arguments={"x-stream-offset": "first"})
    while len(tags) < 3:
        connection.process_data_events(time_limit=0.05)
    channel.basic_ack(tags[-1], multiple=True)
    channel.basic_get("prom-classic", auto_ack=True)
    channel.queue_delete("prom-quorum")  # its counts stay in the node's
    connection.close()
    _, after = scrape(broker)

    def moved(name: str, queue_type: str) -> float:
        labels = {"protocol": "amqp091", "queue_type": queue_type}
        return value(after, name, **labels) - value(before, name, **labels)

    delivered = {kind: moved("rabbitmq_global_messages_delivered", f"rabbit_{kind}_queue")
                 for kind in ("classic", "quorum", "stream")}
    assert delivered == {"classic": 1, "quorum": 2, "stream": 3}
    assert moved("rabbitmq_global_messages_delivered_get_manual_ack", "rabbit_quorum_queue") == 2
    assert moved("rabbitmq_global_messages_delivered_consume_manual_ack", "rabbit_stream_queue") == 3
    assert moved("rabbitmq_global_messages_acknowledged", "rabbit_quorum_queue") == 2
    assert moved("rabbitmq_global_messages_acknowledged", "rabbit_stream_queue") == 3
    assert moved("rabbitmq_global_messages_acknowledged", "rabbit_classic_queue") == 0

def test_detailed_endpoint_serves_the_families_asked_for(broker):
    reply, families = scrape(broker, "/metrics/detailed?family=queue_coarse_metrics&family=connection_churn_metrics"
                                     "&vhost=%2F")
    assert reply.status_code == 200
    assert {"rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages",
            "rabbitmq_detailed_connections_opened", "rabbitmq_identity_info"} <= set(families)
    assert "rabbitmq_detailed_queue_consumers" not in families and "rabbitmq_connections" not in families
    _, bare = scrape(broker, "/metrics/detailed")
    assert set(bare) == {"rabbitmq_build_info", "rabbitmq_identity_info"}


def test_unknown_paths_are_404_unknown_registry(broker):
    reply = httpx.get(f"http://127.0.0.1:{broker.server.prometheus_port}/metrics/nope")
    assert (reply.status_code, reply.text) == (404, "Unknown Registry")


def test_no_prometheus_binds_no_port():
    server = BrokerThread(prometheus=False).start()
    try:
        assert server.server.prometheus_port is None
    finally:
        server.stop()


def test_options_from_the_command_line_the_config_file_and_the_environment(tmp_path):
    settings = cli.settings_from([])
    assert (settings.prometheus, settings.prometheus_port, settings.prometheus_hosts()) == (True, 15692, ("127.0.0.1", "::1"))
    settings = cli.settings_from(["--host", "::", "--prometheus-port", "0"])
    assert (settings.prometheus_port, settings.prometheus_hosts()) == (0, ("::",))
    assert cli.settings_from(["--prometheus-host", "0.0.0.0", "--no-prometheus"]).prometheus is False
    path = tmp_path / "amqpd.toml"
    path.write_text('prometheus_port = 9419\nprometheus_host = "127.0.0.2"\n')
    settings = cli.settings_from(["--config", str(path)])
    assert (settings.prometheus_port, settings.prometheus_hosts()) == (9419, ("127.0.0.2",))
    settings = config.build({}, {}, {"AMQPD_PROMETHEUS": "false", "AMQPD_PROMETHEUS_PORT": "1234"})
    assert (settings.prometheus, settings.prometheus_port) == (False, 1234)
    with pytest.raises(config.ConfigError, match="prometheus_port 70000 is out of range"):
        cli.settings_from(["--prometheus-port", "70000"])


def test_the_start_up_line_comes_before_the_last_one_and_the_port_serves(tmp_path):
    server = Amqpd("--port", "0", data_dir=tmp_path / "data", env=clean_env())
    try:
        port = int(server.wait_for(PROMETHEUS).group(1))
        server.wait_for(STARTUP)
        reply = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert reply.status_code == 200 and "rabbitmq_identity_info{" in reply.text
        server.proc.send_signal(signal.SIGTERM)
        code, log = server.finish()
        assert code == 0
        lines = [line for line in log.splitlines() if "listener" in line or "startup" in line]
        assert "Server startup complete" in lines[-1] and "started prometheus listener" in lines[-2]
    finally:
        server.kill()


def test_queue_info_names_each_queue_type(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        for name, kind in (("info-classic", "classic"), ("info-quorum", "quorum"), ("info-stream", "stream")):
            channel.queue_declare(name, durable=True, arguments={"x-queue-type": kind})
        _, per_object = scrape(broker, "/metrics/per-object")
    finally:
        connection.close()
    assert {queue: value(per_object, "rabbitmq_queue_info", vhost="/", queue=queue, queue_type=f"rabbit_{kind}_queue")
            for queue, kind in (("info-classic", "classic"), ("info-quorum", "quorum"), ("info-stream", "stream"))
            } == {"info-classic": 1, "info-quorum": 1, "info-stream": 1}
