"""Statistics in the management API's objects after pika traffic: the queue, exchange, channel,
connection and vhost objects carry the counts RabbitMQ 3.10.8 showed for the same steps, with
the same keys (a group of counts appears only once that kind of traffic happened; no
message_stats at all for an object without traffic), plus a queue's idle_since,
consumer_utilisation and, with lengths_age, its depth samples."""

from __future__ import annotations

import datetime
import time
from urllib.parse import quote

import httpx
import pika

from amqpd.management import objstats
from tests.management.conftest import amqp

DELIVERY = ("ack", "deliver", "deliver_get", "deliver_no_ack", "get", "get_empty", "get_no_ack", "redeliver")
CHANNEL = sorted(("confirm", "drop_unroutable", "publish", "return_unroutable") + DELIVERY)


def counts(stats):
    assert all(stats[f"{k}_details"] == {"rate": 0.0} for k in stats if not k.endswith("_details"))
    return {k: v for k, v in stats.items() if not k.endswith("_details")}


def test_queue_objects_show_only_the_traffic_they_had(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    for name in ("os-idle", "os-pub", "os-got"):
        channel.queue_declare(name)
    for _ in range(3):
        channel.basic_publish("", "os-pub", b"hello")
    channel.basic_publish("", "os-got", b"x")
    method, _, _ = channel.basic_get("os-got")
    channel.basic_ack(method.delivery_tag)
    idle = api.get("/api/queues/%2F/os-idle").json()
    assert "message_stats" not in idle
    assert counts(api.get("/api/queues/%2F/os-pub").json()["message_stats"]) == {"publish": 3}
    got = api.get("/api/queues/%2F/os-got").json()
    assert counts(got["message_stats"]) == {"publish": 1, "get": 1, "ack": 1, "deliver_get": 1, "deliver": 0,
                                            "deliver_no_ack": 0, "get_no_ack": 0, "get_empty": 0, "redeliver": 0}
    listed = {q["name"]: q for q in api.get("/api/queues/%2F").json()}
    assert listed["os-pub"]["message_stats"]["publish"] == 3
    conn.close()


def test_queue_idle_since_and_consumer_utilisation(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-q")
    channel.basic_publish("", "os-q", b"abc")
    before = api.get("/api/queues/%2F/os-q").json()
    since = datetime.datetime.fromisoformat(before["idle_since"])  # 2026-12-03T14:04:27.521+00:00
    assert since.utcoffset() == datetime.timedelta(0) and before["idle_since"].endswith("+00:00")
    assert (before["consumer_utilisation"], before["consumer_capacity"]) == (0, 0)
    assert api.get("/api/queues/%2F/os-q").json()["idle_since"] == before["idle_since"]  # nothing happened
    got = []
    channel.basic_consume("os-q", lambda ch, m, p, body: got.append(body), auto_ack=True)
    while not got:
        conn.process_data_events(time_limit=1)
    busy = api.get("/api/queues/%2F/os-q").json()
    assert "idle_since" not in busy  # a consumer, and a delivery since the last read
    assert (busy["consumer_utilisation"], busy["consumer_capacity"]) == (1.0, 1.0)
    assert counts(busy["message_stats"])["deliver_no_ack"] == 1
    quiet = api.get("/api/queues/%2F/os-q").json()  # nothing since: idle again, with its consumer
    assert datetime.datetime.fromisoformat(quiet["idle_since"]) > since
    conn.close()


def test_queue_depth_samples_with_lengths_age(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-len")
    for _ in range(2):
        channel.basic_publish("", "os-len", b"m")
    channel.basic_get("os-len")  # one unacked
    query = "lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5"
    queue = api.get(f"/api/queues/%2F/os-len?{query}").json()
    for name, value in (("messages", 2), ("messages_ready", 1), ("messages_unacknowledged", 1)):
        details = queue[f"{name}_details"]
        assert details["samples"][0]["sample"] == value
        assert details["samples"][0]["timestamp"] % 5000 == 0
        assert details["avg"] == float(value)
    assert "samples" not in api.get("/api/queues/%2F/os-len").json()["messages_details"]
    shown = api.get("/api/queues/%2F/os-len").json()
    assert (shown["message_bytes"], shown["message_bytes_ready"], shown["message_bytes_unacknowledged"]) == (2, 1, 1)
    assert shown["memory"] > shown["message_bytes"]
    conn.close()


def test_exchange_channel_connection_and_vhost_objects(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-x-q")
    channel.exchange_declare("os-fan", "fanout")
    channel.exchange_declare("os-quiet", "fanout")
    channel.exchange_declare("os-nobody", "fanout")
    channel.queue_bind("os-x-q", "os-fan")
    channel.basic_publish("os-fan", "", b"1")
    channel.basic_publish("os-fan", "", b"2")
    channel.basic_publish("os-nobody", "", b"3")
    channel.basic_get("os-x-q", auto_ack=True)
    exchange = api.get("/api/exchanges/%2F/os-fan").json()
    assert counts(exchange["message_stats"]) == {"publish_in": 2, "publish_out": 2}
    assert counts(api.get("/api/exchanges/%2F/os-nobody").json()["message_stats"]) == {"publish_in": 1}
    assert "message_stats" not in api.get("/api/exchanges/%2F/os-quiet").json()
    (item,) = api.get("/api/channels").json()
    stats = counts(item["message_stats"])
    assert sorted(stats) == CHANNEL
    assert (stats["publish"], stats["get_no_ack"], stats["deliver_get"], stats["ack"]) == (3, 1, 1, 0)
    (connection,) = api.get("/api/connections").json()
    assert connection["recv_oct"] > 0 and connection["send_oct"] > 0
    assert connection["recv_cnt"] > 0 and connection["send_cnt"] > 0
    assert connection["recv_oct_details"] == connection["send_oct_details"] == {"rate": 0.0}
    assert "recv_cnt_details" not in connection
    vhost = api.get("/api/vhosts/%2F").json()
    assert vhost["recv_oct"] == connection["recv_oct"] and vhost["recv_oct_details"] == {"rate": 0.0}
    vstats = counts(vhost["message_stats"])
    assert sorted(vstats) == CHANNEL and vstats["publish"] == 3
    conn.close()


def test_queue_depth_samples_come_from_the_kept_history(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-hist")
    channel.basic_publish("", "os-hist", b"m")
    channel.queue_declare("os-hist", passive=True)  # a round trip: the publish is in
    then = time.time()
    broker.call(objstats.HISTORY.sample, broker.node, then - 10)  # what the timer took 10 s ago: 1
    channel.basic_publish("", "os-hist", b"m")
    channel.basic_publish("", "os-hist", b"m")
    conn.close()
    queue = api.get("/api/queues/%2F/os-hist?lengths_age=60&lengths_incr=5").json()
    samples = queue["messages_details"]["samples"]
    stamp = int(then - 10) // 5 * 5000
    by_time = {item["timestamp"]: item["sample"] for item in samples}
    assert samples[0]["sample"] == 3 and samples[0]["timestamp"] >= time.time() * 1000  # now rounded up
    assert by_time[stamp] == 1 and by_time[stamp - 5000] == 1  # before the first sample: the first one
    assert queue["messages_details"]["avg"] == sum(item["sample"] for item in samples) / len(samples)


def test_vhost_bytes_keep_the_closed_connections(api, broker):
    conn = amqp(broker)
    conn.channel().queue_declare("os-bytes")
    (live,) = api.get("/api/connections").json()
    conn.close()  # the broker released it before its Close-Ok reached pika
    assert api.get("/api/connections").json() == []
    vhost = api.get("/api/vhosts/%2F").json()
    assert vhost["recv_oct"] > live["recv_oct"] > 0  # its Connection.Close came after the read
    assert vhost["send_oct"] > live["send_oct"] > 0  # and the Close-Ok


def test_channel_idle_since(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-idle-ch")
    (first,) = api.get("/api/channels").json()
    assert "idle_since" not in first  # not known idle yet (RabbitMQ: only once idle about a second)
    (quiet,) = api.get("/api/channels").json()
    since = datetime.datetime.fromisoformat(quiet["idle_since"])
    assert since.utcoffset() == datetime.timedelta(0) and quiet["idle_since"].endswith("+00:00")
    assert api.get(f"/api/channels/{quote(quiet['name'], safe='')}").json()["idle_since"] == quiet["idle_since"]
    channel.basic_publish("", "os-idle-ch", b"m")
    channel.queue_declare("os-idle-ch", passive=True)  # a round trip: the publish is in
    (busy,) = api.get("/api/channels").json()
    assert "idle_since" not in busy
    (again,) = api.get("/api/channels").json()
    assert datetime.datetime.fromisoformat(again["idle_since"]) > since
    conn.close()


def publish_six(channel, queue: str) -> None:
    """RabbitMQ 3.10.8 check: 6 messages of 10..15 bytes, every other one persistent, timestamps
    1700000000 + i; two taken with basic_get and not acked."""
    channel.queue_declare(queue, durable=True)
    for i in range(6):
        channel.basic_publish("", queue, b"x" * (10 + i),
                              pika.BasicProperties(delivery_mode=2 if i % 2 else 1, timestamp=1700000000 + i))
    channel.basic_get(queue)
    channel.basic_get(queue)


def test_queue_memory_persistent_and_backing_queue_fields(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    publish_six(channel, "os-mem")
    queue = api.get("/api/queues/%2F/os-mem").json()
    assert {key: queue[key] for key in (
        "messages_ram", "messages_ready_ram", "messages_unacknowledged_ram", "messages_persistent",
        "messages_paged_out", "message_bytes", "message_bytes_ram", "message_bytes_persistent",
        "message_bytes_paged_out", "message_bytes_ready", "message_bytes_unacknowledged",
        "head_message_timestamp")} == {  # what RabbitMQ 3.10.8 showed for the same steps
        "messages_ram": 6, "messages_ready_ram": 4, "messages_unacknowledged_ram": 2, "messages_persistent": 3,
        "messages_paged_out": 0, "message_bytes": 75, "message_bytes_ram": 75, "message_bytes_persistent": 39,
        "message_bytes_paged_out": 0, "message_bytes_ready": 54, "message_bytes_unacknowledged": 21,
        "head_message_timestamp": 1700000000}  # the oldest of the head and the unacked ones
    status = queue["backing_queue_status"]
    assert status == {"avg_ack_egress_rate": 0.0, "avg_ack_ingress_rate": 0.0, "avg_egress_rate": 0.0,
                      "avg_ingress_rate": 0.0, "delta": ["delta", "undefined", 0, 0, "undefined"], "len": 4,
                      "mode": "default", "next_deliver_seq_id": 2, "next_seq_id": 6, "q1": 0, "q2": 0, "q3": 0,
                      "q4": 4, "target_ram_count": "infinity", "version": 1}
    conn.close()


def test_queue_paged_out_fields(broker_factory):
    broker = broker_factory(queue_window=2)
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("os-paged", durable=True)
    for i in range(5):
        channel.basic_publish("", "os-paged", b"y" * (20 + i), pika.BasicProperties(delivery_mode=2))
    channel.queue_declare("os-paged", passive=True)
    queue = httpx.get(f"{broker.api}/api/queues/%2F/os-paged", auth=("guest", "guest")).json()
    assert (queue["messages_ram"], queue["messages_paged_out"], queue["messages_persistent"]) == (2, 3, 5)
    assert (queue["message_bytes_ram"], queue["message_bytes_paged_out"]) == (41, 22 + 23 + 24)
    assert queue["message_bytes_persistent"] == queue["message_bytes"] == 20 + 21 + 22 + 23 + 24
    delta = queue["backing_queue_status"]["delta"]
    assert delta[0] == "delta" and delta[2:4] == [3, 0] and delta[4] - delta[1] == 3
    channel.basic_get("os-paged", auto_ack=True)
    channel.basic_get("os-paged", auto_ack=True)
    channel.basic_get("os-paged", auto_ack=True)  # reads the paged ones back
    queue = httpx.get(f"{broker.api}/api/queues/%2F/os-paged", auth=("guest", "guest")).json()
    assert (queue["messages_paged_out"], queue["message_bytes_paged_out"], queue["message_bytes"]) == (0, 0, 47)
    conn.close()
