"""The `amqpd` command, run as a subprocess: options, startup line, signals, errors, config file, env vars."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pika
import pytest
from pamqp import commands

from amqpd import logs
from tests.support.process import CONSOLE_SCRIPT, PYTHON, STARTUP, WAIT, Amqpd, clean_env
from tests.support.raw import RawClient

SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"


@pytest.fixture
def amqpd(tmp_path):
    """Start amqpd processes; any still running at the end are killed."""
    started: list[Amqpd] = []

    def start(*args: str, **kwargs) -> Amqpd:
        process = Amqpd(*args, data_dir=tmp_path / "data", **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def busy_port():
    """A port some other socket is listening on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "amqpd", *args], capture_output=True, text=True, timeout=WAIT,
                          env=env or clean_env(), stdin=subprocess.DEVNULL)


def round_trip(port: int, user: str = "guest", password: str = "guest", vhost: str = "/") -> bytes:
    params = pika.ConnectionParameters("127.0.0.1", port, vhost, pika.PlainCredentials(user, password))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"ping")
    body = ch.basic_get(q, auto_ack=True)[2]
    conn.close()
    return body


def test_help_lists_the_options():
    """--help documents every option named in the README and exits 0."""
    result = run("--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--config", "--data-dir", "--log-level", "--log-format",
                   "--heartbeat", "--frame-max", "--channel-max", "--vhost", "--user", "--memory-limit",
                   "--users-file", "--default-pass-file", "--permission"):
        assert option in result.stdout


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"amqpd \d+\.\d+\.\d+ \((compiled|interpreted)\)\n", result.stdout)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_starts_serves_and_stops_on_signal(amqpd, signum):
    """--port 0: the startup line names the port, pika works, SIGTERM/SIGINT shut down cleanly with status 0."""
    server = amqpd("--port", "0")
    port = server.started()
    assert round_trip(port) == b"ping"
    server.proc.send_signal(signum)
    code, stderr = server.finish()
    assert code == 0
    assert f"signal={signum.name}" in stderr
    assert "shutting down" in stderr
    assert "amqpd stopped" in stderr
    assert "Traceback" not in stderr


def test_connected_client_gets_connection_forced_on_shutdown(amqpd):
    """Clients open at shutdown get Connection.Close(320, RabbitMQ's shutdown text, 0, 0); then the process exits 0."""
    server = amqpd("--port", "0")
    port = server.started()
    raw = RawClient.connect(port)
    server.proc.send_signal(signal.SIGTERM)
    close = raw.expect_connection_close()  # replies Close-Ok
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (320, SHUTDOWN_TEXT, 0, 0)
    raw.close()
    code, _ = server.finish()
    assert code == 0


def test_pika_sees_the_shutdown_close(amqpd):
    """pika reports ConnectionClosedByBroker(320, ...) when the broker shuts down under it."""
    server = amqpd("--port", "0")
    port = server.started()
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    server.proc.send_signal(signal.SIGTERM)
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        conn.process_data_events(time_limit=WAIT)
    assert (info.value.reply_code, info.value.reply_text) == (320, SHUTDOWN_TEXT)
    assert server.finish()[0] == 0


def test_client_that_never_answers_close_does_not_stop_shutdown(amqpd):
    """A client that ignores the broker's Connection.Close does not keep amqpd alive: it still exits 0."""
    server = amqpd("--port", "0")
    port = server.started()
    raw = RawClient(port)
    raw.handshake()
    server.proc.send_signal(signal.SIGTERM)
    close = raw.expect(commands.Connection.Close, 0)  # no Close-Ok sent
    assert close.reply_code == 320
    code, _ = server.finish()
    raw.close()
    assert code == 0


def test_port_in_use_is_one_error_line_and_status_1(busy_port):
    """Address already in use: exactly one line on stderr, no traceback, exit status 1."""
    result = run("--port", str(busy_port))
    assert result.returncode == 1
    assert result.stderr == f"amqpd: error: cannot listen on 127.0.0.1:{busy_port}: address already in use\n"


def test_unusable_host_is_one_error_line_and_status_1():
    """A host address that cannot be bound: one line naming it, exit status 1."""
    result = run("--host", "192.0.2.1", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("amqpd: error: cannot listen on 192.0.2.1:0: ")
    assert result.stderr.count("\n") == 1


def test_out_of_range_port_is_one_error_line():
    result = run("--port", "70000")
    assert result.returncode == 1
    assert result.stderr == "amqpd: error: port 70000 is out of range 0-65535\n"


def test_json_log_format(amqpd):
    """--log-format json: every stderr line is a JSON object with event, level and timestamp."""
    server = amqpd("--port", "0", "--log-format", "json")
    port = server.started()
    assert round_trip(port) == b"ping"
    server.proc.send_signal(signal.SIGTERM)
    code, stderr = server.finish()
    assert code == 0
    records = [json.loads(line) for line in stderr.splitlines()]
    assert all({"event", "level", "timestamp"} <= set(r) for r in records)
    startup = next(r for r in records if r["event"].startswith("Server startup complete"))
    assert (startup["level"], startup["port"], startup["hosts"]) == ("info", port, ["127.0.0.1", "::1"])
    assert any(r["event"] == "connection opened" and r["user"] == "guest" for r in records)
    assert records[-1]["event"] == "amqpd stopped"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect_when_listening(port: int) -> socket.socket:
    """A TCP connection to port, retried until amqpd listens (it logs no startup line at this level)."""
    for _ in range(200):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        except ConnectionRefusedError:
            time.sleep(0.05)  # polling for the listener: there is no line to wait for at this log level
    pytest.fail(f"nothing listening on {port}")


def test_log_level_warning_hides_info(amqpd):
    """--log-level warning: info lines (even the startup line) are dropped, warnings are still logged."""
    port = free_port()
    server = amqpd("--port", str(port), "--log-level", "warning", "--log-format", "json")
    connect_when_listening(port).close()
    raw = RawClient(port)
    raw.send_bytes(b"AMQP\x00\x00\x09\x01")
    raw.expect(commands.Connection.Start, 0)
    raw.send(0, commands.Connection.StartOk(client_properties={"capabilities": {"authentication_failure_close": True}},
                                            mechanism="PLAIN", response="\0guest\0wrong", locale="en_US"))
    assert raw.expect(commands.Connection.Close, 0).reply_code == 403
    raw.close()
    server.wait_for(re.compile("authentication failed"))
    server.proc.send_signal(signal.SIGTERM)
    code, stderr = server.finish()
    assert code == 0
    levels = {json.loads(line)["level"] for line in stderr.splitlines()}
    assert levels == {"warning"}


def test_config_file_sets_options_and_cli_overrides(amqpd, tmp_path, busy_port):
    """A TOML file sets vhosts, users, permissions, heartbeat, channel_max and port; --port and --channel-max
    override it."""
    path = tmp_path / "amqpd.toml"
    path.write_text(f'port = {busy_port}\nheartbeat = 17\nchannel-max = 100\nvhosts = ["app"]\n'
                    'permissions = { alice = ["app"] }\n[users]\nalice = "wonderland"\n')
    server = amqpd("--config", str(path), "--port", "0", "--channel-max", "50")
    port = server.started()
    assert port != busy_port
    raw = RawClient(port)
    tune = raw.handshake(user="alice", password="wonderland", vhost="app")
    assert (tune.heartbeat, tune.channel_max) == (17, 50)
    raw.close()
    assert round_trip(port, "alice", "wonderland", "app") == b"ping"
    server.proc.send_signal(signal.SIGTERM)
    assert server.finish()[0] == 0


@pytest.mark.parametrize("text, message", [
    ("colour = 1\n", "unknown setting 'colour'"),
    ('heartbeat = "often"\n', "heartbeat = 'often' is not an integer"),
    ("frame_max = 100\n", "frame_max 100 is below the AMQP minimum of 4096"),
    ("port = [\n", "is not valid TOML"),
])
def test_bad_config_file_is_one_error_line(tmp_path, text, message):
    """An unknown key, a wrongly typed or invalid value, or bad TOML: one line on stderr, exit status 1."""
    path = tmp_path / "amqpd.toml"
    path.write_text(text)
    result = run("--config", str(path), "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("amqpd: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_config_file(tmp_path):
    result = run("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert result.stderr == f"amqpd: error: config file {tmp_path / 'nope.toml'} does not exist\n"


def test_rabbitmq_environment_variables_are_honoured(amqpd):
    """RABBITMQ_NODE_PORT, RABBITMQ_DEFAULT_USER/PASS/VHOST configure amqpd as they configure RabbitMQ."""
    env = clean_env(RABBITMQ_NODE_PORT="0", RABBITMQ_DEFAULT_USER="admin", RABBITMQ_DEFAULT_PASS="s3cret",
                    RABBITMQ_DEFAULT_VHOST="prod")
    server = amqpd(env=env)
    port = server.started()
    assert round_trip(port, "admin", "s3cret", "prod") == b"ping"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        round_trip(port, "guest", "guest", "prod")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        round_trip(port, "admin", "s3cret", "/")
    server.proc.send_signal(signal.SIGTERM)
    assert server.finish()[0] == 0


def test_cli_option_beats_environment(amqpd, busy_port):
    """--port wins over RABBITMQ_NODE_PORT."""
    server = amqpd("--port", "0", env=clean_env(RABBITMQ_NODE_PORT=str(busy_port)))
    assert server.started() != busy_port
    server.proc.send_signal(signal.SIGTERM)
    assert server.finish()[0] == 0


def test_bad_environment_port_is_one_error_line():
    result = run(env=clean_env(RABBITMQ_NODE_PORT="fast"))
    assert result.returncode == 1
    assert result.stderr == "amqpd: error: RABBITMQ_NODE_PORT='fast' is not a valid port\n"


def test_console_script(amqpd):
    """The installed `amqpd` console script runs the same program."""
    assert os.access(CONSOLE_SCRIPT, os.X_OK)
    server = amqpd("--port", "0", command=[CONSOLE_SCRIPT])
    port = server.started()
    assert round_trip(port) == b"ping"
    server.proc.send_signal(signal.SIGINT)
    assert server.finish()[0] == 0


def test_passwords_from_files_stay_out_of_the_command_line(amqpd, tmp_path):
    """--users-file and --default-pass-file: the users log in, and no password is in the process's argv."""
    users = tmp_path / "users"
    users.write_text("alice:al1ce-secret\n")
    secret = tmp_path / "admin-pass"
    secret.write_text("adm1n-secret\n")
    server = amqpd("--port", "0", "--default-user", "admin", "--default-pass-file", str(secret),
                   "--users-file", str(users), "--permission", "alice:/")
    port = server.started()
    assert round_trip(port, "admin", "adm1n-secret") == b"ping"
    assert round_trip(port, "alice", "al1ce-secret") == b"ping"
    cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
    assert b"secret" not in cmdline and str(users).encode() in cmdline
    server.proc.send_signal(signal.SIGTERM)
    assert server.finish()[0] == 0


def nested_start_ok(depth: int) -> bytes:
    """A Connection.Start-Ok frame whose client_properties nest `depth` tables deep (4 KB at most, the
    frame size allowed before tuning), with a wrong password: whether the broker can decode it or
    not, it closes the connection without a frame (the client announced no capabilities)."""
    table = struct.pack(">I", 0)
    for _ in range(depth):
        entry = b"\x01aF" + table
        table = struct.pack(">I", len(entry)) + entry
    payload = (struct.pack(">HH", 10, 11) + table + b"\x05PLAIN" + struct.pack(">I", 12) + b"\0guest\0wrong"
               + b"\x05en_US")
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


def test_a_flood_of_hostile_handshakes_logs_a_bounded_amount(amqpd):
    """30 clients send deeply nested tables in Start-Ok, before logging in: the log gets at most
    LINES_PER_INTERVAL lines of each kind, each line a few kilobytes at most (a traceback, if any,
    is cut), instead of a quarter megabyte of traceback per connection."""
    server = amqpd("--port", "0", "--log-format", "json")
    port = server.started()
    frame = nested_start_ok(500)
    assert len(frame) <= 4096

    def hostile() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01" + frame)
            received = b""
            while data := sock.recv(65536):  # the broker closes the socket once it gave up on us
                received += data
            return received

    with ThreadPoolExecutor(30) as pool:
        replies = list(pool.map(lambda _: hostile(), range(30)))
    assert all(reply.startswith(b"\x01\x00\x00") for reply in replies)  # Connection.Start, then the close
    server.proc.send_signal(signal.SIGTERM)
    code, stderr = server.finish()
    assert code == 0
    records = [json.loads(line) for line in stderr.splitlines()]
    assert max(map(len, stderr.splitlines())) < logs.TRACEBACK_CHARS + 1024
    kinds = Counter((r["event"], r.get("code")) for r in records if r["level"] in ("warning", "error"))
    assert kinds and max(kinds.values()) <= logs.LINES_PER_INTERVAL
    assert all("exception" not in r for r in records if r["event"] != "internal error while handling a frame")


def test_double_colon_host_is_dual_stack(amqpd):
    """--host :: : the start-up line shows the address in URL brackets, and IPv4 clients get in too."""
    server = amqpd("--host", "::", "--port", "0")
    port = int(server.wait_for(re.compile(r"Server startup complete; listening on amqp://\[::\]:(\d+)")).group(1))
    assert round_trip(port) == b"ping"  # over 127.0.0.1
    server.proc.send_signal(signal.SIGTERM)
    assert server.finish()[0] == 0


DEFINITIONS = {
    "users": [{"name": "dora", "password": "pw", "tags": ""}],
    "vhosts": [{"name": "boot"}],
    "permissions": [{"user": "dora", "vhost": "boot", "configure": ".*", "write": ".*", "read": ".*"}],
    "queues": [{"name": "bq", "vhost": "boot", "durable": True, "auto_delete": False, "arguments": {}}],
}


def test_definitions_file_is_imported_at_start_and_skipped_when_unchanged(amqpd, tmp_path):
    """--definitions imports after recovery; a restart with the same file (AMQPD_DEFINITIONS) skips it
    (a queue deleted since stays deleted), a changed file (`definitions` in the config file) is imported again."""
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(DEFINITIONS))
    first = amqpd("--port", "0", "--definitions", str(path))
    port = first.started()
    assert any("imported definitions" in line for line in first.lines)
    params = pika.ConnectionParameters("127.0.0.1", port, "boot", pika.PlainCredentials("dora", "pw"))
    with pika.BlockingConnection(params) as conn:
        assert conn.channel().queue_declare("bq", passive=True).method.queue == "bq"
        conn.channel().queue_delete("bq")
    first.proc.send_signal(signal.SIGTERM)
    assert first.finish()[0] == 0
    second = amqpd("--port", "0", env=clean_env(AMQPD_DEFINITIONS=str(path)))
    second.wait_for(re.compile("definitions file unchanged since its last import, skipped"))
    port = second.started()
    params = pika.ConnectionParameters("127.0.0.1", port, "boot", pika.PlainCredentials("dora", "pw"))
    with pika.BlockingConnection(params) as conn:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            conn.channel().queue_declare("bq", passive=True)
    second.proc.send_signal(signal.SIGTERM)
    assert second.finish()[0] == 0
    path.write_text(json.dumps(DEFINITIONS, indent=1))
    config = tmp_path / "amqpd.toml"
    config.write_text(f"definitions = {json.dumps(str(path))}\n")
    third = amqpd("--port", "0", "--config", str(config))
    third.wait_for(re.compile("imported definitions"))
    port = third.started()
    with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, "boot",
                                                           pika.PlainCredentials("dora", "pw"))) as conn:
        assert conn.channel().queue_declare("bq", passive=True).method.queue == "bq"


@pytest.mark.parametrize("text, message", [
    ("{bad", "cannot import definitions file {path}: failed_to_parse_json"),
    ('{"queues":[{"name":"q","vhost":"nope"}]}', 'cannot import definitions file {path}: ["no_such_vhost", "nope"]'),
])
def test_bad_definitions_file_is_one_error_line(tmp_path, text, message):
    path = tmp_path / "defs.json"
    path.write_text(text)
    result = run("--port", "0", "--data-dir", str(tmp_path / "data"), "--definitions", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"amqpd: error: {message.format(path=path)}"
    assert result.stderr.count("amqpd: error") == 1


def test_missing_definitions_file_is_one_error_line(tmp_path):
    result = run("--port", "0", "--data-dir", str(tmp_path / "data"), "--definitions", str(tmp_path / "nope.json"))
    assert result.returncode == 1
    message = f"cannot read definitions file {tmp_path / 'nope.json'}: No such file or directory"
    assert result.stderr == f"amqpd: error: {message}\n"
