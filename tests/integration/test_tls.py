"""amqps: TLS listeners, peer verification, EXTERNAL logins and stalled handshakes, with real TLS clients.

Certificates are made per test session with trustme; the server's names localhost and 127.0.0.1.
RabbitMQ 3.10.8 (TLS listener, verify_peer, rabbitmq_auth_mechanism_ssl with
ssl_cert_login_from = common_name) was checked for the mechanisms list and the 403 replies.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import ssl
from typing import Any, Iterator

import aio_pika
import amqpstorm
import pika
import pytest
import trustme
from pamqp import commands
from structlog.testing import capture_logs

from tests.integration.test_cli import Amqpd, amqpd, clean_env, run  # noqa: F401 (amqpd: the fixture)
from tests.support.raw import RawClient
from tests.support.server import BrokerThread

LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. "
                 "For details see the broker logfile.")
CAPABLE = {"capabilities": {"authentication_failure_close": True}}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The broker's certificate, key and CA files, as --tls-cert / --tls-key / --tls-ca take them."""
    directory = tmp_path_factory.mktemp("tls")
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = {"tls_cert": directory / "server.pem", "tls_key": directory / "server.key", "tls_ca": directory / "ca.pem"}
    server.cert_chain_pems[0].write_to_path(str(files["tls_cert"]))
    server.private_key_pem.write_to_path(str(files["tls_key"]))
    ca.cert_pem.write_to_path(str(files["tls_ca"]))
    return {name: str(path) for name, path in files.items()}


def start_broker(tls_files: dict[str, str], **settings: Any) -> BrokerThread:
    return BrokerThread(tls_port=0, **tls_files, **settings).start()


@pytest.fixture(scope="module")
def broker(tls_files: dict[str, str]) -> Iterator[BrokerThread]:
    """amqps with verify=peer: a client certificate is verified when sent, not required."""
    broker = start_broker(tls_files, tls_verify="peer")
    yield broker
    broker.stop()


def client_context(ca: trustme.CA, cn: str | None = None) -> ssl.SSLContext:
    """A client context trusting the CA, with a certificate for `cn` when given."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cn is not None:
        ca.issue_cert(f"{cn}.client.test", common_name=cn).configure_cert(context)
    return context


class TlsRawClient(RawClient):
    """The raw frame client over TLS."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        plain = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.sock = context.wrap_socket(plain, server_hostname="localhost")
        self.buffer = b""

    def start(self) -> commands.Connection.Start:
        self.send_bytes(b"AMQP\x00\x00\x09\x01")
        return self.expect(commands.Connection.Start, 0)

    def external_login(self) -> Any:
        """Start-Ok with EXTERNAL: Tune on success, Close 403 on refusal."""
        self.start()
        self.send(0, commands.Connection.StartOk(client_properties=CAPABLE, mechanism="EXTERNAL", response=""))
        return self.recv_frame()[1]


def pika_params(broker: BrokerThread, context: ssl.SSLContext,
                credentials: Any = pika.PlainCredentials("guest", "guest")) -> pika.ConnectionParameters:
    return pika.ConnectionParameters("127.0.0.1", broker.server.tls_port, credentials=credentials,
                                     ssl_options=pika.SSLOptions(context, "localhost"))


def round_trip(conn: pika.BlockingConnection) -> bytes:
    ch = conn.channel()
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", queue, b"over tls")
    body = ch.basic_get(queue, auto_ack=True)[2]
    conn.close()
    return body


def test_pika_publishes_and_gets_over_amqps(broker, ca):
    conn = pika.BlockingConnection(pika_params(broker, client_context(ca)))
    assert round_trip(conn) == b"over tls"


def test_pika_consumes_over_amqps(broker, ca):
    conn = pika.BlockingConnection(pika_params(broker, client_context(ca, "guest")))
    ch = conn.channel()
    queue = ch.queue_declare("", exclusive=True).method.queue
    for n in range(3):
        ch.basic_publish("", queue, f"m{n}".encode())
    bodies = []
    for method, _, body in ch.consume(queue, inactivity_timeout=5):
        assert method is not None
        bodies.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(bodies) == 3:
            break
    conn.close()
    assert bodies == [b"m0", b"m1", b"m2"]


def test_aio_pika_over_amqps_url(broker, ca):
    async def main() -> bytes:
        url = f"amqps://guest:guest@localhost:{broker.server.tls_port}/"
        async with await aio_pika.connect(url, ssl_context=client_context(ca)) as conn:
            ch = await conn.channel()
            queue = await ch.declare_queue(exclusive=True)
            await ch.default_exchange.publish(aio_pika.Message(b"aio over tls"), routing_key=queue.name)
            async with queue.iterator() as messages:
                async for message in messages:
                    async with message.process():
                        return message.body
        raise AssertionError("no message")

    assert asyncio.run(main()) == b"aio over tls"


def test_aio_pika_external_login(broker, ca):
    """aiormq's ?auth=external picks EXTERNAL; the certificate's CN guest is the user."""
    async def main() -> bool:
        url = f"amqps://localhost:{broker.server.tls_port}/?auth=external"
        async with await aio_pika.connect(url, ssl_context=client_context(ca, "guest")) as conn:
            ch = await conn.channel()
            await ch.declare_queue(exclusive=True)
            return not conn.is_closed

    assert asyncio.run(main())


def test_external_not_offered_on_plain_tcp(broker):
    with RawClient(broker.port) as raw:
        raw.send_bytes(b"AMQP\x00\x00\x09\x01")
        assert raw.expect(commands.Connection.Start, 0).mechanisms == "AMQPLAIN PLAIN"


@pytest.mark.parametrize("cn,mechanisms", [(None, "AMQPLAIN PLAIN"), ("guest", "AMQPLAIN PLAIN EXTERNAL")])
def test_tls_mechanisms_add_external_with_a_client_certificate(broker, ca, cn, mechanisms):
    """EXTERNAL (RabbitMQ's auth-mechanism-ssl plugin) comes after AMQPLAIN and PLAIN, offered
    only when the client presented a verified certificate."""
    with TlsRawClient(broker.server.tls_port, client_context(ca, cn)) as raw:
        assert raw.start().mechanisms == mechanisms


def test_amqpstorm_logs_in_with_plain_over_amqps(broker, ca):
    """amqpstorm chooses EXTERNAL whenever the server offers it; without a client certificate it
    must be offered PLAIN only, as a default RabbitMQ would."""
    ssl_options = {"context": client_context(ca), "server_hostname": "localhost"}
    with amqpstorm.Connection("localhost", "guest", "guest", port=broker.server.tls_port,
                              ssl=True, ssl_options=ssl_options, timeout=5) as conn:
        with conn.channel() as ch:
            queue = ch.queue.declare(exclusive=True)["queue"]
            ch.basic.publish(b"amqpstorm over tls", queue)
            message = ch.basic.get(queue, no_ack=True)
    assert message.body == "amqpstorm over tls"  # amqpstorm decodes bodies as UTF-8 by default


def test_tls_1_1_is_refused(broker):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL would refuse TLS 1.1 itself otherwise
    with pytest.warns(DeprecationWarning):
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    with capture_logs() as logs:
        with socket.create_connection(("127.0.0.1", broker.server.tls_port), timeout=5) as plain:
            with pytest.raises(ssl.SSLError):  # trio closes without sending OpenSSL's alert: an EOF
                context.wrap_socket(plain)
        broker.call(lambda: None)  # the broker thread has handled the failure once it runs this
    assert [(entry["event"], entry["reason"]) for entry in logs] == [("TLS handshake failed", "UNSUPPORTED_PROTOCOL")]


def test_external_login_with_certificate_of_existing_user(broker, ca):
    conn = pika.BlockingConnection(pika_params(broker, client_context(ca, "guest"), pika.credentials.ExternalCredentials()))
    assert round_trip(conn) == b"over tls"


def test_external_login_with_unknown_cn_is_refused(broker, ca):
    """RabbitMQ: 'user 'nobody' - invalid credentials' in its log, the usual 403 to the client."""
    with TlsRawClient(broker.server.tls_port, client_context(ca, "nobody")) as raw:
        close = raw.external_login()
    assert isinstance(close, commands.Connection.Close)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (403, LOGIN_REFUSED, 0, 0)


def test_external_login_without_certificate_is_closed(broker, ca):
    """EXTERNAL was not offered: RabbitMQ's 'invalid authentication mechanism', a silent close
    before Tune."""
    with TlsRawClient(broker.server.tls_port, client_context(ca)) as raw:
        with pytest.raises((EOFError, ConnectionError)):
            raw.external_login()


def test_external_with_pika_is_refused_for_unknown_cn(broker, ca):
    params = pika_params(broker, client_context(ca, "nobody"), pika.credentials.ExternalCredentials())
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="EXTERNAL"):
        pika.BlockingConnection(params)


def test_certificate_from_another_ca_is_refused(broker, ca):
    """verify=peer: a certificate that does not chain to --tls-ca fails the handshake."""
    context = client_context(ca)
    trustme.CA().issue_cert("x.client.test", common_name="guest").configure_cert(context)
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        with TlsRawClient(broker.server.tls_port, context) as raw:
            raw.start()  # TLS 1.3: the server's verdict arrives with the first read


def test_fail_if_no_peer_cert_refuses_a_client_without_certificate(tls_files, ca):
    broker = start_broker(tls_files, tls_verify="peer", tls_fail_if_no_peer_cert=True)
    try:
        with capture_logs() as logs:
            with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
                with TlsRawClient(broker.server.tls_port, client_context(ca)) as raw:
                    raw.start()
        with TlsRawClient(broker.server.tls_port, client_context(ca, "guest")) as raw:
            assert isinstance(raw.external_login(), commands.Connection.Tune)
    finally:
        broker.stop()
    failures = [entry for entry in logs if entry["event"] == "TLS handshake failed"]
    assert len(failures) == 1 and "CERTIFICATE" in failures[0]["reason"].upper()


def read_until_closed(sock: socket.socket) -> bytes:
    """What the broker sends until it closes the connection (the socket timeout bounds the wait)."""
    received = b""
    while True:
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def test_stalled_and_garbage_handshakes_are_dropped_while_a_real_client_connects(tls_files, ca):
    """A client that sends nothing is dropped at the handshake timeout, one that sends an AMQP
    header instead of a ClientHello at once; each is one log line; a TLS client meanwhile works."""
    broker = start_broker(tls_files, handshake_timeout=1.5)
    port = broker.server.tls_port
    try:
        with capture_logs() as logs:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as silent, \
                    socket.create_connection(("127.0.0.1", port), timeout=10) as garbage:
                garbage.sendall(b"AMQP\x00\x00\x09\x01" * 4)
                read_until_closed(garbage)
                conn = pika.BlockingConnection(pika_params(broker, client_context(ca)))
                assert read_until_closed(silent) == b""
                assert round_trip(conn) == b"over tls"  # still open after the stalled one went
    finally:
        broker.stop()
    failures = [entry for entry in logs if entry["event"] == "TLS handshake failed"]
    assert len(failures) == 2
    assert any("no handshake within 1.5 s" == entry["reason"] for entry in failures)
    assert any("no handshake within" not in entry["reason"] for entry in failures)
    assert all(entry["log_level"] == "warning" and "exc_info" not in entry for entry in failures)


# -- the command ----------------------------------------------------------------------------------

AMQPS_LINE = re.compile(r"started TLS listener on amqps://127\.0\.0\.1:(\d+)")
STARTUP = re.compile(r"Server startup complete; listening on amqp://127\.0\.0\.1:(\d+) ")


def tls_args(tls_files: dict[str, str]) -> list[str]:
    return ["--tls-cert", tls_files["tls_cert"], "--tls-key", tls_files["tls_key"], "--tls-ca", tls_files["tls_ca"]]


def test_command_names_both_ports_and_logs_a_bad_handshake_in_one_line(amqpd, tls_files, ca):
    server = amqpd("--port", "0", "--tls-port", "0", *tls_args(tls_files))
    tls_port = int(server.wait_for(AMQPS_LINE).group(1))
    port = int(server.wait_for(STARTUP).group(1))
    assert tls_port != port
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as garbage:
        garbage.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
        read_until_closed(garbage)
    server.wait_for(re.compile("TLS handshake failed"))
    server.proc.send_signal(signal.SIGTERM)
    code, stderr = server.finish()
    assert code == 0
    assert "Traceback" not in stderr
    assert sum("TLS handshake failed" in line for line in stderr.splitlines()) == 1


def test_config_file_and_environment_configure_tls(amqpd, tls_files, ca, tmp_path):
    """TOML keys are the option names; AMQPD_TLS_* variables name the rest."""
    config = tmp_path / "amqpd.toml"
    config.write_text(f'tls-port = 0\ntls-cert = "{tls_files["tls_cert"]}"\ntls-key = "{tls_files["tls_key"]}"\n')
    env = clean_env(AMQPD_TLS_CA=tls_files["tls_ca"], AMQPD_TLS_VERIFY="peer",
                    AMQPD_TLS_FAIL_IF_NO_PEER_CERT="true")
    server = amqpd("--port", "0", "--config", str(config), env=env)
    tls_port = int(server.wait_for(AMQPS_LINE).group(1))
    server.wait_for(STARTUP)
    with TlsRawClient(tls_port, client_context(ca, "guest")) as raw:
        assert isinstance(raw.external_login(), commands.Connection.Tune)
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        with TlsRawClient(tls_port, client_context(ca)) as raw:
            raw.start()  # fail_if_no_peer_cert came from the environment


def run_amqpd(*args: str) -> tuple[int, str]:
    result = run("--port", "0", *args)
    return result.returncode, result.stderr


@pytest.mark.parametrize("change,message", [
    ({"tls_cert": "/nonexistent/server.pem"}, "amqpd: error: tls_cert /nonexistent/server.pem: No such file or directory\n"),
    ({"tls_key": "/nonexistent/server.key"}, "amqpd: error: tls_key /nonexistent/server.key: No such file or directory\n"),
    ({"tls_key": "OTHER"}, "amqpd: error: tls_key {tls_key} does not match tls_cert {tls_cert}\n"),
    ({"tls_ca": "/nonexistent/ca.pem"}, "amqpd: error: tls_ca /nonexistent/ca.pem: No such file or directory\n"),
])
def test_bad_tls_files_are_one_error_line(tls_files, tmp_path, ca, change, message):
    files = dict(tls_files)
    if change.get("tls_key") == "OTHER":
        other = tmp_path / "other.key"
        ca.issue_cert("localhost").private_key_pem.write_to_path(str(other))
        change = {"tls_key": str(other)}
    files.update(change)
    code, stderr = run_amqpd("--tls-port", "0", *tls_args(files))
    assert (code, stderr) == (1, message.format(**files))


@pytest.mark.parametrize("with_files,args,message", [
    (False, ["--tls-port", "0"], "tls_port needs tls_cert and tls_key"),
    (True, ["--tls-fail-if-no-peer-cert"], "tls_fail_if_no_peer_cert needs tls_verify = peer"),
    (False, ["--tls-port", "70000"], "tls_port 70000 is out of range 0-65535"),
])
def test_bad_tls_options_are_one_error_line(tls_files, with_files, args, message):
    if with_files:
        args = ["--tls-port", "0", *tls_args(tls_files), *args]
    assert run_amqpd(*args) == (1, f"amqpd: error: {message}\n")


def test_tls_bind_failure_names_the_tls_address(tls_files):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, stderr = run_amqpd("--tls-port", str(taken), *tls_args(tls_files))
    assert (code, stderr) == (1, f"amqpd: error: cannot listen on 127.0.0.1:{taken}: address already in use\n")


def test_help_lists_the_tls_options():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--tls-port", "--tls-cert", "--tls-key", "--tls-ca", "--tls-verify", "--tls-fail-if-no-peer-cert"):
        assert option in result.stdout
