"""/api/overview's message_stats, churn_rates and queue_totals over HTTP after pika traffic: the
counts RabbitMQ 3.10.8 showed for the same steps, each with its _details rate, and kept once the
channel and connection that made them have closed."""

from __future__ import annotations

import pika
import pytest

from tests.management.conftest import amqp

COUNTS = ("ack", "confirm", "deliver", "deliver_get", "deliver_no_ack", "disk_reads", "disk_writes",
          "drop_unroutable", "get", "get_empty", "get_no_ack", "publish", "redeliver", "return_unroutable")


def test_overview_counts_publishes_gets_acks_and_churn(api, broker):
    conn = amqp(broker)
    channel = conn.channel()
    channel.queue_declare("stats-q")
    channel.confirm_delivery()
    for _ in range(4):
        channel.basic_publish("", "stats-q", b"m")
    method, _, _ = channel.basic_get("stats-q")
    channel.basic_ack(method.delivery_tag)
    method, _, _ = channel.basic_get("stats-q")
    channel.basic_nack(method.delivery_tag, requeue=True)
    channel.basic_get("stats-q", auto_ack=True)  # the requeued one: redelivered
    channel.basic_get("stats-q", auto_ack=True)
    with pytest.raises(pika.exceptions.UnroutableError):  # returned, then confirmed
        channel.basic_publish("amq.direct", "nowhere", b"lost", mandatory=True)
    channel.basic_get("stats-q", auto_ack=True)
    assert channel.basic_get("stats-q", auto_ack=True) == (None, None, None)  # empty now
    overview = api.get("/api/overview").json()
    conn.close()
    stats = overview["message_stats"]
    assert sorted(k for k in stats if not k.endswith("_details")) == sorted(COUNTS)
    assert all(stats[f"{k}_details"] == {"rate": 0.0} for k in COUNTS)  # first read: no sample before it
    assert {k: stats[k] for k in ("publish", "confirm", "get", "get_no_ack", "get_empty", "redeliver", "ack",
                                  "deliver_get")} == {
        "publish": 5, "confirm": 5, "get": 2, "get_no_ack": 3, "get_empty": 1, "redeliver": 1, "ack": 1,
        "deliver_get": 5}
    assert stats["return_unroutable"] == 1
    assert overview["queue_totals"]["messages"] == 0
    closed = api.get("/api/overview").json()
    assert closed["message_stats"]["publish"] == 5  # the closed channel's counts stay in the totals
    churn = closed["churn_rates"]
    assert (churn["connection_created"], churn["connection_closed"], churn["channel_created"],
            churn["channel_closed"], churn["queue_declared"], churn["queue_created"]) == (1, 1, 1, 1, 1, 1)
    assert churn["queue_created_details"] == {"rate": 0.0}
