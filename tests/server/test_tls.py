"""TLS without sockets: the SSLContext the settings build, and what a Connection does with its Transport."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from pamqp import commands

from amqpd import config
from amqpd.broker.node import Node
from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.server import tls
from amqpd.session.connection import Connection, Transport
from amqpd.settings import ConfigError, Settings
from tests.session.test_handshake import LOGIN_REFUSED, assert_silent_close, send, sent, start_ok


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return {"tls_cert": str(directory / "cert.pem"), "tls_key": str(directory / "key.pem"),
            "tls_ca": str(directory / "ca.pem")}


def context(files: dict[str, str], **settings: Any) -> ssl.SSLContext | None:
    return tls.context_for(Settings(**{"tls_port": 0, **files, **settings}))


def test_no_tls_port_no_context(files):
    assert tls.context_for(Settings(**files)) is None


@pytest.mark.parametrize("settings,mode", [
    ({}, ssl.CERT_NONE),
    ({"tls_verify": "peer"}, ssl.CERT_OPTIONAL),
    ({"tls_verify": "peer", "tls_fail_if_no_peer_cert": True}, ssl.CERT_REQUIRED),
])
def test_verify_modes_are_rabbitmqs(files, settings, mode):
    """verify_none asks no certificate; verify_peer checks one if sent; fail_if_no_peer_cert requires it."""
    built = context(files, **settings)
    assert built is not None
    assert (built.verify_mode, built.minimum_version) == (mode, ssl.TLSVersion.TLSv1_2)


def test_verify_peer_needs_a_ca(files):
    with pytest.raises(ConfigError, match="tls_verify = peer needs tls_ca"):
        context({**files, "tls_ca": None}, tls_verify="peer")


def test_a_ca_file_that_is_no_certificate_is_a_config_error(files, tmp_path: Path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=f"cannot load tls_ca {bogus}"):
        context({**files, "tls_ca": str(bogus)})


def test_peer_common_name():
    subject = ((("organizationName", "acme"),), (("commonName", "app"),))
    assert tls.peer_common_name({"subject": subject}) == "app"
    assert tls.peer_common_name({"subject": ((("organizationName", "acme"),),)}) is None
    assert tls.peer_common_name({}) is None


def started(transport: Transport, peer: tuple[str, int] = ("127.0.0.1", 5000), **settings: Any) -> tuple[Connection, str]:
    """A connection with `transport` after the protocol header, and the mechanisms it offered."""
    conn = Connection(Node(Settings(**settings)), peer=peer, transport=transport)
    conn.feed(PROTOCOL_HEADER)
    [(_, start)] = sent(conn)
    return conn, start.mechanisms


def external() -> commands.Connection.StartOk:
    return start_ok(mechanism="EXTERNAL", response="")


@pytest.mark.parametrize("transport", [Transport(), Transport(tls=True, peer_cert_cn=None)],
                         ids=["plain-tcp", "tls-without-certificate"])
def test_external_is_invalid_without_a_client_certificate(transport):
    """Not offered, so RabbitMQ's 'invalid authentication mechanism 'EXTERNAL'' (503, silent in
    this state). amqpstorm picks EXTERNAL whenever it is offered: it must log in with PLAIN here."""
    conn, mechanisms = started(transport)
    assert mechanisms == "AMQPLAIN PLAIN"
    send(conn, 0, external())
    assert_silent_close(conn)


def test_external_logs_in_the_certificates_cn():
    conn, mechanisms = started(Transport(tls=True, peer_cert_cn="app"), users={"app": "secret"})
    assert mechanisms == "AMQPLAIN PLAIN EXTERNAL"
    send(conn, 0, external())
    assert [type(f) for _, f in sent(conn)] == [commands.Connection.Tune]
    assert conn.user == "app"


@pytest.mark.parametrize("transport,peer", [
    (Transport(tls=True, peer_cert_cn="nobody"), ("127.0.0.1", 5000)),  # no such user
    (Transport(tls=True, peer_cert_cn="guest"), ("192.0.2.7", 5000)),  # guest is loopback-only
])
def test_external_refusals_are_rabbitmqs_403(transport, peer):
    conn, _ = started(transport, peer)
    send(conn, 0, external())
    [(_, close)] = sent(conn)
    assert isinstance(close, commands.Connection.Close)
    assert (close.reply_code, close.reply_text) == (403, LOGIN_REFUSED.format("EXTERNAL"))
    assert conn.user is None


@pytest.mark.parametrize("line,message", [
    ('tls-port = "5671"', "tls-port = '5671' is not an integer"),
    ('tls-fail-if-no-peer-cert = "yes"', "tls-fail-if-no-peer-cert = 'yes' is not true or false"),
    ("tls-cert = 1", "tls-cert = 1 is not a string"),
])
def test_config_file_types(tmp_path: Path, line, message):
    path = tmp_path / "amqpd.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        config.load_file(str(path))
    assert str(caught.value) == f"config file {path}: {message}"


def test_environment_booleans():
    settings = config.build({}, {}, {"AMQPD_TLS_FAIL_IF_NO_PEER_CERT": "TRUE", "AMQPD_TLS_VERIFY": "peer",
                                     "AMQPD_TLS_PORT": "0"})
    assert (settings.tls_fail_if_no_peer_cert, settings.tls_verify, settings.tls_port) == (True, "peer", 0)
    with pytest.raises(ConfigError, match="AMQPD_TLS_FAIL_IF_NO_PEER_CERT='maybe' is not a valid tls_fail_if_no_peer_cert"):
        config.build({}, {}, {"AMQPD_TLS_FAIL_IF_NO_PEER_CERT": "maybe"})
    with pytest.raises(ConfigError, match="tls_verify must be none or peer, not 'always'"):
        config.build({}, {}, {"AMQPD_TLS_VERIFY": "always"})
