"""Where amqpd listens: by default on the IPv4 and the IPv6 loopback (clients that resolve
localhost to ::1, as Node.js does, connect too), with `--host ::` as RabbitMQ's '::' listener
does (IPv6 and IPv4 clients alike), and with any other `--host` on exactly that address."""

from __future__ import annotations

import errno
import os
import re
import socket
import urllib.request

import pika
import pytest
from pamqp import commands
from structlog.testing import capture_logs

from amqpd.server import listener

from tests.integration.test_cli import amqpd  # noqa: F401 - the subprocess fixture
from tests.support.raw import RawClient


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


# never skipped in CI, whose machines have an IPv6 loopback
needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback() and not os.environ.get("CI"),
                                reason="no IPv6 loopback on this machine")


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def round_trip(port: int, address: str) -> bytes:
    """A message through a server-named queue over pika, connected to address."""
    conn = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{url_host(address)}:{port}/"))
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"over " + address.encode())
        return ch.basic_get(q, auto_ack=True)[2]
    finally:
        conn.close()


@needs_ipv6
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_default_host_serves_both_loopbacks(broker_factory, address):
    """With no host set, AMQP and the management API answer on 127.0.0.1 and on ::1, on one
    port each; guest (loopback only) logs in over both."""
    broker = broker_factory()
    assert round_trip(broker.port, address) == b"over " + address.encode()
    request = urllib.request.Request(f"http://{url_host(address)}:{broker.management_port}/api/overview",
                                     headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@needs_ipv6
def test_startup_lines_name_both_loopbacks(amqpd):  # noqa: F811
    """The command's start-up lines say what is bound: both loopbacks on one port, for AMQP,
    the management API and Prometheus alike; the API lists both AMQP listeners."""
    server = amqpd("--port", "0", "--management-port", "0", "--prometheus-port", "0")
    ports = []
    for kind in ("started management listener on http", "started prometheus listener on http",
                 "Server startup complete; listening on amqp"):
        found = server.wait_for(re.compile(rf"{kind}://127\.0\.0\.1:(\d+) and {kind.split()[-1]}://\[::1\]:(\d+)"))
        assert found.group(1) == found.group(2)
        ports.append(int(found.group(1)))
    port = ports[-1]
    assert round_trip(port, "::1") == b"over ::1"


@needs_ipv6
def test_explicit_host_binds_exactly_that(broker_factory):
    """--host 127.0.0.1 listens on IPv4 only: a client over ::1 is refused."""
    broker = broker_factory(host="127.0.0.1")
    assert round_trip(broker.port, "127.0.0.1") == b"over 127.0.0.1"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", broker.port), timeout=5).close()


@needs_ipv6
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


def test_default_host_without_ipv6_listens_on_ipv4_and_says_so(broker_factory, monkeypatch):
    """Where ::1 cannot be bound (a machine without IPv6: EADDRNOTAVAIL), the default host still
    serves 127.0.0.1 and logs the fallback instead of failing to start."""
    bind = listener._listen_on

    async def no_ipv6(host, port):
        if host == "::1":
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address", f"{host}:{port}")
        return await bind(host, port)
    monkeypatch.setattr(listener, "_listen_on", no_ipv6)
    with capture_logs() as logs:
        broker = broker_factory()
    assert round_trip(broker.port, "127.0.0.1") == b"over 127.0.0.1"
    assert [e["event"] for e in logs].count("no IPv6 loopback: listening on 127.0.0.1 only") == 3  # AMQP, API, metrics


def test_explicit_ipv6_host_that_cannot_be_bound_is_an_error(broker_factory, monkeypatch):
    """The fallback is only the default's: --host ::1 that cannot be bound fails the start."""
    async def no_ipv6(host, port):
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address", f"{host}:{port}")
    monkeypatch.setattr(listener, "_listen_on", no_ipv6)
    with pytest.raises(BaseException) as caught:
        broker_factory(host="::1")
    exc = caught.value
    while isinstance(exc, BaseExceptionGroup):  # the broker thread's nurseries wrap it
        exc = exc.exceptions[0]
    assert isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL
