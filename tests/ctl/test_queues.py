"""Queues over amqpctl: list_queues banners, columns and json; purge_queue and delete_queue
with their effect over AMQP and rabbitmqctl's lines and codes."""

from __future__ import annotations

import json

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def _fill(broker: BrokerThread, queue: str, count: int, **declare) -> None:
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare(queue, **declare)
    for number in range(count):
        channel.basic_publish("", queue, str(number).encode())
    channel.queue_declare(queue, passive=True)
    conn.close()


def test_list_queues_prints_rabbitmqctls_banners_header_and_rows(broker: BrokerThread, ctl: Ctl):
    _fill(broker, "q1", 2, arguments={"x-max-length": 5})
    assert ctl("list_queues").lines == ["Timeout: 60.0 seconds ...", "Listing queues for vhost / ...",
                                        "name\tmessages", "q1\t2"]
    ran = ctl("list_queues", "-q", "name", "durable", "arguments", "messages_ready", "consumers", "state", "type")
    assert ran.lines == ["name\tdurable\targuments\tmessages_ready\tconsumers\tstate\ttype",
                         'q1\tfalse\t[{"x-max-length",5}]\t2\t0\trunning\tclassic']
    assert ctl("list_queues", "-t", "5").lines[0] == "Timeout: 5.0 seconds ..."


def test_list_queues_json_and_an_empty_or_missing_vhost(broker: BrokerThread, ctl: Ctl):
    _fill(broker, "q1", 1)
    assert json.loads(ctl("list_queues", "--formatter", "json", "name", "messages").stdout) == [
        {"name": "q1", "messages": 1}]
    assert ctl("list_queues", "-p", "novh").lines == ["Timeout: 60.0 seconds ...",
                                                      "Listing queues for vhost novh ..."]
    assert ctl("-s", "list_queues", "--local", "--online").lines == ["q1\t1"]
    assert ctl("-s", "list_queues", "--offline").lines == []  # one node: none is offline


def test_list_queues_pages_through_a_long_list(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    for number in range(620):  # more than one page of the API's largest (500)
        channel.queue_declare(f"q{number:04}")
    conn.close()
    names = ctl("-s", "list_queues", "name").lines
    assert names == [f"q{number:04}" for number in range(620)]


def test_purge_queue(broker: BrokerThread, ctl: Ctl):
    _fill(broker, "q1", 3)
    assert ctl("purge_queue", "q1").stdout == "Purging queue 'q1' in vhost '/' ...\n"
    assert ctl("-s", "list_queues").lines == ["q1\t0"]
    missing = ctl("purge_queue", "nope")
    assert (missing.code, missing.stderr) == (69, "Error:\nnot_found\n")


def test_delete_queue_reports_the_ready_messages(broker: BrokerThread, ctl: Ctl):
    _fill(broker, "q1", 2)
    not_empty = ctl("delete_queue", "q1", "--if-empty")
    assert not_empty.code == 64
    assert not_empty.stdout == "Deleting queue 'q1' on vhost '/' if queue is empty ...\n"
    assert not_empty.stderr == "Error:\nQueue is not empty\n"
    deleted = ctl("delete_queue", "q1", "-u")
    assert deleted.lines == ["Deleting queue 'q1' on vhost '/' if queue is unused ...",
                             "Queue was successfully deleted with 2 ready messages"]
    assert ctl("-s", "list_queues").stdout == ""
    missing = ctl("delete_queue", "q1")
    assert (missing.code, missing.stderr) == (64, "Error:\nQueue not found\n")


def test_delete_queue_if_unused_refuses_a_queue_with_a_consumer(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("busy")
    channel.basic_consume("busy", lambda *args: None)
    ran = ctl("delete_queue", "busy", "--if-unused")
    conn.close()
    assert (ran.code, ran.stderr) == (64, "Error:\nQueue is in use\n")
