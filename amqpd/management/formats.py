"""What the object routes share: AMQP values as JSON, argument tables from JSON, vhost visibility."""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Mapping

from amqpd.broker import VirtualHost
from amqpd.management.api import Call
from amqpd.management.errors import bad_request, not_found
from amqpd.protocol import tables

ZERO_RATE = {"rate": 0.0}


def jsonable(value: Any) -> Any:
    """An AMQP field value (arguments, headers, client properties) as RabbitMQ's API shows it."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def arguments(body: Mapping[str, Any], key: str = "arguments") -> dict[str, Any]:
    """An argument table sent as a JSON object; one AMQP cannot carry is 400."""
    value = body.get(key, {})
    if value is None or value == "" or value == []:  # pyrabbit2 sends [] (an empty Erlang proplist)
        return {}
    if not isinstance(value, dict):
        raise bad_request(["not_a_table", key])
    try:
        tables.encode_table(value)
    except (tables.TableError, TypeError, ValueError, OverflowError, RecursionError):
        raise bad_request(["invalid_table", key]) from None
    return value


def vhost_of(call: Call) -> VirtualHost:
    """The path's vhost (access was checked before the handler ran); 404 when there is none."""
    vhost = call.node.vhosts.get(call.params["vhost"])
    if vhost is None:
        raise not_found()
    return vhost


def visible_vhosts(call: Call) -> list[VirtualHost]:
    """The path's vhost, or every vhost the caller may see (monitoring users see all)."""
    if "vhost" in call.params:
        return [vhost_of(call)]
    caller, node = call.caller, call.node
    return [vhost for name, vhost in node.vhosts.items() if caller.is_monitor or caller.may_use(node, name)]
