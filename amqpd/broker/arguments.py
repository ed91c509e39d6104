"""Optional arguments of queues and exchanges: which RabbitMQ validates and compares on redeclare.

RabbitMQ compares only the arguments it knows on a redeclare (by type class and value) and
silently accepts a change to any other argument.
"""

from __future__ import annotations

from typing import Any

from amqpd.broker.tables import render, same_value, type_class
from amqpd.protocol import errors
from amqpd.protocol.errors import ChannelError

QUEUE_COMPARED = (
    "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
    "x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
    "x-max-priority", "x-overflow", "x-queue-mode", "x-single-active-consumer", "x-queue-type",
    "x-quorum-initial-group-size", "x-delivery-limit", "x-queue-master-locator",
)
EXCHANGE_COMPARED = ("alternate-exchange",)


def check_equivalent(compared: tuple[str, ...], current: dict[str, Any], received: dict[str, Any], where: str) -> None:
    """406 when a compared argument differs in type class or value between declarations."""
    for key in compared:
        old, new = current.get(key), received.get(key)
        if (key in current) != (key in received) or not same_value(old, new):
            raise ChannelError(
                errors.PRECONDITION_FAILED,
                f"inequivalent arg '{key}' {where}: received {_describe(key in received, new)} "
                f"but current is {_describe(key in current, old)}",
            )


def _describe(present: bool, value: Any) -> str:
    if not present:
        return "none"
    return f"the value '{render(value)}'"


_NON_NEGATIVE_INTS = ("x-message-ttl", "x-max-length", "x-max-length-bytes", "x-delivery-limit")
_POSITIVE_INTS = ("x-expires",)


def validate_queue_arguments(args: dict[str, Any], where: str) -> None:
    """Reject argument values RabbitMQ rejects at first declaration."""
    for key in _NON_NEGATIVE_INTS + _POSITIVE_INTS:
        if key not in args:
            continue
        value = args[key]
        if type_class(value) != "int":
            _invalid(key, where, f"{{unacceptable_type,{type_class(value)}}}")
        if value < 0 or (key in _POSITIVE_INTS and value == 0):
            _invalid(key, where, f"{{value_negative,{value}}}" if value < 0 else f"{{value_zero,{value}}}")
    if "x-max-priority" in args:
        value = args["x-max-priority"]
        if type_class(value) != "int":
            _invalid("x-max-priority", where, f"{{unacceptable_type,{type_class(value)}}}")
        if not 0 <= value <= 255:
            _invalid("x-max-priority", where, f"{{value_out_of_range,{value}}}")
    if "x-overflow" in args and args["x-overflow"] not in ("drop-head", "reject-publish", "reject-publish-dlx"):
        _invalid("x-overflow", where, f"{{invalid_value,{args['x-overflow']}}}")


def _invalid(key: str, where: str, reason: str) -> None:
    raise ChannelError(errors.PRECONDITION_FAILED, f"invalid arg '{key}' {where}: {reason}")
