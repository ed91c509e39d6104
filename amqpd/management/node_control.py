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

    async def stop_app(self) -> None:
        """rabbitmqctl stop_app: clients closed (320), listeners stopped, transient state dropped."""

    async def start_app(self) -> None:
        """rabbitmqctl start_app: the node rebuilt from the store as at start-up, listening again."""

    def set_alarm(self, resource: str, on: bool) -> None:
        """Raise ("memory" or "disk") by hand, held until cleared by hand, or clear it."""

    def set_memory_watermark(self, fraction: float | None, absolute: int | None) -> None:
        """The memory alarm's limit: a fraction of the machine's memory, or bytes."""
