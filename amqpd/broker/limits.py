"""Vhost and user limits, as RabbitMQ's `rabbitmqctl set_vhost_limits` / `set_user_limits` set them.

A limit is a count or None (no limit); RabbitMQ reads a negative value as no limit too, and 0 as
"none allowed". The session enforces them (connection/channel open, queue declare).
"""

from __future__ import annotations

from dataclasses import dataclass


def reached(limit: int | None, count: int) -> bool:
    """Whether `count` existing objects already use up `limit`."""
    return limit is not None and limit >= 0 and count >= limit


@dataclass(frozen=True)
class VhostLimits:
    max_connections: int | None = None
    max_queues: int | None = None


@dataclass(frozen=True)
class UserLimits:
    max_connections: int | None = None
    max_channels: int | None = None


NO_VHOST_LIMITS = VhostLimits()
NO_USER_LIMITS = UserLimits()
