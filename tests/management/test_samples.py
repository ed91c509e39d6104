"""Message-rate and byte-rate samples over HTTP: with RabbitMQ's msg_rates_age / _incr (and
lengths_ / data_rates_), each ``<name>_details`` of the overview, a vhost, a queue, an exchange, a
channel and a connection carries ``samples`` (newest first, one per incr over age), ``avg``,
``avg_rate`` and the range's ``rate``, as RabbitMQ 3.10.8 showed them for the same steps. The
history is recorded by the node's timer; the tests add earlier samples through the same call the
timer makes, with times in the past."""

from __future__ import annotations

import time

from amqpd.management import objstats
from tests.management.conftest import amqp

MSG = "msg_rates_age=60&msg_rates_incr=5"
LENGTHS = "lengths_age=60&lengths_incr=5"
DATA = "data_rates_age=60&data_rates_incr=5"


def by_time(details):
    return {item["timestamp"]: item["sample"] for item in details["samples"]}


def check_shape(details, newest):
    """13 samples 5 s apart, newest first; avg and avg_rate as RabbitMQ computes them."""
    samples = details["samples"]
    stamps = [item["timestamp"] for item in samples]
    assert len(samples) == 13 and stamps == [stamps[0] - 5000 * i for i in range(13)]
    assert samples[0]["sample"] == newest
    values = [item["sample"] for item in samples]
    assert details["avg"] == sum(values) / 13
    assert details["avg_rate"] == (values[0] - values[-1]) / 60
    assert details["rate"] == (values[0] - values[1]) / 5


def test_message_stats_samples_on_every_object(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("sm-q")
    channel.exchange_declare("sm-x", "fanout")
    channel.queue_bind("sm-q", "sm-x")
    channel.basic_publish("sm-x", "", b"1")
    channel.queue_declare("sm-q", passive=True)  # a round trip: the publishes before it are counted
    then = time.time()
    broker.call(objstats.HISTORY.sample, broker.node, then - 20)  # publish 1
    channel.basic_publish("sm-x", "", b"2")
    channel.basic_publish("sm-x", "", b"3")
    channel.queue_declare("sm-q", passive=True)
    broker.call(objstats.HISTORY.sample, broker.node, then - 10)  # publish 3
    channel.basic_publish("sm-x", "", b"4")
    channel.basic_get("sm-q", auto_ack=True)
    early, middle = int(then - 20) // 5 * 5000, int(then - 10) // 5 * 5000
    queue = api.get(f"/api/queues/%2F/sm-q?{MSG}").json()
    publish = queue["message_stats"]["publish_details"]
    check_shape(publish, 4)
    assert (by_time(publish)[early], by_time(publish)[middle], by_time(publish)[early - 5000]) == (1, 3, 1)
    assert publish["avg_rate"] == (4 - 1) / 60
    assert by_time(queue["message_stats"]["get_no_ack_details"])[middle] == 0
    assert "samples" not in queue["messages_details"]  # the depths come with lengths_
    exchange = api.get(f"/api/exchanges/%2F/sm-x?{MSG}").json()["message_stats"]
    check_shape(exchange["publish_in_details"], 4)
    assert by_time(exchange["publish_out_details"])[middle] == 3
    (item,) = api.get(f"/api/channels?{MSG}").json()
    check_shape(item["message_stats"]["publish_details"], 4)
    assert by_time(item["message_stats"]["publish_details"])[early] == 1
    vhost = api.get(f"/api/vhosts/%2F?{MSG}").json()
    check_shape(vhost["message_stats"]["publish_details"], 4)
    check_shape(vhost["messages_details"], 3)  # RabbitMQ samples a vhost's depths with msg_rates_
    assert by_time(vhost["messages_details"])[middle] == 3 and by_time(vhost["messages_details"])[early] == 1
    overview = api.get(f"/api/overview?{MSG}").json()
    check_shape(overview["message_stats"]["publish_details"], 4)
    assert by_time(overview["message_stats"]["publish_details"])[middle] == 3
    assert "samples" not in overview["queue_totals"]["messages_details"]
    assert "samples" not in overview["churn_rates"]["queue_created_details"]
    conn.close()


def test_lengths_and_data_rates(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("sm-len")
    then = time.time()
    broker.call(objstats.HISTORY.sample, broker.node, then - 10)
    for _ in range(2):
        channel.basic_publish("", "sm-len", b"m")
    channel.queue_declare("sm-len", passive=True)
    middle = int(then - 10) // 5 * 5000
    overview = api.get(f"/api/overview?{LENGTHS}").json()
    check_shape(overview["queue_totals"]["messages_details"], 2)
    assert by_time(overview["queue_totals"]["messages_details"])[middle] == 0
    assert "samples" not in overview["message_stats"]["publish_details"]
    both = api.get(f"/api/overview?{MSG}&{LENGTHS}").json()  # churn: only with both (RabbitMQ 3.10.8)
    check_shape(both["churn_rates"]["queue_declared_details"], 1)
    assert by_time(both["churn_rates"]["queue_declared_details"])[middle] == 1
    (connection,) = api.get(f"/api/connections?{DATA}").json()
    recv = connection["recv_oct_details"]
    check_shape(recv, connection["recv_oct"])
    assert 0 < by_time(recv)[middle] < connection["recv_oct"]
    assert "samples" not in api.get(f"/api/connections?{MSG}").json()[0]["recv_oct_details"]
    vhost = api.get(f"/api/vhosts/%2F?{DATA}").json()
    check_shape(vhost["send_oct_details"], vhost["send_oct"])
    conn.close()


def test_range_parameters_as_rabbitmq_reads_them(api, broker):
    assert api.get("/api/overview?msg_rates_age=6000&msg_rates_incr=5").json() == {
        "error": "bad_request", "reason": "Invalid range parameters: age 6000, incr 5"}
    assert api.get("/api/exchanges/%2F/amq.direct?msg_rates_age=0&msg_rates_incr=5").status_code == 400
    for query in ("msg_rates_age=60", "msg_rates_age=abc&msg_rates_incr=5"):  # no range: no samples
        assert "samples" not in api.get(f"/api/overview?{query}").json()["message_stats"]["publish_details"]
    single = api.get("/api/overview?msg_rates_age=5&msg_rates_incr=10").json()["message_stats"]["publish_details"]
    assert len(single["samples"]) == 1 and "avg" not in single and "avg_rate" not in single
