"""A client's unsent output is bounded: the broker stops reading a client that does not read its
replies, instead of buffering them without limit (RabbitMQ too stops reading a connection whose
socket does not take its output)."""

from __future__ import annotations

import time

from pamqp import body, commands, frame, header

from amqpd.session.consumer import OUTBOX_HIGH_WATER
from tests.support.raw import RawClient

BODY = 100_000
ROUNDS = 2_000  # unbounded, the replies would be 200 MB


def server_side(broker, raw: RawClient):
    """The broker's Connection for a raw client's socket."""
    port = raw.sock.getsockname()[1]
    return next(c for c in broker.node.connections if c.peer and c.peer[1] == port)


def test_pipelined_get_reject_from_a_client_that_never_reads(broker):
    """Basic.Get + Basic.Reject(requeue) pipelined without reading: every pair makes a 100 kB
    Get-Ok. The broker stops reading once the unsent output is over its high-water mark, so what it
    holds for the connection stays bounded, and other clients are served meanwhile."""
    setup = RawClient.connect(broker.port)
    setup.send(1, commands.Queue.Declare(queue="bound.q"))
    setup.expect(commands.Queue.DeclareOk, 1)
    setup.publish(1, "", "bound.q", b"x" * BODY)
    setup.send(1, commands.Queue.Declare(queue="bound.q", passive=True))
    setup.expect(commands.Queue.DeclareOk, 1)

    greedy = RawClient.connect(broker.port)
    requests = b"".join(
        frame.marshal(commands.Basic.Get(queue="bound.q"), 1)
        + frame.marshal(commands.Basic.Reject(delivery_tag=tag, requeue=True), 1)
        for tag in range(1, ROUNDS + 1))
    greedy.sock.settimeout(None)
    greedy.sock.setblocking(False)
    try:
        greedy.sock.send(requests)  # as much as the socket takes; the client never reads
    except BlockingIOError:
        pass
    conn = broker.call(server_side, broker, greedy)
    deadline = time.monotonic() + 10
    while not broker.call(lambda: conn.output_full) and time.monotonic() < deadline:
        time.sleep(0.01)  # the broker has no event for this: poll its state
    assert broker.call(lambda: conn.output_full) is True

    # another client is served while the greedy one is paused (which holds bound.q's message)
    setup.send(1, commands.Queue.Declare(queue="bound.other"))
    setup.expect(commands.Queue.DeclareOk, 1)
    setup.publish(1, "", "bound.other", b"y" * BODY)
    setup.send(1, commands.Basic.Get(queue="bound.other", no_ack=True))
    setup.expect(commands.Basic.GetOk, 1)
    setup.expect(header.ContentHeader, 1)
    assert setup.expect(body.ContentBody, 1).value == b"y" * BODY

    handled = broker.call(lambda: conn.channels[1].delivery_tag)
    assert handled < ROUNDS // 10
    held = broker.call(lambda: broker.node.memory.buffered)
    assert held <= 2 * OUTBOX_HIGH_WATER + 2 * BODY
    setup.close()
    greedy.close()
