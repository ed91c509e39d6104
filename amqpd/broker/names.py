"""Names the broker makes up: server-named queues, consumer tags, direct reply-to queues."""

from __future__ import annotations

import base64
import os

RANDOM_BYTES = 16  # 22 base64 characters, RabbitMQ's length for amq.gen- and amq.ctag- names


def random_name(prefix: str, random_bytes: int = RANDOM_BYTES) -> str:
    """prefix + URL-safe base64 of fresh random bytes, unpadded (RabbitMQ's rabbit_guid form)."""
    return prefix + base64.urlsafe_b64encode(os.urandom(random_bytes)).decode().rstrip("=")
