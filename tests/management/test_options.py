"""The management options (command line, config file, environment) and the process around the API:
its start-up line before the unchanged "Server startup complete" line, a bind error in one line,
and a clean SIGTERM with an HTTP client still connected."""

from __future__ import annotations

import re
import signal
import socket

import httpx
import pytest

from amqpd import cli, config
from tests.integration.test_cli import Amqpd, clean_env, run

MANAGEMENT = re.compile(r"started management listener on http://127\.0\.0\.1:(\d+)")
STARTUP = re.compile(r"Server startup complete; listening on amqp://127\.0\.0\.1:(\d+)")


def test_defaults_and_options():
    settings = config.build({}, {}, environ={})
    assert (settings.management, settings.management_port, settings.http_hosts()) == (True, 15672, ("127.0.0.1", "::1"))
    settings = cli.settings_from(["--host", "::", "--management-port", "0"])
    assert (settings.management_port, settings.http_hosts()) == (0, ("::",))
    settings = cli.settings_from(["--management-host", "0.0.0.0", "--no-management"])
    assert (settings.management, settings.http_hosts()) == (False, ("0.0.0.0",))
    settings = config.build({}, {}, environ={"AMQPD_MANAGEMENT_PORT": "1567", "AMQPD_MANAGEMENT": "false"})
    assert (settings.management_port, settings.management) == (1567, False)
    with pytest.raises(config.ConfigError, match="management_port 70000 is out of range"):
        cli.settings_from(["--management-port", "70000"])


def test_user_tags(tmp_path):
    path = tmp_path / "amqpd.toml"
    path.write_text('[users]\nops = "pw"\n[user_tags]\nops = ["monitoring"]\n')
    settings = cli.settings_from(["--config", str(path), "--user", "app:pw", "--user-tags", "app:management,policymaker"])
    assert settings.user_tags == {"ops": ["monitoring"], "app": ["management", "policymaker"]}
    assert cli.settings_from(["--user-tags", "guest:"]).user_tags == {"guest": []}
    with pytest.raises(config.ConfigError, match="tags for unknown user 'ghost'"):
        cli.settings_from(["--user-tags", "ghost:management"])


def test_start_up_lines_and_a_clean_sigterm_with_a_client_connected(tmp_path):
    server = Amqpd("--port", "0", data_dir=tmp_path / "data")
    try:
        http_port = int(server.wait_for(MANAGEMENT).group(1))
        amqp_port = int(server.wait_for(STARTUP).group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", auth=("guest", "guest")) as api:
            assert api.get("/api/overview").json()["listeners"][0]["port"] == amqp_port  # keep-alive stays open
            server.proc.send_signal(signal.SIGTERM)
            code, log = server.finish()
        assert code == 0
        lines = log.splitlines()
        assert "Server startup complete" in [line for line in lines if "listener" in line or "startup" in line][-1]
    finally:
        server.kill()


def test_no_management_starts_no_http_listener(tmp_path):
    server = Amqpd("--port", "0", "--no-management", data_dir=tmp_path / "data")
    try:
        server.wait_for(STARTUP)
        server.proc.send_signal(signal.SIGTERM)
        code, log = server.finish()
        assert code == 0 and "management listener" not in log
    finally:
        server.kill()


def test_a_busy_management_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--port", "0", "--management-port", str(port), "--data-dir", str(tmp_path / "d"),
                     env=clean_env())
    assert result.returncode == 1
    assert result.stderr == f"amqpd: error: cannot listen on 127.0.0.1:{port}: address already in use\n"
