"""The control socket: a Unix socket in the data directory on which the node's operator
(`amqpctl`) reaches the broker without a password, and what the server does for its routes.

Only the data directory's owner may open the socket (mode 0600, set before the name appears),
which is the role the Erlang cookie plays for rabbitmqctl.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import trio

from amqpd import __version__
from amqpd.broker import COMPATIBLE_VERSION, PRODUCT

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


class Operator:
    """The server's side of the control routes (management's NodeControl)."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._started = time.monotonic()

    def status(self) -> dict[str, Any]:
        server = self._server
        node = server.node
        settings = node.settings
        return {
            "pid": os.getpid(),
            "node_name": node.name,
            "product_name": PRODUCT,
            "product_version": COMPATIBLE_VERSION,
            "amqpd_version": __version__,
            "uptime": int(time.monotonic() - self._started),
            "data_directory": settings.data_dir,
            "alarms": sorted(server.alarm.raised),
            "listeners": [{"protocol": item.protocol, "interface": item.host, "port": item.port}
                          for item in server.management_listeners()],
            "running": True,
        }

    def stop(self) -> None:
        self._server.request_stop(requested_by="amqpctl")
