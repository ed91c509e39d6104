"""GET /api/health/checks/certificate-expiration/{within}/{unit} over HTTP, with trustme
certificates valid for 10 more days on the amqps and https listeners: RabbitMQ 3.10.8's answers
(checked on it with the same kind of certificate): ok within 5 days, 503 with each listener's
expiring certificates within 11 days / 2 weeks / 1 month, 400 for a bad value or unit."""

from __future__ import annotations

import datetime
from typing import Iterator

import httpx
import pytest
import trustme

from tests.support.server import BrokerThread

UNIT_ERROR = "Time unit not recognised. Supported units: days, weeks, months, years."


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerThread, datetime.datetime]]:
    ca = trustme.CA()
    not_after = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)).replace(microsecond=0)
    leaf = ca.issue_cert("localhost", "127.0.0.1", not_after=not_after)
    directory = tmp_path_factory.mktemp("expiring")
    files = {"tls_cert": str(directory / "server.pem"), "tls_key": str(directory / "server.key"),
             "tls_ca": str(directory / "ca.pem")}
    leaf.cert_chain_pems[0].write_to_path(files["tls_cert"])
    leaf.private_key_pem.write_to_path(files["tls_key"])
    ca.cert_pem.write_to_path(files["tls_ca"])
    broker = BrokerThread(tls_port=0, management_tls_port=0, **files).start()
    yield broker, not_after
    broker.stop()


def check(broker: BrokerThread, within: str) -> httpx.Response:
    return httpx.get(f"{broker.api}/api/health/checks/certificate-expiration/{within}", auth=("guest", "guest"))


def test_no_certificate_expires_within_five_days(short_lived):
    broker, _ = short_lived
    for within in ("5/days", "5/DAYS", "-1/years"):
        reply = check(broker, within)
        assert (reply.status_code, reply.json()) == (200, {"status": "ok"})


def test_certificates_expiring_within_the_window_fail_the_check(short_lived):
    broker, not_after = short_lived
    for within in ("11/days", "2/weeks", "1/months", "1/years"):
        reply = check(broker, within)
        assert reply.status_code == 503
        body = reply.json()
        assert (body["status"], body["reason"]) == ("failed", "Certificates expiring")
        expected = f"{not_after:%Y-%m-%d} {not_after.hour}:{not_after:%M:%S}"
        settings = broker.settings
        assert body["expired"] == [
            {"cacertfile": settings.tls_ca, "cacertfile_expires_on": [], "certfile": settings.tls_cert,
             "certfile_expires_on": [expected], "interface": "127.0.0.1", "node": broker.node.name,
             "port": port, "protocol": protocol}
            for protocol, port in (("amqp/ssl", broker.server.tls_port),
                                   ("https", broker.server.management_tls_port))]


def test_bad_value_or_unit_is_rabbitmqs_400(short_lived):
    broker, _ = short_lived
    for within, reason in (("abc/days", "Invalid expiration value."), ("1.5/days", "Invalid expiration value."),
                           ("abc/fortnights", "Invalid expiration value."), ("1/fortnights", UNIT_ERROR)):
        reply = check(broker, within)
        assert (reply.status_code, reply.json()) == (400, {"error": "bad_request", "reason": reason})
    assert check(broker, f"{10**30}/years").status_code == 503  # past year 9999: everything expires
