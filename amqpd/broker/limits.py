"""Vhost and user limits, as RabbitMQ's `rabbitmqctl set_vhost_limits` / `set_user_limits` set them.

The node holds their values (`Node.vhost_limit` / `Node.user_limit`, set through the management
API and stored); the session enforces them at connection and channel open and queue declare.
A limit is a count or None (no limit); RabbitMQ reads a negative value as no limit too, and 0 as
"none allowed".
"""

from __future__ import annotations


def reached(limit: int | None, count: int) -> bool:
    """Whether `count` existing objects already use up `limit`."""
    return limit is not None and limit >= 0 and count >= limit
