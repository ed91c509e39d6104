"""When the certificates in a PEM file stop being valid, for the certificate-expiration health
check (RabbitMQ's rabbit_mgmt_wm_health_check_certificate_expiration).

Read with the standard library only: the PEM blocks are base64 (``ssl.PEM_cert_to_DER_cert``
decodes one), and an X.509 certificate's validity sits at a fixed place of its DER encoding
(Certificate > TBSCertificate > [version], serial, signature, issuer, validity), so a walk over
five DER headers finds notBefore / notAfter. The ``cryptography`` package would do the same but is
not a dependency of amqpd (trustme brings it to the tests only), and ``ssl._ssl._test_decode_cert``
is a private CPython test helper.
"""

from __future__ import annotations

import datetime
import re
import ssl
from dataclasses import dataclass

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)
_VERSION = 0xA0  # the explicit [0] tag of TBSCertificate's version
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18


class CertificateError(ValueError):
    """A file that holds no readable certificate; the text is what the health check reports."""


@dataclass(frozen=True)
class Validity:
    not_before: datetime.datetime
    not_after: datetime.datetime


def validities(path: str) -> list[Validity]:
    """The validity of each certificate in a PEM file, in the file's order."""
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        raise CertificateError(f"{exc.strerror}: {path}") from None
    blocks = list(_PEM.finditer(text))
    if not blocks:
        raise CertificateError("The certificate file provided does not contain any PEM entry.")
    found = []
    for block in blocks:
        if block.group(1) != "CERTIFICATE":
            raise CertificateError(f"The certificate file provided contains a {block.group(1)} entry")
        try:
            found.append(_validity(ssl.PEM_cert_to_DER_cert(block.group(0))))
        except (ValueError, IndexError):
            raise CertificateError("The certificate file provided holds a certificate that cannot be read") from None
    return found


def _header(der: bytes, at: int) -> tuple[int, int, int]:
    """A DER element at ``at``: its tag, where its content starts and where it ends."""
    tag, length = der[at], der[at + 1]
    at += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[at:at + size], "big")
        at += size
    if at + length > len(der):
        raise ValueError("truncated DER element")
    return tag, at, at + length


def _validity(der: bytes) -> Validity:
    _, at, _ = _header(der, 0)  # Certificate
    _, at, _ = _header(der, at)  # TBSCertificate
    tag, _, end = _header(der, at)
    if tag == _VERSION:
        tag, _, end = _header(der, end)
    for _ in range(2):  # after the serialNumber: signature, issuer
        tag, _, end = _header(der, end)
    _, at, _ = _header(der, end)  # validity
    tag, start, end = _header(der, at)
    not_before = _time(tag, der[start:end])
    tag, start, end = _header(der, end)
    return Validity(not_before, _time(tag, der[start:end]))


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode("ascii").rstrip("Z")
    if tag == _UTC_TIME:  # YYMMDDHHMMSS: 1950-2049 (RFC 5280)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError("not a time")
    return datetime.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=datetime.timezone.utc)
