"""The control socket: a Unix socket in the data directory on which the node's operator
(`amqpctl`) reaches the broker without a password, and what the server does for its routes.

Only the data directory's owner may open the socket (mode 0600, set before the name appears),
which is the role the Erlang cookie plays for rabbitmqctl.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import trio

from amqpd import __version__
from amqpd.broker import COMPATIBLE_VERSION, PRODUCT
from amqpd.server.alarms import resident_bytes

if TYPE_CHECKING:
    from amqpd.server.listener import Server

log = structlog.get_logger("amqpd.server")
MAX_PATH = 107  # bytes a Unix socket's path may have (sun_path is 108 with its NUL)


@dataclass
class ControlSocket:
    """The listening socket and the file that names it (its inode, to remove only our own)."""

    sock: trio.socket.SocketType
    path: str
    inode: int

    @classmethod
    async def bind(cls, path: str) -> ControlSocket | None:
        """Listen at `path`, replacing a stale socket; None (with a warning) when the path is too
        long for a Unix socket."""
        if len(os.fsencode(path)) > MAX_PATH:
            log.warning("data directory path too long for the control socket; amqpctl cannot reach this broker",
                        path=path)
            return None
        temporary = f"{path}.{os.getpid()}"
        _unlink(temporary)
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        try:
            await sock.bind(temporary)
            os.chmod(temporary, 0o600)  # before the socket has its real name, so it is never open to others
            os.replace(temporary, path)
            sock.listen(trio.socket.SOMAXCONN)
            return cls(sock, path, os.stat(path).st_ino)
        except BaseException:
            sock.close()
            _unlink(temporary)
            raise

    def remove(self) -> None:
        """Remove the socket's name, unless another broker has taken it since (the socket itself
        is closed by whoever serves it)."""
        try:
            ours = os.stat(self.path).st_ino == self.inode
        except OSError:
            ours = False
        if ours:
            _unlink(self.path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


STOP_APP_GRACE = 2.0  # seconds clients get to answer Connection.Close at stop_app


class Operator:
    """The server's side of the control routes (management's NodeControl)."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._started = time.monotonic()

    def status(self) -> dict[str, Any]:
        """What rabbitmqctl status reports, in its JSON formatter's keys where they apply to amqpd."""
        server = self._server
        node = server.node
        settings = node.settings
        disk_free = _disk_free(settings.data_dir)
        plugins = [name for name, on in (("rabbitmq_management", settings.management),
                                          ("rabbitmq_prometheus", settings.prometheus)) if on]
        return {
            "pid": os.getpid(),
            "os": platform.system(),
            "node_name": node.name,
            "product_name": PRODUCT,
            "product_version": COMPATIBLE_VERSION,
            "rabbitmq_version": COMPATIBLE_VERSION,
            "amqpd_version": __version__,
            "erlang_version": f"Python {platform.python_version()} ({platform.python_implementation()})",
            "crypto_lib_version": ssl.OPENSSL_VERSION,
            "uptime": int(time.monotonic() - self._started),
            "is_under_maintenance": False,
            "running": server.running,
            "data_directory": settings.data_dir,
            "config_files": settings.config_files(),
            "log_files": ["<stderr>"],
            "enabled_plugin_file": None,
            "active_plugins": plugins if server.running else [],
            "enabled_plugins": plugins,
            "alarms": [{"node": node.name, "resource": resource, "type": "resource_limit"}
                       for resource in sorted(server.alarm.raised)],
            "memory": {"total": {"rss": resident_bytes(), "accounted": node.memory.total},
                       "strategy": "accounted"},
            "vm_memory_high_watermark_setting": server.alarm.watermark_setting,
            "vm_memory_high_watermark_limit": settings.memory_limit,
            "vm_memory_calculation_strategy": "accounted",
            "file_descriptors": _file_descriptors(len(node.connections)),
            "disk_free": disk_free,
            "disk_free_limit": DISK_FREE_LIMIT,
            "totals": {"virtual_host_count": len(node.vhosts), "connection_count": len(node.connections),
                       "queue_count": sum(len(vhost.queues) for vhost in node.vhosts.values())},
            "listeners": [{"node": node.name, "protocol": item.protocol, "interface": item.host, "port": item.port,
                           "purpose": PURPOSES.get(item.protocol, "")}
                          for item in (server.management_listeners() if server.running else [])],
        }

    def stop(self) -> None:
        self._server.request_stop(requested_by="amqpctl")

    async def stop_app(self) -> None:
        await self._server.stop_app(STOP_APP_GRACE)

    async def start_app(self) -> None:
        await self._server.start_app()

    def set_alarm(self, resource: str, on: bool) -> None:
        self._server.alarm.hold(resource, on)

    def set_memory_watermark(self, fraction: float | None, absolute: int | None) -> None:
        if fraction is not None:
            self._server.alarm.set_fraction(fraction)
        elif absolute is not None:
            self._server.alarm.set_absolute(absolute)


DISK_FREE_LIMIT = 50_000_000  # RabbitMQ's default disk_free_limit (amqpd's disk alarm is the store failing)
PURPOSES = {"amqp": "AMQP 0-9-1 and AMQP 1.0", "amqp/ssl": "AMQP 0-9-1 and AMQP 1.0 over TLS",
            "http": "HTTP API", "https": "HTTP API over TLS", "http/prometheus": "Prometheus exporter API over HTTP"}


def _disk_free(path: str) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def _file_descriptors(sockets: int) -> dict[str, int]:
    """Descriptors in use (from /proc) and the limit, and the sockets of AMQP clients."""
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 0
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return {"total_used": used, "total_limit": limit, "sockets_used": sockets, "sockets_limit": limit}
