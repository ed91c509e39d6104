"""SASL responses of Connection.Start-Ok, parsed from plain values: the mechanism's name and
the response bytes in, the user and password out, or a SaslError with RabbitMQ's reply.

PLAIN is RFC 4616's ``authzid NUL user NUL password`` (RabbitMQ accepts only an empty
authzid); AMQPLAIN is a field table without its length prefix holding LOGIN and PASSWORD.
EXTERNAL carries no credentials: the session takes the user from the TLS client certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqpd.protocol import errors, tables

# offered in this order, as RabbitMQ lists them
PASSWORD_MECHANISMS = ("AMQPLAIN", "PLAIN")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


class SaslError(Exception):
    """A response that yields no credentials, with the reply code and text RabbitMQ closes with.

    The text never quotes the response: it holds the password, and the text is logged.
    """

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_plain(response: bytes) -> Credentials:
    parts = response.split(b"\x00")
    if len(parts) != 3 or parts[0]:
        raise SaslError(errors.SYNTAX_ERROR, "response <<...>> invalid")
    return Credentials(parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace"))


def parse_amqplain(response: bytes) -> Credentials:
    try:
        table = tables.decode_table(len(response).to_bytes(4, "big") + response)[0]
    except ValueError:
        table = {}
    login, password = table.get("LOGIN"), table.get("PASSWORD")
    if isinstance(login, bytes):
        login = login.decode("utf-8", "replace")
    if isinstance(password, bytes):
        password = password.decode("utf-8", "replace")
    if not (isinstance(login, str) and isinstance(password, str)):
        raise SaslError(errors.ACCESS_REFUSED, "AMQPLAIN response lacks LOGIN or PASSWORD")
    return Credentials(login, password)


def credentials(mechanism: str, response: bytes | str | None) -> Credentials:
    """The user and password of a PLAIN or AMQPLAIN response (pamqp hands it over as str when
    it decodes as UTF-8, as bytes otherwise)."""
    raw = response.encode("utf-8") if isinstance(response, str) else bytes(response or b"")
    if mechanism == "PLAIN":
        return parse_plain(raw)
    if mechanism == "AMQPLAIN":
        return parse_amqplain(raw)
    raise SaslError(errors.COMMAND_INVALID, f"unknown authentication mechanism '{mechanism}'")
