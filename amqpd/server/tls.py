"""TLS: the server's SSLContext built from the tls_* settings, and the handshake of one accepted stream.

The context knows nothing of AMQP, so any listener of the node (amqps now, the management API's
https later) builds its context here and gets the same certificate, CA and peer verification.
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass

import trio

from amqpd.settings import ConfigError, Settings


class Verify(enum.Enum):
    """RabbitMQ's ssl_options.verify: verify_none (its default) or verify_peer."""

    NONE = "none"
    PEER = "peer"


@dataclass(frozen=True)
class TlsOptions:
    """What a TLS listener needs; RabbitMQ's ssl_options certfile, keyfile, cacertfile, verify and
    fail_if_no_peer_cert."""

    cert: str
    key: str
    ca: str | None = None
    verify: Verify = Verify.NONE
    fail_if_no_peer_cert: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "TlsOptions | None":
        """The node's options, or None when no TLS port (amqps or https) is configured."""
        if settings.tls_port is None and settings.management_tls_port is None:
            return None
        if not settings.tls_cert or not settings.tls_key:
            port = "tls_port" if settings.tls_port is not None else "management_tls_port"
            raise ConfigError(f"{port} needs tls_cert and tls_key")
        return cls(settings.tls_cert, settings.tls_key, settings.tls_ca, Verify(settings.tls_verify),
                   settings.tls_fail_if_no_peer_cert)


def context_for(settings: Settings) -> ssl.SSLContext | None:
    """The context of the amqps listener and the https API, or None when TLS is off."""
    options = TlsOptions.from_settings(settings)
    return server_context(options) if options else None


def server_context(options: TlsOptions) -> ssl.SSLContext:
    """A server context offering TLS 1.2 and 1.3 only; every fault is a ConfigError naming the file.

    verify=peer requests a client certificate and refuses one that does not chain to the CA; with
    fail_if_no_peer_cert a client that sends none is refused too (as Erlang's ssl does for RabbitMQ).
    """
    if options.fail_if_no_peer_cert and options.verify is not Verify.PEER:
        raise ConfigError("tls_fail_if_no_peer_cert needs tls_verify = peer")
    if options.verify is Verify.PEER and not options.ca:
        raise ConfigError("tls_verify = peer needs tls_ca (the CA certificates client certificates must chain to)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for what, path in (("tls_cert", options.cert), ("tls_key", options.key), ("tls_ca", options.ca)):
        if path is not None:
            _check_readable(what, path)
    try:
        context.load_cert_chain(options.cert, options.key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"tls_key {options.key} does not match tls_cert {options.cert}") from None
        raise ConfigError(f"cannot load tls_cert {options.cert} / tls_key {options.key}: {exc.reason or exc}") from None
    if options.ca:
        try:
            context.load_verify_locations(cafile=options.ca)
        except ssl.SSLError as exc:
            raise ConfigError(f"cannot load tls_ca {options.ca}: {exc.reason or exc}") from None
    if options.verify is Verify.PEER:
        context.verify_mode = ssl.CERT_REQUIRED if options.fail_if_no_peer_cert else ssl.CERT_OPTIONAL
    return context


def _check_readable(what: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None


class HandshakeFailed(Exception):
    """A TLS handshake that did not complete; the message is the one log line's reason."""


async def handshake(stream: trio.SSLStream[trio.SocketStream], timeout: float) -> str | None:
    """Complete the handshake within `timeout` seconds and return the verified client certificate's
    subject CN (None without one); raise HandshakeFailed when it stalls, is refused or is not TLS."""
    with trio.move_on_after(timeout) as scope:
        try:
            await stream.do_handshake()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            cause = exc.__cause__
            if isinstance(cause, ssl.SSLError):
                raise HandshakeFailed(cause.reason or cause.strerror or str(cause)) from None
            raise HandshakeFailed(str(cause) if cause else "connection closed") from None
    if scope.cancelled_caught:
        raise HandshakeFailed(f"no handshake within {timeout:g} s")
    return peer_common_name(stream.getpeercert())


def peer_common_name(cert: dict | None) -> str | None:  # type: ignore[type-arg]
    """The subject's (last) commonName of a certificate as ssl's getpeercert() decodes it."""
    if not cert:
        return None
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    return names[-1] if names else None
