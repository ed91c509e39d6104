"""What the server layer does for the control socket's routes (management/control.py), kept free
of Starlette so the server can hand it over before the API's first request imports Starlette."""

from __future__ import annotations

from typing import Any, Protocol


class NodeControl(Protocol):
    """What the server layer does for the control routes."""

    def status(self) -> dict[str, Any]:
        """The node's state as `amqpctl status` shows it (pid, node name, listeners, ...)."""

    def stop(self) -> None:
        """Shut the broker down gracefully, as SIGTERM does (the reply is sent first)."""
