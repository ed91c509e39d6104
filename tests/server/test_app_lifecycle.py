"""stop_app / start_app over the control socket, as rabbitmqctl's (and the Java client suite's
BrokerTestCase.restart): stop_app closes every client with 320 and stops listening (AMQP,
management, Prometheus; the control socket stays), transient state goes; start_app rebuilds the
node from the store as start-up does and listens again on the same ports."""

from __future__ import annotations

import re
import time

import httpx
import pika
import pytest
from pika.exceptions import AMQPConnectionError, ConnectionClosedByBroker

from tests.server.test_control_socket import over_socket
from tests.support.process import STARTUP, Amqpd, clean_env
from tests.support.server import BrokerThread


@pytest.fixture
def broker():
    broker = BrokerThread().start()
    yield broker
    broker.stop()


def connect(broker: BrokerThread) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(broker.url))


def wait_closed(conn: pika.BlockingConnection) -> BaseException:
    """The exception that ends the connection (the broker's Connection.Close)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            conn.process_data_events(time_limit=0.05)
        except Exception as exc:  # noqa: BLE001 - the close is what is awaited
            return exc
    pytest.fail("the connection was not closed")


def test_stop_app_closes_clients_with_320_and_stops_listening(broker):
    conn = connect(broker)
    with over_socket(broker) as control:
        assert control.post("/control/stop_app").status_code == 204
        closed = wait_closed(conn)
        assert isinstance(closed, ConnectionClosedByBroker)
        assert closed.reply_code == 320
        assert closed.reply_text == "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
        with pytest.raises(AMQPConnectionError):
            connect(broker)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{broker.api}/api/overview", auth=("guest", "guest"))
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{broker.server.prometheus_port}/metrics")
        status = control.get("/control/status").json()  # the control socket stays up
        assert status["running"] is False
        assert status["listeners"] == []


def test_start_app_recovers_durable_state_and_drops_transient_state(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("durable-q", durable=True)
    ch.queue_declare("transient-q")
    ch.exchange_declare("transient-x", "fanout")
    ch.exchange_declare("durable-x", "fanout", durable=True)
    ch.queue_bind("durable-q", "durable-x")
    for i in range(3):  # confirmed (each publish waits for its ack): they must survive
        ch.basic_publish("durable-x", "", f"persistent {i}".encode(), pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("", "durable-q", b"transient", pika.BasicProperties(delivery_mode=1))
    ch.basic_publish("", "transient-q", b"gone", pika.BasicProperties(delivery_mode=2))
    port, api_port = broker.port, broker.management_port
    with over_socket(broker) as control:
        assert control.post("/control/stop_app").status_code == 204
        wait_closed(conn)
        assert control.post("/control/start_app").status_code == 204
        assert control.get("/control/status").json()["running"] is True
    assert broker.server.port == port and broker.server.management_port == api_port
    conn = connect(broker)
    ch = conn.channel()
    got = [ch.basic_get("durable-q", auto_ack=True)[2] for _ in range(3)]
    assert got == [b"persistent 0", b"persistent 1", b"persistent 2"]
    assert ch.basic_get("durable-q", auto_ack=True)[2] is None  # the transient message is gone
    ch.queue_declare("durable-q", durable=True, passive=True)
    ch.exchange_declare("durable-x", passive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as missing:
        ch.queue_declare("transient-q", passive=True)
    assert missing.value.reply_code == 404
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as missing:
        ch.exchange_declare("transient-x", passive=True)
    assert missing.value.reply_code == 404
    overview = httpx.get(f"{broker.api}/api/overview", auth=("guest", "guest"))
    assert overview.status_code == 200  # the management API is back on its port, and Prometheus on its
    assert httpx.get(f"http://127.0.0.1:{broker.server.prometheus_port}/metrics").status_code == 200
    conn.close()


def test_the_node_object_is_kept_so_the_apis_see_the_recovered_state(broker):
    node = broker.node
    with over_socket(broker) as control:
        control.put("/api/queues/%2F/kept", json={"durable": True})
        control.put("/api/queues/%2F/transient", json={"durable": False})
        assert control.post("/control/stop_app").status_code == 204
        assert control.post("/control/start_app").status_code == 204
        queues = control.get("/api/queues/%2F").json()
    assert broker.server.node is node
    assert [queue["name"] for queue in queues] == ["kept"]


def test_start_and_stop_app_twice_are_harmless(broker):
    with over_socket(broker) as control:
        assert control.post("/control/start_app").status_code == 204  # already running
        assert control.post("/control/stop_app").status_code == 204
        assert control.post("/control/stop_app").status_code == 204  # already stopped
        assert control.post("/control/start_app").status_code == 204
    connect(broker).close()


def test_start_app_runs_the_definitions_step_of_start_up(tmp_path):
    definitions = tmp_path / "defs.json"
    definitions.write_text('{"vhosts": [{"name": "from-file"}]}')
    process = Amqpd("--port", "0", "--definitions", str(definitions), data_dir=tmp_path / "data", env=clean_env())
    try:
        process.wait_for(STARTUP)
        assert any("imported definitions" in line for line in process.lines)
        transport = httpx.HTTPTransport(uds=str(tmp_path / "data" / "amqpd.sock"))
        with httpx.Client(transport=transport, base_url="http://amqpd", timeout=10) as control:
            assert control.post("/control/stop_app").status_code == 204
            assert control.post("/control/start_app").status_code == 204
            vhosts = [vhost["name"] for vhost in control.get("/api/vhosts").json()]
        process.wait_for(re.compile("definitions file unchanged since its last import, skipped"))
        assert "from-file" in vhosts
    finally:
        process.kill()
