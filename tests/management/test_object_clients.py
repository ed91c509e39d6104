"""Real clients of the object routes against amqpd: pyrabbit2, amqpstorm's ManagementApi,
rabbitmqadmin 3.10.8 and Celery Flower's broker view, with the effects checked over AMQP (pika).

rabbitmqadmin's outputs are what the same commands print against RabbitMQ 3.10.8 (checked on
it: `queue declared`, `binding declared`, `Message published`, the tsv lists).
"""

from __future__ import annotations

import asyncio

import pika
import pytest
from amqpstorm.management import ManagementApi
from flower.utils.broker import RabbitMQ
from pyrabbit2.api import Client

from tests.management.conftest import amqp
from tests.management.test_rabbitmqadmin import RABBITMQADMIN, admin, pytestmark as needs_rabbitmqadmin


def test_pyrabbit2_queues_exchanges_publish_get(broker):
    client = Client(f"127.0.0.1:{broker.management_port}", "guest", "guest")
    client.create_queue("/", "pq", durable=False)
    client.create_exchange("/", "px", "direct")
    client.create_binding("/", "px", "pq", "k")
    assert client.publish("/", "px", "k", "hello") is True
    assert client.get_queue_depth("/", "pq") == 1
    assert [m["payload"] for m in client.get_messages("/", "pq", requeue=True)] == ["hello"]
    assert client.get_queue_depth("/", "pq") == 1
    assert [q["name"] for q in client.get_queues("/")] == ["pq"]
    assert "px" in [x["name"] for x in client.get_exchanges("/")]
    client.purge_queue("/", "pq")
    assert client.get_queue_depth("/", "pq") == 0
    conn = amqp(broker)
    assert conn.channel().queue_declare("pq", passive=True).method.message_count == 0
    client.delete_queue("/", "pq")
    client.delete_exchange("/", "px")
    assert client.get_queues("/") == []
    conn.close()


def test_amqpstorm_management_api(broker):
    conn = amqp(broker)
    channel = conn.channel()
    with ManagementApi(broker.api, "guest", "guest") as api:
        api.queue.declare("aq", durable=True)
        api.queue.declare("ab")
        api.exchange.declare("ax", "topic")
        api.queue.bind("aq", "ax", "a.b")
        assert api.basic.publish("body", "a.b", exchange="ax") == {"routed": True}
        assert [q["name"] for q in api.queue.list(page_size=1)] == ["ab", "aq"]
        assert [q["name"] for q in api.queue.list(name="^aq", use_regex=True)] == ["aq"]
        assert api.queue.get("aq")["messages"] == 1
        [message] = api.basic.get("aq", requeue=True, to_dict=True)
        assert message["payload"] == "body"
        api.queue.purge("aq")
        assert channel.queue_declare("aq", passive=True).method.message_count == 0
        api.queue.unbind("aq", "ax", "a.b")
        assert [b["source"] for b in api.queue.bindings("aq")] == [""]
        [found] = api.connection.list()
        assert found["client_properties"]["platform"].startswith("Python")
        api.connection.close(found["name"], reason="storm")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.channel()
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - storm")


@needs_rabbitmqadmin
def test_rabbitmqadmin_objects(broker):
    assert RABBITMQADMIN is not None
    assert admin(broker, "declare", "queue", "name=rq", "durable=false").stdout == "queue declared\n"
    assert admin(broker, "declare", "exchange", "name=rx", "type=fanout").stdout == "exchange declared\n"
    assert admin(broker, "declare", "binding", "source=rx", "destination=rq").stdout == "binding declared\n"
    assert admin(broker, "publish", "exchange=rx", "routing_key=", "payload=hi").stdout == "Message published\n"
    assert admin(broker, "-f", "tsv", "list", "queues", "name", "messages").stdout.splitlines() == [
        "name\tmessages", "rq\t1"]
    assert admin(broker, "-f", "tsv", "get", "queue=rq").stdout.splitlines() == [
        "routing_key\texchange\tmessage_count\tpayload\tpayload_bytes\tpayload_encoding\tproperties\tredelivered",
        "\trx\t0\thi\t2\tstring\t\tFalse"]
    assert admin(broker, "-f", "tsv", "list", "bindings", "source", "destination").stdout.splitlines() == [
        "source\tdestination", "\trq", "rx\trq"]
    assert admin(broker, "delete", "binding", "source=rx", "destination_type=queue", "destination=rq").stdout == "binding deleted\n"
    assert admin(broker, "purge", "queue", "name=rq").stdout == "queue purged\n"
    conn = amqp(broker)
    assert conn.channel().queue_declare("rq", passive=True).method.message_count == 0
    [name] = admin(broker, "-f", "tsv", "-q", "list", "connections", "name").stdout.splitlines()
    assert admin(broker, "close", "connection", f"name={name}").stdout == "connection closed\n"
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
        conn.channel()
    assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - Closed via management plugin")
    assert admin(broker, "delete", "queue", "name=rq").stdout == "queue deleted\n"
    assert admin(broker, "-f", "tsv", "-q", "list", "queues", "name").stdout == ""


def test_flower_broker_view_lists_queues_with_their_counts(api, broker):
    """Celery Flower's broker page: flower.utils.broker.RabbitMQ.queues(names) reads /api/queues/{v}
    and keeps the named queues. (For the default vhost Flower asks for /api/queues//, which
    RabbitMQ 3.10.8 answers 404 as well, so a named vhost is used.)"""
    api.put("/api/vhosts/celeryv")
    conn = amqp(broker, vhost="celeryv")
    channel = conn.channel()
    for name in ("celery", "other"):
        channel.queue_declare(name)
        channel.basic_publish("", name, b"task")
    channel.basic_publish("", "celery", b"task")
    view = RabbitMQ(f"amqp://guest:guest@127.0.0.1:{broker.port}/celeryv",
                    f"http://guest:guest@127.0.0.1:{broker.management_port}/api/")
    queues = asyncio.run(view.queues(["celery"]))
    assert [(q["name"], q["messages"], q["messages_ready"], q["messages_unacknowledged"], q["consumers"])
            for q in queues] == [("celery", 2, 2, 0, 0)]
    conn.close()
