"""The management API over https (RabbitMQ's management.ssl.port, 15671): --management-tls-port
with the amqps listener's certificate, key and rules, beside the plain http port."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from amqpd.settings import ConfigError, Settings
from amqpd.server import tls
from tests.integration.test_tls import ca, client_context, tls_files  # noqa: F401 (fixtures)
from tests.support.server import BrokerThread


@pytest.fixture(scope="module")
def broker(tls_files: dict[str, str]) -> Iterator[BrokerThread]:  # noqa: F811
    broker = BrokerThread(management_tls_port=0, **tls_files).start()
    yield broker
    broker.stop()


def test_the_api_answers_over_https_and_http(broker, ca):  # noqa: F811
    port = broker.server.management_tls_port
    with httpx.Client(verify=client_context(ca), auth=("guest", "guest")) as client:
        overview = client.get(f"https://localhost:{port}/api/overview")
        assert overview.status_code == 200
        assert {"protocol": "https", "port": port} in [
            {"protocol": item["protocol"], "port": item["port"]} for item in overview.json()["listeners"]]
        assert client.get(f"https://localhost:{port}/api/whoami").json() == {"name": "guest", "tags": ["administrator"]}
    assert httpx.get(f"http://127.0.0.1:{broker.management_port}/api/whoami", auth=("guest", "guest")).status_code == 200


def test_a_client_that_does_not_trust_the_certificate_is_refused(broker):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://localhost:{broker.server.management_tls_port}/api/overview", verify=True)


def test_plain_http_on_the_https_port_gets_no_answer(broker):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(f"http://127.0.0.1:{broker.server.management_tls_port}/api/overview", timeout=5)


def test_https_needs_the_tls_files():
    with pytest.raises(ConfigError, match="management_tls_port needs tls_cert and tls_key"):
        tls.context_for(Settings(management_tls_port=15671))
