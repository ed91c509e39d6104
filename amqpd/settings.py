"""What one amqpd node is told: the Settings every layer reads, and their validity checks.

A low module (it imports nothing of amqpd), so that the broker, the session and the server can
read their settings without depending on config.py, which reads them from files, the
environment and the command line at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
MAX_MESSAGE_SIZE_LIMIT = 512 * MiB  # RabbitMQ refuses a larger max_message_size
PID_FILE = "amqpd.pid"
CONTROL_SOCKET = "amqpd.sock"  # in the data directory (Settings.control_socket)
LOOPBACK_HOSTS = ("127.0.0.1", "::1")  # what an empty host listens on: clients resolving localhost either way


class ConfigError(Exception):
    """A setting that cannot be used; the CLI prints it as one line and exits 1."""


@dataclass
class Settings:
    host: str = ""  # empty: the IPv4 and IPv6 loopback (LOOPBACK_HOSTS) on one port
    node_name: str = ""  # empty: amqpd@<short host name> (RabbitMQ's is rabbit@<short host name>)
    port: int = 5672
    data_dir: str = str(Path.home() / ".local" / "share" / "amqpd")
    log_level: str = "info"
    log_format: str = "console"
    heartbeat: int = 60
    frame_max: int = 131072
    channel_max: int = 2047
    max_message_size: int = 128 * MiB  # RabbitMQ's default; it allows at most 512 MiB
    handshake_timeout: float = 10.0
    memory_limit: int = 1024 * MiB  # accounted bytes (amqpd.broker.memory) above which publishers are blocked (0: always)
    # RabbitMQ's consumer_timeout: milliseconds a delivery may wait for its ack before its channel
    # is closed (406); False turns it off (RabbitMQ: a non-integer in advanced.config)
    consumer_timeout: int | bool = 1_800_000
    queue_window: int = 2048  # persistent messages per durable queue kept in memory; the rest wait on disk
    default_user: str = "guest"
    default_pass: str = "guest"
    default_pass_file: str = ""  # when set, default_pass is read from this file (kept out of the command line)
    default_vhost: str = "/"
    vhosts: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # extra users: name -> password
    users_file: str = ""  # more extra users, one name:password a line (`users` wins for a name in both)
    permissions: dict[str, list[str]] = field(default_factory=dict)  # user -> vhosts it may use (full rights)
    user_tags: dict[str, list[str]] = field(default_factory=dict)  # user -> its tags (management, administrator...)
    # the management HTTP API (amqpd.management): on by default, as in the rabbitmq:management image
    management: bool = True
    management_port: int = 15672
    management_host: str = ""  # empty: the AMQP host
    management_tls_port: int | None = None  # https (RabbitMQ's management.ssl.port), with the tls_* files
    # RabbitMQ's Prometheus endpoint (rabbitmq_prometheus): on by default, as in the rabbitmq:management image
    prometheus: bool = True
    prometheus_port: int = 15692
    prometheus_host: str = ""  # empty: the AMQP host
    # amqps (RabbitMQ's listeners.ssl and ssl_options): off unless tls_port is set
    tls_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_verify: str = "none"  # none or peer (RabbitMQ's verify_none, its default, or verify_peer)
    tls_fail_if_no_peer_cert: bool = False
    # a definitions file (RabbitMQ's load_definitions) imported at start after recovery, skipped
    # when unchanged since its last import (its hash is kept in the store)
    definitions: str = ""
    config_file: str = ""  # the TOML file these were read from (`amqpctl status`, /api/nodes)
    pid_file: str = ""  # empty: amqpd.pid in the data directory (RabbitMQ's RABBITMQ_PID_FILE), for `amqpctl wait`

    def all_vhosts(self) -> list[str]:
        return list(dict.fromkeys([self.default_vhost, *self.vhosts]))

    def config_files(self) -> list[str]:
        """RabbitMQ's config_files: the file the settings came from, if any."""
        return [self.config_file] if self.config_file else []

    def control_socket(self) -> str:
        """The Unix socket in the data directory on which the broker answers `amqpctl` without a
        password (file permissions guard it, as the Erlang cookie guards rabbitmqctl)."""
        return str(Path(self.data_dir) / CONTROL_SOCKET)

    def pid_path(self) -> str:
        """Where the broker writes its process id while it runs."""
        return self.pid_file or str(Path(self.data_dir) / PID_FILE)

    def amqp_hosts(self) -> tuple[str, ...]:
        """The addresses the AMQP (and amqps) listeners bind, all on the same port."""
        return (self.host,) if self.host else LOOPBACK_HOSTS

    def http_hosts(self) -> tuple[str, ...]:
        """Where the management API listens: its own host, else the AMQP ones."""
        return (self.management_host,) if self.management_host else self.amqp_hosts()

    def prometheus_hosts(self) -> tuple[str, ...]:
        """Where the Prometheus endpoint listens: its own host, else the AMQP ones."""
        return (self.prometheus_host,) if self.prometheus_host else self.amqp_hosts()

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range 0-65535")
        if not 0 <= self.management_port <= 65535:
            raise ConfigError(f"management_port {self.management_port} is out of range 0-65535")
        if self.management_tls_port is not None and not 0 <= self.management_tls_port <= 65535:
            raise ConfigError(f"management_tls_port {self.management_tls_port} is out of range 0-65535")
        if not 0 <= self.prometheus_port <= 65535:
            raise ConfigError(f"prometheus_port {self.prometheus_port} is out of range 0-65535")
        if self.tls_port is not None and not 0 <= self.tls_port <= 65535:
            raise ConfigError(f"tls_port {self.tls_port} is out of range 0-65535")
        if self.tls_verify not in ("none", "peer"):
            raise ConfigError(f"tls_verify must be none or peer, not {self.tls_verify!r}")
        if self.frame_max and self.frame_max < 4096:
            raise ConfigError(f"frame_max {self.frame_max} is below the AMQP minimum of 4096")
        if not 0 <= self.channel_max <= 65535:
            raise ConfigError(f"channel_max {self.channel_max} is out of range 0-65535")
        if not 0 <= self.heartbeat <= 65535:
            raise ConfigError(f"heartbeat {self.heartbeat} is out of range 0-65535")
        if not 0 < self.max_message_size <= MAX_MESSAGE_SIZE_LIMIT:
            raise ConfigError(f"max_message_size {self.max_message_size} is out of range 1-{MAX_MESSAGE_SIZE_LIMIT}")
        if self.memory_limit < 0:
            raise ConfigError("memory_limit must not be negative")
        if self.consumer_timeout is True or (self.consumer_timeout is not False and self.consumer_timeout < 1):
            raise ConfigError(f"consumer_timeout must be a positive number of milliseconds or false, "
                              f"not {self.consumer_timeout!r}")
        if self.queue_window < 1:
            raise ConfigError(f"queue_window {self.queue_window} must be at least 1")
        if not self.default_user or "" in self.users:
            raise ConfigError("user names must not be empty")
        vhosts = self.all_vhosts()
        for user, user_vhosts in self.permissions.items():
            if user != self.default_user and user not in self.users:
                raise ConfigError(f"permission for unknown user {user!r}")
            for vhost in user_vhosts:
                if vhost not in vhosts:
                    raise ConfigError(f"permission of user {user!r} on unknown vhost {vhost!r}")
        for user in self.user_tags:
            if user != self.default_user and user not in self.users:
                raise ConfigError(f"tags for unknown user {user!r}")
        if self.log_format not in ("console", "json"):
            raise ConfigError(f"log_format must be console or json, not {self.log_format!r}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"log_level must be debug, info, warning or error, not {self.log_level!r}")
