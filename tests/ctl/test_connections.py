"""Connections, channels and consumers over amqpctl: the Java client suite's list_connections
and close_connection lines, close_all_connections, and the clients seeing 320 with the reason."""

from __future__ import annotations

import re

import httpx
import pika
import pytest

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread

JAVA_NAME = re.compile(r'"connection_name","(?P<name>[a-zA-Z0-9\-]+)?"')  # Host.java's pattern


def _closed_with(conn: pika.BlockingConnection) -> tuple[int, str]:
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
    return closed.value.reply_code, closed.value.reply_text


def test_the_java_client_suites_list_and_close_lines(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker, name="test-conn-1")
    listed = ctl("list_connections", "-q", "pid", "peer_port", "client_properties")
    assert listed.code == 0
    header, *rows = listed.lines
    assert header == "pid\tpeer_port\tclient_properties"
    (row,) = rows
    pid, peer_port, properties = row.split("\t")
    (api,) = httpx.get(f"{broker.api}/api/connections", auth=("guest", "guest")).json()
    assert int(peer_port) == api["peer_port"]  # the client's local port, by which Host.java matches too
    assert JAVA_NAME.search(properties).group("name") == "test-conn-1"
    assert properties.startswith('[{"product","Pika Python Client Library"}')
    assert "'" not in pid and " " not in pid and pid.startswith("<amqpd@")
    closed = ctl("close_connection", pid, "Closed via rabbitmqctl")
    assert closed.stdout == f"Closing connection {pid}, reason: Closed via rabbitmqctl...\n"
    assert _closed_with(conn) == (320, "CONNECTION_FORCED - Closed via rabbitmqctl")
    assert ctl("-q", "close_connection", pid, "again").code == 0  # gone already: nothing to do


def test_close_connection_by_name_and_a_bad_token(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    (name,) = ctl("-s", "list_connections", "name").lines
    assert ctl("close_connection", name, "by name").code == 0
    assert _closed_with(conn) == (320, "CONNECTION_FORCED - by name")
    bad = ctl("close_connection", "nopid", "x")
    assert (bad.code, bad.stderr) == (69, 'Error:\nError:\n{:invalid_pid_syntax, "nopid"}\n')


def test_close_all_connections_with_a_limit_then_all(broker: BrokerThread, ctl: Ctl):
    conns = [connect(broker, name=f"c{n}") for n in range(3)]
    one = ctl("close_all_connections", "--limit", "1", "one of them")
    assert one.lines == ["Closing 1 connections in vhost /, reason: one of them...", "Closed 1 connections"]
    rest = ctl("-q", "close_all_connections", "the rest")
    assert rest.lines == ["Closed 2 connections"]
    reasons = sorted(_closed_with(conn)[1] for conn in conns)
    assert reasons == ["CONNECTION_FORCED - one of them", "CONNECTION_FORCED - the rest",
                       "CONNECTION_FORCED - the rest"]
    everywhere = ctl("close_all_connections", "--global", "x")
    assert everywhere.lines == [f"Closing all connections to node {broker.node.name} (across all vhosts), reason: x...",
                                "Closed 0 connections"]


def test_list_connections_default_columns_and_protocol(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    listed = ctl("list_connections")
    assert listed.lines[:2] == ["Listing connections ...", "user\tpeer_host\tpeer_port\tstate"]
    assert re.fullmatch(r"guest\t127\.0\.0\.1\t\d+\trunning", listed.lines[2])
    assert ctl("-s", "list_connections", "protocol", "ssl", "vhost", "channels").lines == ["{0,9,1}\tfalse\t/\t0"]
    conn.close()


def test_channels_and_consumers_point_at_each_other(broker: BrokerThread, ctl: Ctl):
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("cq")
    channel.basic_qos(prefetch_count=7)
    channel.basic_consume("cq", lambda *args: None, consumer_tag="tag-1")
    (connection_pid,) = ctl("-s", "list_connections", "pid").lines
    channels = ctl("list_channels", "pid", "connection", "number", "user", "prefetch_count")
    assert channels.lines[:2] == ["Listing channels ...", "pid\tconnection\tnumber\tuser\tprefetch_count"]
    channel_pid, of_connection, *rest = channels.lines[2].split("\t")
    assert (of_connection, rest) == (connection_pid, ["1", "guest", "7"])
    consumers = ctl("list_consumers")
    assert consumers.lines == ["Listing consumers in vhost / ...",
                               "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments",
                               f"cq\t{channel_pid}\ttag-1\ttrue\t7\ttrue\t[]"]
    conn.close()
