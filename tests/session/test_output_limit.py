"""Connection.feed stops handling frames once the outbox is over its high-water mark, sans-IO: the
server then sends what accumulated before feeding the rest (each pipelined Basic.Get adds a whole
message to the output, so without this stop one read could add gigabytes)."""

from __future__ import annotations

from pamqp import body, commands, frame, header

from amqpd.broker.node import Node
from amqpd.settings import Settings
from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.session.connection import Connection
from amqpd.session.consumer import OUTBOX_HIGH_WATER

BODY = 100_000


def opened(node: Node) -> Connection:
    conn = Connection(node, ("127.0.0.1", 5000))
    conn.feed(PROTOCOL_HEADER)
    conn.feed(frame.marshal(commands.Connection.StartOk(
        client_properties={}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"), 0))
    conn.feed(frame.marshal(commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0), 0))
    conn.feed(frame.marshal(commands.Connection.Open(virtual_host="/"), 0))
    conn.feed(frame.marshal(commands.Channel.Open(), 1))
    conn.data_to_send()
    conn.output_sent()
    return conn


def test_feed_stops_when_the_output_is_full_and_goes_on_once_it_was_sent():
    node = Node(Settings())
    conn = opened(node)
    conn.feed(frame.marshal(commands.Queue.Declare(queue="q"), 1)
              + frame.marshal(commands.Basic.Publish(exchange="", routing_key="q"), 1)
              + frame.marshal(header.ContentHeader(0, BODY, commands.Basic.Properties()), 1)
              + frame.marshal(body.ContentBody(b"x" * BODY), 1))
    conn.data_to_send()
    conn.output_sent()
    pairs = 100
    requests = b"".join(frame.marshal(commands.Basic.Get(queue="q"), 1)
                        + frame.marshal(commands.Basic.Reject(delivery_tag=tag, requeue=True), 1)
                        for tag in range(1, pairs + 1))

    assert conn.feed(requests).more  # frames remain
    assert conn.output_full
    gets = conn.channels[1].delivery_tag
    assert gets == OUTBOX_HIGH_WATER // BODY + 1  # the Get-Ok that went over the mark was the last
    assert node.memory.buffered >= len(conn.outbox) > OUTBOX_HIGH_WATER

    data = conn.data_to_send()
    assert conn.output_full  # still counts while being sent
    conn.output_sent()
    assert conn.output_drained and node.memory.buffered < BODY
    assert len(data) > OUTBOX_HIGH_WATER
    while conn.feed(b"").more:
        conn.data_to_send()
        conn.output_sent()
    assert conn.channels[1].delivery_tag == pairs
