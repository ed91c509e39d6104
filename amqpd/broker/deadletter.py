"""Dead-lettering as RabbitMQ 3.10 does it (rabbit_dead_letter).

A message rejected without requeue, expired, or pushed out by a length limit is republished to
the queue's dead-letter exchange, if that exchange exists, as a new message: its expiration is
removed and its headers get an ``x-death`` entry for (queue, reason), counted up when the same
pair happens again, plus ``x-first-death-*`` on the first death. With a dead-letter routing
key it routes on that key alone (and loses its CC header), otherwise on its original keys.
A message that would come back to a queue it already died in, with no rejection on the way,
is dropped instead (a cycle), except for rejections, which are never cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amqpd.broker import clock, headers
from amqpd.broker.cc import RoutedMessage, extra_keys, header_routes
from amqpd.broker.headers import Field
from amqpd.broker.message import Message

if TYPE_CHECKING:
    from amqpd.broker.vhost import VirtualHost

Death = tuple[Any, Any] | None  # (queue, reason) of one x-death table; None for a non-table item


def publish(vhost: "VirtualHost", queue: str, dlx: str, dlrk: str | None, message: Message, reason: str) -> None:
    """Dead-letter one message of the queue named ``queue`` to exchange ``dlx`` (if it exists),
    routed on ``dlrk`` when given."""
    exchange = vhost.exchanges.get(dlx)
    if exchange is None:
        return
    dead, deaths = make_message(message, reason, queue, exchange.name, dlrk)
    targets = vhost.route(exchange, dead, extra_keys(dead))
    for target in targets:
        if reason == "rejected" or not is_cycle(target.name, deaths):
            target.enqueue(dead)


def make_message(message: Message, reason: str, queue: str, dlx: str,
                 dlrk: str | None) -> tuple[Message, list[Death]]:
    """The dead-lettered copy of a message, and its x-death entries (newest first)."""
    props = headers.Properties(message.raw_properties)
    fields = props.headers
    keys = [message.routing_key, *extra_keys(message)]
    info: list[Field] = [
        (b"reason", headers.longstr(reason)),
        (b"queue", headers.longstr(queue)),
        (b"time", headers.timestamp(int(clock.wall()))),
        (b"exchange", headers.longstr(message.exchange)),
        (b"routing-keys", headers.array([headers.longstr(k) for k in [keys[0], *header_routes(fields)]])),
    ]
    if props.expiration is not None:
        info.append((b"original-expiration", headers.longstr(props.encoded[headers.EXPIRATION_FLAG][1:])))
    fields = _record_death(fields, info, queue.encode(), reason.encode(), message.exchange.encode())
    if dlrk is not None:
        keys = [dlrk]
        cc = next((i for i, (key, _) in enumerate(fields) if key == b"CC"), None)
        if cc is not None:
            fields = fields[:cc] + fields[cc + 1:]
    props.headers = fields
    props.drop_expiration()
    dead = RoutedMessage(dlx, keys, props.encode(), message.body, 2 if message.persistent else 1,
                         message.priority, None)
    return dead, _deaths(fields)


def _record_death(fields: list[Field], info: list[Field], queue: bytes, reason: bytes,
                  exchange: bytes) -> list[Field]:
    """RabbitMQ's update_x_death_header."""
    count_one = (b"count", headers.long(1))
    existing = headers.lookup(fields, b"x-death")
    if existing is None:
        for key, value in ((b"x-first-death-reason", reason), (b"x-first-death-queue", queue),
                           (b"x-first-death-exchange", exchange)):
            fields = headers.set_field(fields, key, headers.longstr(value))
        return headers.set_field(fields, b"x-death", headers.array([headers.table([count_one, *info])]))
    if existing[:1] != b"A":
        return headers.set_field(fields, b"x-death", headers.array([headers.table([count_one, *info])]))
    grouped = _group(headers.array_items(existing))
    match = next((item for item in grouped if _key(item) == (queue, reason)), None)
    others = [item for item in grouped if item is not match]
    if match is None:
        entry = [count_one, *info]
    else:
        entry = _incremented(headers.table_fields(match[1:]))
    entry.sort(key=lambda field: field[0])
    return headers.set_field(fields, b"x-death", headers.array([headers.table(entry), *others]))


def _key(item: bytes) -> tuple[Any, Any] | None:
    """(queue, reason) values of an x-death table item, compared by value as RabbitMQ does."""
    if item[:1] != b"F":
        return None
    fields = headers.table_fields(item[1:])
    return _plain(headers.lookup(fields, b"queue")), _plain(headers.lookup(fields, b"reason"))


def _plain(encoded: bytes | None) -> Any:
    if encoded is None:
        return None
    value = headers.value(encoded)
    return value.encode() if isinstance(value, str) else bytes(value) if isinstance(value, bytearray) else value


def _group(items: list[bytes]) -> list[bytes]:
    """group_by_queue_and_reason: one table per (queue, reason), counted; newest fold first."""
    if len(items) < 2:
        return items
    seen: set[Any] = set()
    grouped: list[bytes] = []
    for item in items:
        key = _key(item)
        matches = [other for other in items if _key(other) == key]
        table = _with_count(matches[0], len(matches))
        if not grouped:
            grouped = [table]
        elif key not in seen:
            grouped.insert(0, table)
        seen.add(key)
    return grouped


def _with_count(item: bytes, count: int) -> bytes:
    if item[:1] != b"F":
        return item
    fields = headers.table_fields(item[1:])
    if headers.lookup(fields, b"count") is not None:
        return item
    return headers.table([(b"count", headers.long(count)), *fields])


def _incremented(fields: list[Field]) -> list[Field]:
    count = headers.lookup(fields, b"count")
    if count is None:
        return [(b"count", headers.long(1)), *fields]
    index = next(i for i, (key, _) in enumerate(fields) if key == b"count")
    return fields[:index] + [(b"count", headers.long(headers.value(count) + 1))] + fields[index + 1:]


def _deaths(fields: list[Field]) -> list[Death]:
    """The (queue, reason) of each x-death item, as typed longstr values (None otherwise)."""
    encoded = headers.lookup(fields, b"x-death")
    if encoded is None or encoded[:1] != b"A":
        return []
    deaths: list[Death] = []
    for item in headers.array_items(encoded):
        if item[:1] != b"F":
            deaths.append(None)
            continue
        table = headers.table_fields(item[1:])
        queue, reason = headers.lookup(table, b"queue"), headers.lookup(table, b"reason")
        deaths.append((queue[5:] if queue and queue[:1] == b"S" else None,
                       reason[5:] if reason and reason[:1] == b"S" else None))
    return deaths


def is_cycle(queue: str, deaths: list[Death]) -> bool:
    """RabbitMQ's is_cycle: the message died in ``queue`` before, and every death since then
    (that one included) was automatic (not a rejection)."""
    name = queue.encode()
    for index, death in enumerate(deaths):
        if death is not None and death[0] == name:
            return all(d is not None and d[1] != b"rejected" for d in deaths[:index + 1])
    return False
