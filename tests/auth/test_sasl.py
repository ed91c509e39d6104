"""SASL responses parsed from plain values: PLAIN and AMQPLAIN, and the replies RabbitMQ gives
for responses that yield no credentials (never quoting the response: it holds the password)."""

from __future__ import annotations

import pytest

from amqpd.auth import sasl
from amqpd.protocol import tables


def amqplain(fields: dict[str, object]) -> bytes:
    """An AMQPLAIN response: a field table without its length prefix."""
    return tables.encode_table(fields)[4:]


def test_plain_gives_user_and_password():
    assert sasl.credentials("PLAIN", b"\0guest\0s3cret") == sasl.Credentials("guest", "s3cret")


def test_plain_as_str_is_the_same_response():
    assert sasl.credentials("PLAIN", "\0gäst\0pw") == sasl.Credentials("gäst", "pw")


@pytest.mark.parametrize("response", [b"guest\0s3cret", b"authz\0guest\0s3cret", b"\0a\0b\0c", b"", None])
def test_malformed_plain_is_502_without_the_response(response):
    with pytest.raises(sasl.SaslError) as caught:
        sasl.credentials("PLAIN", response)
    assert (caught.value.code, caught.value.detail) == (502, "response <<...>> invalid")
    assert "s3cret" not in str(caught.value)


def test_amqplain_gives_login_and_password():
    response = amqplain({"LOGIN": "guest", "PASSWORD": "s3cret"})
    assert sasl.credentials("AMQPLAIN", response) == sasl.Credentials("guest", "s3cret")


@pytest.mark.parametrize("response", [
    amqplain({"LOGIN": "guest"}),
    amqplain({"LOGIN": "guest", "PASSWORD": 5}),
    b"\x05LOGINS\x00\x00",  # a truncated table
])
def test_amqplain_without_both_fields_is_403(response):
    with pytest.raises(sasl.SaslError) as caught:
        sasl.credentials("AMQPLAIN", response)
    assert (caught.value.code, caught.value.detail) == (403, "AMQPLAIN response lacks LOGIN or PASSWORD")


def test_an_unknown_mechanism_is_503():
    with pytest.raises(sasl.SaslError) as caught:
        sasl.credentials("CRAM-MD5", b"x")
    assert (caught.value.code, caught.value.detail) == (503, "unknown authentication mechanism 'CRAM-MD5'")
