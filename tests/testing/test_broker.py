"""amqpd.testing.Broker outside pytest's fixtures: a real broker in this process, then gone."""

from __future__ import annotations

import os

import httpx
import pika
import pytest

from amqpd.testing import Broker


def test_the_context_manager_serves_amqp_and_the_api_and_cleans_up():
    with Broker() as broker:
        assert broker.port not in (0, 5672) and broker.management_url != "http://127.0.0.1:15672"
        assert broker.url == f"amqp://guest:guest@127.0.0.1:{broker.port}/"
        assert (broker.host, broker.management_url) == ("127.0.0.1", f"http://127.0.0.1:{broker.management_port}")
        data_dir = broker.settings.data_dir
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        channel.queue_declare("q")
        overview = httpx.get(f"{broker.management_url}/api/overview", auth=("guest", "guest")).json()
        assert overview["object_totals"]["queues"] == 1
        assert os.path.isdir(data_dir)
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(time_limit=2)
    assert closed.value.reply_code == 320
    assert not broker._thread.is_alive()
    assert not os.path.exists(data_dir)


def test_url_for_percent_encodes_the_vhost():
    broker = Broker()
    try:
        assert broker.url_for("a/b c") == f"amqp://guest:guest@127.0.0.1:{broker.port}/a%2Fb%20c"
        assert broker.url_for("/") == broker.url
    finally:
        broker.stop()  # never started: stop() still removes the data directory
    assert not os.path.exists(broker.settings.data_dir)
