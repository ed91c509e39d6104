"""Opening a connection or a channel does not walk every other connection when no limit is set.

The max-connections and max-channels checks counted the node's connections at every open, so
opening N connections cost O(N^2): 10,000 took 112 s against 2 s for 1,000 (scripts/curves
connections, docs/performance.md "Cost curves"). The walks are counted, not timed.
"""

from __future__ import annotations

from typing import Any, Iterator

from pamqp import commands, frame

from amqpd.broker.node import Node
from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.session.connection import Connection
from amqpd.settings import Settings


class WalkCountingSet(set):
    """The node's connection set, counting how often something iterates over it."""

    walks = 0

    def __iter__(self) -> Iterator[Any]:
        self.walks += 1
        return super().__iter__()


def replies(conn: Connection) -> list[type]:
    data, out = bytes(conn.outbox), []
    conn.outbox.clear()
    while data:
        consumed, _, value = frame.unmarshal(data)
        out.append(type(value))
        data = data[consumed:]
    return out


def open_with_channel(node: Node, port: int) -> Connection:
    conn = Connection(node, peer=("127.0.0.1", port))
    conn.feed(PROTOCOL_HEADER)
    for channel, method in [
        (0, commands.Connection.StartOk(client_properties={"product": "test"}, mechanism="PLAIN",
                                        response="\0guest\0guest", locale="en_US")),
        (0, commands.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0)),
        (0, commands.Connection.Open(virtual_host="/")),
        (1, commands.Channel.Open()),
    ]:
        conn.feed(frame.marshal(method, channel))
    assert replies(conn) == [commands.Connection.Start, commands.Connection.Tune, commands.Connection.OpenOk,
                             commands.Channel.OpenOk]
    return conn


def test_opening_connections_and_channels_without_limits_walks_no_connection_list() -> None:
    node = Node(Settings())
    node.connections = WalkCountingSet()
    for port in range(5000, 5020):
        open_with_channel(node, port)
    assert len(node.connections) == 20
    assert node.connections.walks == 0
