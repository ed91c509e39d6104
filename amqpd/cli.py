"""`amqpd`: start the broker. Options come from the command line, a TOML file and RabbitMQ's env vars."""

from __future__ import annotations

import argparse
import errno
import functools
import gc
import hashlib
import os
import signal
import ssl
import sys
from typing import Any, AsyncIterator, Sequence

import structlog
import trio

from amqpd import __version__, compiled, config, logs
from amqpd.broker import Node
from amqpd.management import DefinitionsError, import_definitions
from amqpd.server import Server, tls
from amqpd.settings import ConfigError, Settings
from amqpd.store import Store, StoreError

SHUTDOWN_GRACE = 2.0  # seconds clients get to answer Connection.Close on shutdown


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {value!r}")
    return name, password


def _permission(value: str) -> tuple[str, str]:
    """USER:VHOST, split at the first colon (user names have none; vhost names may)."""
    user, sep, vhost = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:VHOST, got {value!r}")
    return user, vhost


def _user_tags(value: str) -> tuple[str, list[str]]:
    """USER:TAG1,TAG2 (no tags after the colon: none)."""
    user, sep, tags = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:TAG1,TAG2, got {value!r}")
    return user, [tag.strip() for tag in tags.split(",") if tag.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amqpd", description="An AMQP 0-9-1 broker that RabbitMQ clients use unchanged.")
    p.add_argument("--version", action="version",
                   version=f"amqpd {__version__} ({'compiled' if compiled() else 'interpreted'})")
    p.add_argument("--config", metavar="FILE", help="TOML file whose keys are these option names")
    p.add_argument("--host", help="address to listen on, exactly (default: 127.0.0.1 and ::1, "
                   "so clients resolving localhost to either connect)")
    p.add_argument("--port", type=int, help="AMQP port (default 5672; 0 picks a free one)")
    p.add_argument("--node-name", metavar="NAME",
                   help="the node's name, shown by amqpctl status and the management API (default amqpd@<short host>)")
    p.add_argument("--data-dir", metavar="DIR", help="where durable state is kept (default ~/.local/share/amqpd)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info")
    p.add_argument("--log-format", choices=["console", "json"], help="default console")
    p.add_argument("--heartbeat", type=int, metavar="SECONDS", help="heartbeat proposed to clients (default 60, 0 off)")
    p.add_argument("--frame-max", type=int, metavar="BYTES", help="largest frame accepted (default 131072)")
    p.add_argument("--channel-max", type=int, metavar="N", help="most channels per connection (default 2047)")
    p.add_argument("--max-message-size", type=int, metavar="BYTES", help="largest message body (default 128 MiB)")
    p.add_argument("--consumer-timeout", type=config.consumer_timeout, metavar="MS",
                   help="close a channel whose delivery waits longer than this for its ack, with 406 "
                        "(RabbitMQ's consumer_timeout; default 1800000, 30 min; false: off)")
    p.add_argument("--queue-window", type=int, metavar="N",
                   help="persistent messages per durable queue kept in memory; the rest stay on disk (default 2048)")
    p.add_argument("--memory-limit", type=int, metavar="BYTES",
                   help="memory (start-up size plus messages and buffers held) above which publishers are blocked "
                        "(default 1 GiB; 0 blocks all publishing)")
    p.add_argument("--default-user", help="user created at start (default guest, loopback only)")
    p.add_argument("--default-pass", help="its password (default guest)")
    p.add_argument("--default-pass-file", metavar="FILE",
                   help="read the default user's password from FILE instead (keeps it out of the process list)")
    p.add_argument("--default-vhost", help="vhost created at start (default /)")
    p.add_argument("--vhost", dest="vhosts", action="append", metavar="NAME", help="another vhost (repeatable)")
    p.add_argument("--user", dest="users", action="append", type=_user, metavar="NAME:PASSWORD",
                   help="another user (repeatable; --users-file keeps passwords out of the process list)")
    p.add_argument("--users-file", metavar="FILE", help="more users, one NAME:PASSWORD a line")
    p.add_argument("--permission", dest="permissions", action="append", type=_permission, metavar="USER:VHOST",
                   help="let USER use VHOST with full rights (repeatable; the default user may use every vhost)")
    p.add_argument("--user-tags", dest="user_tags", action="append", type=_user_tags, metavar="USER:TAG1,TAG2",
                   help="give USER tags such as management, monitoring, policymaker or administrator (repeatable; "
                        "the default user is an administrator)")
    p.add_argument("--management", action=argparse.BooleanOptionalAction, default=None,
                   help="serve RabbitMQ's management HTTP API (default on; --no-management turns it off)")
    p.add_argument("--management-port", type=int, metavar="N", help="its port (default 15672; 0 picks a free one)")
    p.add_argument("--management-host", metavar="HOST", help="its address (default: the AMQP --host)")
    p.add_argument("--management-tls-port", type=int, metavar="N",
                   help="also serve the API over https on this port (RabbitMQ's 15671; 0 picks a free one), "
                        "with the --tls-cert, --tls-key, --tls-ca and --tls-verify of amqps")
    p.add_argument("--prometheus", action=argparse.BooleanOptionalAction, default=None,
                   help="serve RabbitMQ's Prometheus metrics (default on; --no-prometheus turns them off)")
    p.add_argument("--prometheus-port", type=int, metavar="N", help="their port (default 15692; 0 picks a free one)")
    p.add_argument("--prometheus-host", metavar="HOST", help="their address (default: the AMQP --host)")
    p.add_argument("--tls-port", type=int, metavar="N", help="amqps port (default: no TLS listener; 0 picks a free one)")
    p.add_argument("--tls-cert", metavar="FILE", help="the server's certificate chain (PEM)")
    p.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificates client certificates must chain to (PEM)")
    p.add_argument("--tls-verify", choices=["none", "peer"],
                   help="none: ask no client certificate (default); peer: verify one if sent")
    p.add_argument("--tls-fail-if-no-peer-cert", action=argparse.BooleanOptionalAction, default=None,
                   help="with --tls-verify peer, refuse clients that send no certificate (default off)")
    p.add_argument("--pid-file", metavar="FILE",
                   help="where the process id is written while the broker runs, for `amqpctl wait FILE` "
                        "(default: amqpd.pid in the data directory; RabbitMQ's RABBITMQ_PID_FILE)")
    p.add_argument("--definitions", metavar="FILE",
                   help="definitions JSON (RabbitMQ's export) imported at start; skipped when unchanged since")
    return p


def settings_from(argv: Sequence[str] | None) -> Settings:
    """Settings from argv, the --config file and the environment; --vhost, --user and
    --permission add to the file's."""
    args = parser().parse_args(argv)
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "config"}
    if args.config:
        values["config_file"] = os.path.abspath(args.config)
    file_values = config.load_file(args.config) if args.config else {}
    if args.vhosts is not None:
        values["vhosts"] = [*file_values.get("vhosts", []), *args.vhosts]
    if args.users is not None:
        values["users"] = {**file_values.get("users", {}), **dict(args.users)}
    if args.permissions is not None:
        permissions = {user: list(vhosts) for user, vhosts in file_values.get("permissions", {}).items()}
        for user, vhost in args.permissions:
            permissions.setdefault(user, []).append(vhost)
        values["permissions"] = permissions
    if args.user_tags is not None:
        values["user_tags"] = {**file_values.get("user_tags", {}), **dict(args.user_tags)}
    return config.build(file_values, values)


def tune_gc() -> None:
    """Collect garbage rarely: the broker makes few reference cycles, but a long queue holds
    millions of tracked objects that every full collection would walk again (100-300 ms pauses
    and a fifth of the CPU with a backlog). Start-up state is frozen out of collection."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def read_definitions(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read definitions file {path}: {exc.strerror}") from None


def load_definitions(node: Node, *, path: str, raw: bytes) -> None:
    """Import a definitions file unless it is the one imported last (RabbitMQ's skip_if_unchanged);
    a refused file is a ConfigError naming RabbitMQ's reason (the part before it stays imported)."""
    log = structlog.get_logger("amqpd")
    digest = hashlib.sha256(raw).hexdigest()
    if digest == node.definitions_hash:
        log.info("definitions file unchanged since its last import, skipped", path=path)
        return
    try:
        import_definitions(node, raw)
    except DefinitionsError as exc:
        raise ConfigError(f"cannot import definitions file {path}: {exc}") from None
    node.set_definitions_hash(digest)
    log.info("imported definitions", path=path)


async def run(settings: Settings, store: Store, tls_context: ssl.SSLContext | None = None,
              definitions_file: bytes | None = None) -> None:
    """Serve until SIGINT, SIGTERM or `amqpctl stop`, then close every connection (320) and stop.

    The signal receiver is installed before the startup line is logged, so a signal that follows
    it is always a graceful shutdown; the socket is bound before any nursery opens, so a bind
    error reaches main() as a plain OSError.
    """
    on_recovered = None
    if definitions_file is not None:
        on_recovered = functools.partial(load_definitions, path=settings.definitions, raw=definitions_file)
    server = Server(Node(settings, store), tls_context, on_recovered)
    log = structlog.get_logger("amqpd")
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        await server.listen()
        with PidFile(settings.pid_path()):
            server.recover()
            tune_gc()
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                nursery.start_soon(_stop_on_signal, signals, server)
                await server.stop_requested.wait()
                await server.shutdown(SHUTDOWN_GRACE)
                nursery.cancel_scope.cancel()
    log.info("amqpd stopped")


class PidFile:
    """The process id in a file while the broker runs (RabbitMQ's RABBITMQ_PID_FILE), which
    `amqpctl wait` watches; removed at the end unless another process has written its own since."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> "PidFile":
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(self.path, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            raise ConfigError(f"cannot write pid file {self.path}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with open(self.path) as handle:
                ours = handle.read().strip() == str(os.getpid())
            if ours:
                os.unlink(self.path)
        except OSError:
            pass


async def _stop_on_signal(signals: AsyncIterator[int], server: Server) -> None:
    async for signum in signals:
        server.request_stop(signal=signal.Signals(signum).name)
        return


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = settings_from(argv)
        tls_context = tls.context_for(settings)
        definitions_file = read_definitions(settings.definitions) if settings.definitions else None
    except ConfigError as exc:
        print(f"amqpd: error: {exc}", file=sys.stderr)
        return 1
    logs.configure(settings.log_level, settings.log_format)
    try:
        store = Store.open(settings.data_dir)
    except StoreError as exc:
        print(f"amqpd: error: {exc}", file=sys.stderr)
        return 1
    try:
        trio.run(run, settings, store, tls_context, definitions_file)
    except ConfigError as exc:
        print(f"amqpd: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        address = exc.filename or f"{settings.amqp_hosts()[0]}:{settings.port}"  # Server.listen names the address
        if exc.errno == errno.EADDRINUSE:
            print(f"amqpd: error: cannot listen on {address}: address already in use", file=sys.stderr)
        else:
            print(f"amqpd: error: cannot listen on {address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
