"""What the object routes share: AMQP values and message properties as JSON and back, argument
tables from JSON, which vhosts a caller sees."""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Mapping

from pamqp import commands, header

from amqpd.broker import VirtualHost
from amqpd.management.api import Call
from amqpd.management.errors import bad_request, not_found
from amqpd.protocol import tables

BASIC_CLASS = 60


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


def content_header(raw_properties: bytes, body_size: int) -> bytes:
    """A Basic content header's payload around raw property bytes (what the parsers take)."""
    return BASIC_CLASS.to_bytes(2, "big") + b"\x00\x00" + body_size.to_bytes(8, "big") + raw_properties


def properties_json(raw: bytes) -> dict[str, Any] | list[Any]:
    """A message's properties as RabbitMQ's API shows them: the set ones, or [] when none is set."""
    content = header.ContentHeader()
    content.unmarshal(content_header(raw, 0))
    properties, flags = content.properties, int.from_bytes(raw[:2], "big")
    shown = {name: jsonable(getattr(properties, name)) for bit, name in enumerate(properties.attributes())
             if flags & (0x8000 >> bit)}  # the flag word names the properties set, in this order
    if "message_type" in shown:
        shown["type"] = shown.pop("message_type")
    return shown or []


def properties_raw(properties: Any) -> bytes:
    """Basic properties from their JSON form (RabbitMQ's names; `type` for message_type)."""
    if properties in ({}, [], None):
        return b"\x00\x00"
    if not isinstance(properties, dict):
        raise bad_request(["not_a_table", "properties"])
    fields = dict(properties)
    if "type" in fields:
        fields["message_type"] = fields.pop("type")
    if isinstance(fields.get("timestamp"), int):  # seconds since the epoch, as the API shows it
        fields["timestamp"] = datetime.datetime.fromtimestamp(fields["timestamp"], datetime.timezone.utc)
    if isinstance(fields.get("expiration"), int):
        fields["expiration"] = str(fields["expiration"])
    known = set(commands.Basic.Properties.attributes())
    unknown = sorted(set(fields) - known)
    if unknown:
        raise bad_request(["bad_property", unknown[0]])
    try:
        return commands.Basic.Properties(**fields).marshal()
    except Exception:  # pamqp refuses values of the wrong type with several exception classes
        raise bad_request(["invalid_properties", "properties"]) from None
