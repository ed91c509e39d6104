"""What the store hands back: plain records of durable state, read at start-up or paged in.

Plain values only (names, flags, the stored bytes of argument tables, ids): the store sits
below the broker and knows none of its objects; broker/recovery.py turns these into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

Op = tuple[Any, ...]  # one operation of a batch: (kind, *parameters), see sqlite.STATEMENTS
StoredContent = tuple[str, str, bytes, bytes]  # a stored message's exchange, routing key, raw properties, body


class StoredExchange(NamedTuple):
    vhost: str
    name: str
    kind: str
    auto_delete: bool
    internal: bool
    arguments: bytes  # as writer.encode_table wrote them


class StoredBinding(NamedTuple):
    vhost: str
    source: str
    to_queue: bool  # the destination is a queue, else an exchange
    destination: str
    routing_key: str
    arguments: bytes


@dataclass
class StoredQueue:
    id: int
    vhost: str
    name: str
    auto_delete: bool
    arguments: bytes
    messages: list[tuple[int, int]] = field(default_factory=list)  # (message id, times delivered), in order


@dataclass
class Recovered:
    """Everything durable, as found at start-up."""

    exchanges: list[StoredExchange]
    queues: list[StoredQueue]
    bindings: list[StoredBinding]
    next_message_id: int
    next_queue_id: int
    problems: list[str]  # damage found and stepped over, for the log


@dataclass
class RecoveredAccess:
    """The users, vhosts, permissions, settings and parameters (policies, limits) that the management API
    stored, as found at start-up."""

    users: list[tuple[str, str, str, str]]  # name, password hash, hashing algorithm, tags (JSON list)
    vhosts: list[tuple[str, str]]  # name, metadata (JSON object)
    permissions: list[tuple[str, str, str, str, str]]  # user, vhost, configure, write, read
    topic_permissions: list[tuple[str, str, str, str, str]]  # user, vhost, exchange, write, read
    settings: dict[str, str]
    problems: list[str]
    parameters: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, scope, name, value (JSON)
