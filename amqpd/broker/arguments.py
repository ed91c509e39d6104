"""Optional arguments of queues, exchanges and consumers: how RabbitMQ 3.10 validates and compares them.

At first declaration RabbitMQ checks, in this order: the dead-letter exchange's type, the queue
type, the value of each argument the queue type supports (in ``_VALIDATORS`` order), that no
argument belongs only to other queue types, and the flags quorum and stream queues require.
On a redeclare it validates nothing and compares only the arguments the queue's type knows,
silently accepting a change to any other argument. ``rs`` is RabbitMQ's resource name,
e.g. ``queue 'q' in vhost '/'``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from amqpd.broker.stream.offsets import check_max_age
from amqpd.broker.tables import field_type, same_value, text, type_class
from amqpd.protocol import ChannelError, errors

# The arguments each queue type supports, in the order a redeclare compares them.
QUEUE_TYPE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "classic": (
        "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
        "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
        "x-single-active-consumer", "x-queue-type", "x-queue-master-locator", "x-queue-version",
    ),
    "quorum": (
        "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
        "x-dead-letter-strategy", "x-max-length", "x-max-length-bytes", "x-max-in-memory-length",
        "x-max-in-memory-bytes", "x-overflow", "x-single-active-consumer", "x-queue-type",
        "x-queue-leader-locator", "x-quorum-initial-group-size", "x-delivery-limit",
    ),
    "stream": (
        "x-max-length-bytes", "x-queue-type", "x-max-age", "x-stream-max-segment-size-bytes",
        "x-initial-cluster-size", "x-queue-leader-locator",
    ),
}
_KNOWN_QUEUE_ARGUMENTS = frozenset(k for keys in QUEUE_TYPE_ARGUMENTS.values() for k in keys)
EXCHANGE_COMPARED = ("alternate-exchange",)

Reason = str  # RabbitMQ's error term as printed by ~p, e.g. {value_negative,-1}


def _integer(value: Any) -> Reason | None:
    if type_class(value) != "int":
        return f'"expected integer, got {field_type(value)}"'
    return None


def _non_negative(value: Any, args: dict[str, Any]) -> Reason | None:
    problem = _integer(value)
    if problem is None and value < 0:
        problem = f"{{value_negative,{value}}}"
    return problem


def _positive(value: Any, args: dict[str, Any]) -> Reason | None:
    problem = _non_negative(value, args)
    if problem is None and value == 0:
        problem = "{value_zero,0}"
    return problem


def _max_priority(value: Any, args: dict[str, Any]) -> Reason | None:
    problem = _non_negative(value, args)
    if problem is None and value > 255:
        problem = f"{{max_value_exceeded,{value}}}"
    return problem


def _queue_version(value: Any, args: dict[str, Any]) -> Reason | None:
    problem = _non_negative(value, args)
    if problem is None and value not in (1, 2):
        problem = f"\"unsupported queue version '{value}'\""
    return problem


def _one_of(choices: tuple[str, ...], bad: Callable[[str], Reason]) -> Callable[[Any, dict[str, Any]], Reason | None]:
    """A longstr argument with a fixed set of values."""

    def check(value: Any, args: dict[str, Any]) -> Reason | None:
        if type_class(value) != "longstr":
            return f"{{unacceptable_type,{field_type(value)}}}"
        return None if text(value) in choices else bad(text(value))

    return check


def _single_active_consumer(value: Any, args: dict[str, Any]) -> Reason | None:
    return None if isinstance(value, bool) else f"{{unacceptable_type,{field_type(value)}}}"


def _dead_letter_routing_key(value: Any, args: dict[str, Any]) -> Reason | None:
    if type_class(value) != "longstr":
        return f"{{unacceptable_type,{field_type(value)}}}"
    return None if "x-dead-letter-exchange" in args else "routing_key_but_no_dlx_defined"


# RabbitMQ's declare_args: checked in this order, each only if the queue type supports it.
_VALIDATORS: dict[str, Callable[[Any, dict[str, Any]], Reason | None]] = {
    "x-expires": _positive,
    "x-message-ttl": _non_negative,
    "x-dead-letter-routing-key": _dead_letter_routing_key,
    "x-dead-letter-strategy": _one_of(("at-most-once", "at-least-once"), lambda v: "invalid_dlx_strategy"),
    "x-max-length": _non_negative,
    "x-max-length-bytes": _non_negative,
    "x-max-in-memory-length": _non_negative,
    "x-max-in-memory-bytes": _non_negative,
    "x-max-priority": _max_priority,
    "x-overflow": _one_of(("drop-head", "reject-publish", "reject-publish-dlx"), lambda v: "invalid_overflow"),
    "x-queue-mode": _one_of(("default", "lazy"), lambda v: f"\"unsupported queue mode '{v}'\""),
    "x-queue-version": _queue_version,
    "x-single-active-consumer": _single_active_consumer,
    "x-quorum-initial-group-size": _positive,
    "x-stream-max-segment-size-bytes": _non_negative,
    "x-max-age": check_max_age,
    "x-initial-cluster-size": _positive,
    "x-queue-leader-locator": _one_of(("client-local", "balanced"), lambda v: "invalid_queue_locator_arg"),
}
_queue_type = _one_of(tuple(QUEUE_TYPE_ARGUMENTS), lambda v: f"\"unsupported queue type '{v}'\"")


def queue_type(args: dict[str, Any]) -> str:
    """The type a (validated) argument table declares; classic when it names none."""
    return text(args["x-queue-type"]) if "x-queue-type" in args else "classic"


def consumer_priority(arguments: dict[str, Any] | None, tag: str) -> int:
    """A consumer's x-priority, 0 when absent; any integer width is taken, nothing else."""
    priority = (arguments or {}).get("x-priority", 0)
    if type_class(priority) != "int":
        raise ChannelError(errors.PRECONDITION_FAILED, f"invalid arg 'x-priority' for consumer '{tag}'")
    return priority


def validate_queue(args: dict[str, Any], durable: bool, exclusive: bool, auto_delete: bool, rs: str,
                   server_named: bool = False) -> None:
    """Reject a new queue the way RabbitMQ does, reporting only the first problem (``server_named``:
    the client left the name to the server, which only classic queues allow)."""
    if server_named and queue_type(args) == "quorum":
        _fail("Cannot declare a server-named queue for type rabbit_quorum_queue")
    dlx = args.get("x-dead-letter-exchange")
    if "x-dead-letter-exchange" in args and type_class(dlx) != "longstr":
        _fail(f"invalid type '{field_type(dlx)}' for arg 'x-dead-letter-exchange' in {rs}")
    if "x-queue-type" in args:
        _check("x-queue-type", _queue_type(args["x-queue-type"], args), rs)
    kind = queue_type(args)
    supported = QUEUE_TYPE_ARGUMENTS[kind]
    for key, validator in _VALIDATORS.items():
        if key in args and key in supported:
            _check(key, validator(args[key], args), rs)
    for key in sorted(args):
        if key in _KNOWN_QUEUE_ARGUMENTS and key not in supported:
            _fail(f"invalid arg '{key}' for {rs} of queue type rabbit_{kind}_queue")
    if kind != "classic":
        for prop, bad in (("auto-delete", auto_delete), ("exclusive-owner", exclusive), ("non-durable", not durable)):
            if bad:
                _fail(f"invalid property '{prop}' for {rs}")


def validate_exchange(args: dict[str, Any], rs: str) -> None:
    """An alternate exchange must be named by a string."""
    if "alternate-exchange" in args and type_class(args["alternate-exchange"]) != "longstr":
        _fail(f"invalid type '{field_type(args['alternate-exchange'])}' for arg 'alternate-exchange' in {rs}")


def check_queue_equivalent(current: dict[str, Any], received: dict[str, Any], rs: str) -> None:
    """406 for the first argument of the queue's type that a redeclare changes.

    An absent x-queue-type and 'classic' are the same thing to RabbitMQ.
    """
    def classic_default(key: str) -> bool:
        if key != "x-queue-type" or (key in current) == (key in received):
            return False
        return text(current.get(key, received.get(key))) == "classic"

    keys = [k for k in QUEUE_TYPE_ARGUMENTS[queue_type(current)] if not classic_default(k)]
    check_equivalent(keys, current, received, rs)


def check_equivalent(keys: Iterable[str], current: dict[str, Any], received: dict[str, Any], rs: str) -> None:
    """406 when a compared argument differs in type class or value between declarations."""
    for key in keys:
        old, new = current.get(key), received.get(key)
        if (key in current) != (key in received) or not same_value(old, new):
            _fail(f"inequivalent arg '{key}' for {rs}: received {_describe(key in received, new, key in current)} "
                  f"but current is {_describe(key in current, old, key in received)}")


def _describe(present: bool, value: Any, other_present: bool) -> str:
    """RabbitMQ's val/1: the bare value when both sides have one, else with its type, or none."""
    if not present:
        return "none"
    if other_present:
        return f"'{text(value)}'"
    return f"the value '{text(value)}' of type '{field_type(value)}'"


def _check(key: str, reason: Reason | None, rs: str) -> None:
    if reason is not None:
        _fail(f"invalid arg '{key}' for {rs}: {reason}")


def _fail(detail: str) -> None:
    raise ChannelError(errors.PRECONDITION_FAILED, detail)
