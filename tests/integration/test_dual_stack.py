"""`--host ::` listens as RabbitMQ's '::' listener does: IPv6 and IPv4 clients alike."""

from __future__ import annotations

import socket

import pika
import pytest
from pamqp import commands

from tests.support.raw import RawClient


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_double_colon_takes_ipv4_and_ipv6_clients(broker_factory, address):
    """Over 127.0.0.1 and ::1 a client reaches a '::' broker, and guest (loopback only) logs in
    from both: 127.0.0.1 arrives as ::ffff:127.0.0.1, still a loopback address."""
    broker = broker_factory(host="::")
    with RawClient(broker.port, host=address) as raw:
        raw.handshake()
        raw.open_channel(1)
        raw.send(1, commands.Queue.Declare(queue="", exclusive=True))
        assert raw.expect(commands.Queue.DeclareOk, 1).queue.startswith("amq.gen-")
    url_host = f"[{address}]" if ":" in address else address
    conn = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{url_host}:{broker.port}/"))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"over " + address.encode())
    assert ch.basic_get(q, auto_ack=True)[2] == b"over " + address.encode()
    conn.close()
