"""Settings of one amqpd node from their sources: defaults, a TOML config file, environment, then the
command line (the Settings themselves are amqpd/settings.py's)."""

from __future__ import annotations

import os
import tomllib
import types
from typing import Any, get_args, get_origin, get_type_hints

from amqpd.settings import ConfigError, Settings

FIELD_TYPES: dict[str, Any] = get_type_hints(Settings)

# RabbitMQ's environment variables, honoured so tools that configure RabbitMQ this way
# (testcontainers among them) configure amqpd too.
ENVIRONMENT = {
    "RABBITMQ_NODE_PORT": ("port", int),
    "RABBITMQ_DEFAULT_USER": ("default_user", str),
    "RABBITMQ_DEFAULT_PASS": ("default_pass", str),
    "RABBITMQ_DEFAULT_VHOST": ("default_vhost", str),
    "RABBITMQ_NODENAME": ("node_name", str),
    "RABBITMQ_PID_FILE": ("pid_file", str),
}


def _boolean(text: str) -> bool:
    """An environment variable's true/false (also 1/0, yes/no)."""
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.strip().lower())
    if value is None:
        raise ValueError(text)
    return value


def consumer_timeout(text: str) -> int | bool:
    """Milliseconds, or false for off (RabbitMQ's rabbitmq.conf takes positive integers only;
    its advanced.config turns the timeout off with a non-integer)."""
    return False if text.strip().lower() == "false" else int(text)


# RabbitMQ configures TLS only in its config file; these are amqpd's own.
ENVIRONMENT.update({
    "AMQPD_TLS_PORT": ("tls_port", int),
    "AMQPD_TLS_CERT": ("tls_cert", str),
    "AMQPD_TLS_KEY": ("tls_key", str),
    "AMQPD_TLS_CA": ("tls_ca", str),
    "AMQPD_TLS_VERIFY": ("tls_verify", str),
    "AMQPD_TLS_FAIL_IF_NO_PEER_CERT": ("tls_fail_if_no_peer_cert", _boolean),
    "AMQPD_MANAGEMENT": ("management", _boolean),
    "AMQPD_MANAGEMENT_PORT": ("management_port", int),
    "AMQPD_MANAGEMENT_HOST": ("management_host", str),
    "AMQPD_MANAGEMENT_TLS_PORT": ("management_tls_port", int),
    "AMQPD_PROMETHEUS": ("prometheus", _boolean),
    "AMQPD_PROMETHEUS_PORT": ("prometheus_port", int),
    "AMQPD_PROMETHEUS_HOST": ("prometheus_host", str),
    "AMQPD_DEFINITIONS": ("definitions", str),
    "AMQPD_DATA_DIR": ("data_dir", str),
    "AMQPD_NODE_NAME": ("node_name", str),
    "AMQPD_CONSUMER_TIMEOUT": ("consumer_timeout", consumer_timeout),
})


def load_file(path: str) -> dict[str, Any]:
    """Settings from a TOML file whose keys are the option names (dashes or underscores)."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELD_TYPES:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
        if not _has_type(value, FIELD_TYPES[name]):
            raise ConfigError(f"config file {path}: {key} = {value!r} is not {_describe(FIELD_TYPES[name])}")
        values[name] = value
    return values


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a Settings field's type (bool is not an int; an int is a float)."""
    origin = get_origin(hint)
    if origin is types.UnionType:
        return any(_has_type(value, option) for option in get_args(hint))
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if origin is dict:
        key, item = get_args(hint)
        return isinstance(value, dict) and all(_has_type(k, key) and _has_type(v, item) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool)


def _describe(hint: Any) -> str:
    if get_origin(hint) is list:
        return "a list of strings"
    if get_origin(hint) is dict:
        return "a table of lists of strings" if get_origin(get_args(hint)[1]) is list else "a table of strings"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            int | None: "an integer", str | None: "a string", int | bool: "an integer or false"}.get(hint, str(hint))


def build(file_values: dict[str, Any], cli_values: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Merge the sources, later winning: defaults, file, environment, command line."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(file_values)
    for var, (name, kind) in ENVIRONMENT.items():
        if var in environ:
            try:
                merged[name] = kind(environ[var])
            except ValueError:
                raise ConfigError(f"{var}={environ[var]!r} is not a valid {name}") from None
    merged.update({k: v for k, v in cli_values.items() if v is not None})
    _read_secrets(merged)
    try:
        settings = Settings(**merged)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    settings.validate()
    return settings


def _read_secrets(merged: dict[str, Any]) -> None:
    """Passwords from the files named by default_pass_file and users_file, so that none needs to
    be on the command line (where every local user can read it)."""
    if merged.get("default_pass_file"):
        merged["default_pass"] = _read_password(merged["default_pass_file"])
    if merged.get("users_file"):
        merged["users"] = {**_read_users(merged["users_file"]), **merged.get("users", {})}


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None


def _read_password(path: str) -> str:
    """The file's content without its final line break (as a secret mounted by Docker or Kubernetes)."""
    text = _read_text(path, "password file")
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


def _read_users(path: str) -> dict[str, str]:
    """name:password lines (the password is everything after the first colon); blank lines and
    lines starting with # are skipped. An error names the line, never its content."""
    users: dict[str, str] = {}
    for number, line in enumerate(_read_text(path, "users file").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name:
            raise ConfigError(f"users file {path}, line {number}: expected NAME:PASSWORD")
        users[name] = password
    return users
