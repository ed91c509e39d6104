"""amqpd/config.py and the CLI's option merging: defaults < config file < environment < command line,
and every invalid setting is a ConfigError (one line on the command line, exit 1)."""

from __future__ import annotations

import pytest

from amqpd import cli, config
from amqpd.config import build, load_file
from amqpd.settings import ConfigError, Settings


@pytest.fixture
def toml(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "amqpd.toml"
        path.write_text(text)
        return str(path)
    return write


def test_defaults_are_rabbitmqs():
    """Port 5672 on the IPv4 and IPv6 loopback, guest/guest on '/', heartbeat 60, frame_max 131072, channel_max 2047, 128 MiB messages."""
    s = build({}, {}, environ={})
    assert (s.host, s.amqp_hosts(), s.port) == ("", ("127.0.0.1", "::1"), 5672)
    assert (s.default_user, s.default_pass, s.default_vhost) == ("guest", "guest", "/")
    assert (s.heartbeat, s.frame_max, s.channel_max) == (60, 131072, 2047)
    assert s.max_message_size == 128 * 1024 * 1024
    assert s.handshake_timeout == 10.0
    assert s.all_vhosts() == ["/"]


def test_file_keys_accept_dashes_or_underscores(toml):
    """TOML keys are the option names, with dashes or underscores; tables and arrays map to users and vhosts."""
    path = toml('port = 5999\nframe-max = 8192\nchannel_max = 10\nvhosts = ["a", "b"]\n'
                'handshake_timeout = 3\n[users]\nalice = "pw"\n')
    values = load_file(path)
    assert values == {"port": 5999, "frame_max": 8192, "channel_max": 10, "vhosts": ["a", "b"],
                      "handshake_timeout": 3, "users": {"alice": "pw"}}
    s = build(values, {}, environ={})
    assert (s.port, s.frame_max, s.channel_max) == (5999, 8192, 10)
    assert s.all_vhosts() == ["/", "a", "b"]
    assert s.users == {"alice": "pw"}


def test_precedence_file_then_environment_then_command_line():
    """Later sources win: the environment beats the file, the command line beats both; None means unset."""
    file_values = {"port": 1111, "default_user": "file-user", "heartbeat": 5}
    env = {"RABBITMQ_NODE_PORT": "2222", "RABBITMQ_DEFAULT_USER": "env-user"}
    s = build(file_values, {"port": 3333, "heartbeat": None}, environ=env)
    assert s.port == 3333
    assert s.default_user == "env-user"
    assert s.heartbeat == 5


def test_rabbitmq_environment_variables():
    """RABBITMQ_NODE_PORT / _DEFAULT_USER / _DEFAULT_PASS / _DEFAULT_VHOST configure amqpd like RabbitMQ."""
    env = {"RABBITMQ_NODE_PORT": "5673", "RABBITMQ_DEFAULT_USER": "admin",
           "RABBITMQ_DEFAULT_PASS": "secret", "RABBITMQ_DEFAULT_VHOST": "prod"}
    s = build({}, {}, environ=env)
    assert (s.port, s.default_user, s.default_pass, s.default_vhost) == (5673, "admin", "secret", "prod")
    assert s.all_vhosts() == ["prod"]


def test_bad_environment_port():
    with pytest.raises(ConfigError, match=r"RABBITMQ_NODE_PORT='abc' is not a valid port"):
        build({}, {}, environ={"RABBITMQ_NODE_PORT": "abc"})


@pytest.mark.parametrize("text, message", [
    ("prot = 1\n", "unknown setting 'prot'"),
    ('port = "5672"\n', "port = '5672' is not an integer"),
    ("port = true\n", "port = True is not an integer"),
    ("heartbeat = 1.5\n", "heartbeat = 1.5 is not an integer"),
    ('vhosts = "a"\n', "vhosts = 'a' is not a list of strings"),
    ("vhosts = [1]\n", "vhosts = [1] is not a list of strings"),
    ('users = ["alice"]\n', "users = ['alice'] is not a table of strings"),
    ("[users]\nalice = 1\n", "users = {'alice': 1} is not a table of strings"),
    ('handshake_timeout = "x"\n', "handshake_timeout = 'x' is not a number"),
    ("port = \n", "is not valid TOML"),
])
def test_bad_file_values_are_config_errors(toml, text, message):
    """Unknown keys, wrong types and TOML syntax errors are reported as one ConfigError naming the file."""
    path = toml(text)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert message in str(info.value)
    assert path in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="config file /nonexistent/amqpd.toml does not exist"):
        load_file("/nonexistent/amqpd.toml")


@pytest.mark.parametrize("values, message", [
    ({"port": 65536}, "port 65536 is out of range 0-65535"),
    ({"port": -1}, "port -1 is out of range 0-65535"),
    ({"frame_max": 4095}, "frame_max 4095 is below the AMQP minimum of 4096"),
    ({"channel_max": 65536}, "channel_max 65536 is out of range 0-65535"),
    ({"heartbeat": -1}, "heartbeat -1 is out of range 0-65535"),
    ({"heartbeat": 65536}, "heartbeat 65536 is out of range 0-65535"),
    ({"max_message_size": 0}, "max_message_size 0 is out of range 1-536870912"),
    ({"max_message_size": 536870913}, "max_message_size 536870913 is out of range 1-536870912"),
    ({"memory_limit": -1}, "memory_limit must not be negative"),
    ({"log_format": "xml"}, "log_format must be console or json, not 'xml'"),
    ({"log_level": "loud"}, "log_level must be debug, info, warning or error, not 'loud'"),
    ({"default_user": ""}, "user names must not be empty"),
    ({"users": {"": "pw"}}, "user names must not be empty"),
])
def test_invalid_values_are_rejected(values, message):
    """validate() refuses values RabbitMQ would refuse or that cannot be put on the wire."""
    with pytest.raises(ConfigError) as info:
        build(values, {}, environ={})
    assert str(info.value) == message


@pytest.mark.parametrize("values", [
    {"port": 0}, {"port": 65535}, {"frame_max": 0}, {"frame_max": 4096}, {"heartbeat": 0},
    {"channel_max": 0}, {"max_message_size": 536870912}, {"memory_limit": 0}, {"log_level": "DEBUG"},
])
def test_boundary_values_are_accepted(values):
    s = build(values, {}, environ={})
    assert all(getattr(s, k) == v for k, v in values.items())


def test_all_vhosts_puts_the_default_first_without_duplicates():
    s = Settings(default_vhost="main", vhosts=["x", "main", "y", "x"])
    assert s.all_vhosts() == ["main", "x", "y"]


def test_field_types_cover_every_setting():
    """Every Settings field has a resolved type for file validation."""
    assert config.FIELD_TYPES["port"] is int
    assert config.FIELD_TYPES["handshake_timeout"] is float
    assert set(config.FIELD_TYPES) == set(Settings.__dataclass_fields__)


# -- the command line on top of the file ---------------------------------------------------------

def test_cli_overrides_file(toml, monkeypatch):
    """Command-line options beat the config file; unset options leave the file's values alone."""
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    path = toml('port = 6000\nheartbeat = 7\nlog-format = "json"\n')
    s = cli.settings_from(["--config", path, "--port", "6001", "--frame-max", "65536"])
    assert (s.port, s.heartbeat, s.frame_max, s.log_format) == (6001, 7, 65536, "json")


def test_cli_vhosts_and_users_add_to_the_files(toml, monkeypatch):
    """--vhost and --user extend the file's vhosts and users (a repeated user takes the CLI password)."""
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    path = toml('vhosts = ["a"]\n[users]\nalice = "file"\nbob = "b"\n')
    s = cli.settings_from(["--config", path, "--vhost", "b", "--vhost", "c", "--user", "alice:cli:colon"])
    assert s.all_vhosts() == ["/", "a", "b", "c"]
    assert s.users == {"alice": "cli:colon", "bob": "b"}


def test_cli_without_file(monkeypatch):
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    s = cli.settings_from(["--vhost", "v1", "--user", "u:p", "--default-user", "root", "--default-pass", "r"])
    assert s.all_vhosts() == ["/", "v1"]
    assert s.users == {"u": "p"}
    assert (s.default_user, s.default_pass) == ("root", "r")


def test_cli_environment_beats_file_but_not_options(toml, monkeypatch):
    monkeypatch.setenv("RABBITMQ_NODE_PORT", "7001")
    monkeypatch.setenv("RABBITMQ_DEFAULT_VHOST", "envhost")
    path = toml('port = 7000\ndefault_vhost = "filehost"\n')
    assert cli.settings_from(["--config", path]).port == 7001
    assert cli.settings_from(["--config", path]).default_vhost == "envhost"
    assert cli.settings_from(["--config", path, "--port", "7002"]).port == 7002


def test_cli_bad_user_syntax_is_an_argparse_error(capsys):
    """--user needs NAME:PASSWORD; argparse reports it (exit status 2, usage on stderr)."""
    with pytest.raises(SystemExit) as info:
        cli.settings_from(["--user", "nopassword"])
    assert info.value.code == 2
    assert "expected NAME:PASSWORD, got 'nopassword'" in capsys.readouterr().err


def test_main_reports_config_errors_in_one_line(toml, capsys, monkeypatch):
    """main() turns a ConfigError into 'amqpd: error: ...' on stderr and returns 1."""
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["--config", toml("bogus = 1\n")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("amqpd: error: config file ")
    assert "unknown setting 'bogus'" in err


# -- permissions ----------------------------------------------------------------------------------

def test_permissions_from_file_and_command_line(toml, monkeypatch):
    """TOML `permissions = { user = [vhosts] }` and repeatable --permission USER:VHOST add up;
    USER:VHOST splits at the first colon, so vhost names keep theirs."""
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    path = toml('vhosts = ["staging", "a:b:c"]\npermissions = { app = ["staging", "/"] }\n'
                '[users]\napp = "pw"\nops = "pw"\n')
    assert load_file(path)["permissions"] == {"app": ["staging", "/"]}
    s = cli.settings_from(["--config", path, "--permission", "ops:a:b:c", "--permission", "app:a:b:c"])
    assert s.permissions == {"app": ["staging", "/", "a:b:c"], "ops": ["a:b:c"]}
    assert cli.settings_from(["--config", path]).permissions == {"app": ["staging", "/"]}


@pytest.mark.parametrize("values, message", [
    ({"permissions": {"nobody": ["/"]}}, "permission for unknown user 'nobody'"),
    ({"users": {"app": "pw"}, "permissions": {"app": ["/", "staging"]}},
     "permission of user 'app' on unknown vhost 'staging'"),
])
def test_permission_for_unknown_user_or_vhost_is_a_config_error(values, message):
    with pytest.raises(ConfigError) as info:
        build(values, {}, environ={})
    assert str(info.value) == message


def test_permissions_must_be_a_table_of_lists(toml):
    path = toml('permissions = { app = "/" }\n')
    with pytest.raises(ConfigError, match=r"permissions = \{'app': '/'\} is not a table of lists of strings"):
        load_file(path)


def test_cli_bad_permission_syntax_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.settings_from(["--permission", "novhost"])
    assert info.value.code == 2
    assert "expected USER:VHOST, got 'novhost'" in capsys.readouterr().err


def test_main_reports_an_unknown_permission_user_in_one_line(capsys, monkeypatch):
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["--permission", "ghost:/"]) == 1
    assert capsys.readouterr().err == "amqpd: error: permission for unknown user 'ghost'\n"


# -- secrets kept out of the command line --------------------------------------------------------

def test_users_file_and_default_pass_file(tmp_path, monkeypatch):
    """--users-file holds NAME:PASSWORD lines (colons allowed in the password, # comments and blank
    lines skipped); --default-pass-file holds the password, its final line break dropped."""
    for var in config.ENVIRONMENT:
        monkeypatch.delenv(var, raising=False)
    users = tmp_path / "users"
    users.write_text("# team accounts\napp:s3:cr3t\n\nops: spaced pw \n")
    secret = tmp_path / "pass"
    secret.write_text("root-pw\n")
    s = cli.settings_from(["--users-file", str(users), "--default-pass-file", str(secret), "--user", "ops:cli"])
    assert s.users == {"app": "s3:cr3t", "ops": "cli"}  # --user wins for a name in both
    assert s.default_pass == "root-pw"
    s = build({"users_file": str(users), "default_pass": "ignored", "default_pass_file": str(secret)}, {},
              environ={"RABBITMQ_DEFAULT_PASS": "also-ignored"})
    assert s.users == {"app": "s3:cr3t", "ops": " spaced pw "}
    assert s.default_pass == "root-pw"


@pytest.mark.parametrize("content, message", [
    ("app:pw\nno-colon-secret\n", "users file {path}, line 2: expected NAME:PASSWORD"),
    (":pw\n", "users file {path}, line 1: expected NAME:PASSWORD"),
])
def test_bad_users_file_line_is_named_without_its_content(tmp_path, content, message):
    path = tmp_path / "users"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        build({"users_file": str(path)}, {}, environ={})
    assert str(info.value) == message.format(path=path)
    assert "secret" not in str(info.value)


def test_missing_secret_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=f"cannot read users file {tmp_path}/none: No such file or directory"):
        build({"users_file": str(tmp_path / "none")}, {}, environ={})
    with pytest.raises(ConfigError, match=f"cannot read password file {tmp_path}/none: No such file or directory"):
        build({}, {"default_pass_file": str(tmp_path / "none")}, environ={})
