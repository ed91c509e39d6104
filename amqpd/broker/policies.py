"""Policies and operator policies: optional arguments applied to queues and exchanges by name pattern.

A vhost holds both kinds in a ``Policies``. The policy of a queue or exchange is the matching one
(pattern searched in the name, apply-to fitting) with the highest priority, no merging; RabbitMQ
leaves ties to its table order, amqpd takes the name that sorts first. Where a queue's own
argument and its policies set the same key, RabbitMQ 3.10's rule for that key holds (checked on
the real broker): for the ``LOWEST_WINS`` keys the lowest of argument, policy and operator policy
counts, for every other key the argument wins over the policy. Operator policies accept only
those numeric keys, so they cap. Everything here is computed when a policy or a queue changes,
never per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from amqpd.patterns import Pattern

if TYPE_CHECKING:
    from amqpd.broker.queue import Queue

LOWEST_WINS = ("expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length",
               "max-in-memory-bytes", "delivery-limit")
TIMER_KEYS = ("expires", "message-ttl")
MAX_TIMER = 4294967295  # ms; RabbitMQ's bound on these arguments (a policy may name more: it is capped here)
HA_DEPENDENT = ("ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
                "ha-promote-on-failure")


class PolicyKind(Enum):
    """The two sets a vhost holds; the value is the HTTP API's (and the store's) name."""

    POLICY = "policies"
    OPERATOR = "operator-policies"


class ApplyTo(Enum):
    ALL = "all"
    QUEUES = "queues"
    EXCHANGES = "exchanges"


class PolicyError(ValueError):
    """A policy RabbitMQ refuses; the message is its reason (Erlang terms printed as it prints them)."""


def erlang_term(value: Any) -> str:
    """A JSON value as RabbitMQ's ~p prints the Erlang term it decoded to."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(item) for item in value) + "]"
    if isinstance(value, dict):
        return "[" + ",".join("{" + erlang_term(k) + "," + erlang_term(v) + "}" for k, v in value.items()) + "]"
    return repr(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(test: Callable[[Any], bool], what: str) -> Callable[[Any, dict[str, Any]], str | None]:
    def check(value: Any, definition: dict[str, Any]) -> str | None:
        return None if test(value) else f"{erlang_term(value)} {what}"
    return check


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


def _ha_mode_first(value: Any, definition: dict[str, Any]) -> str | None:
    if "ha-mode" not in definition:
        return "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
    return None


_NON_NEGATIVE = lambda value: _integer(value) and value >= 0  # noqa: E731
_BINARY = lambda value: isinstance(value, str)  # noqa: E731
_MAX_AGE = re.compile(r"[0-9]+[YMDhms]")

# Every key RabbitMQ 3.10.8 (with the management plugin only) accepts in a policy, and its check.
VALIDATORS: dict[str, Callable[[Any, dict[str, Any]], str | None]] = {
    "alternate-exchange": _check(_BINARY, "is not a valid alternate exchange name"),
    "dead-letter-exchange": _check(_BINARY, "is not a valid dead letter exchange name"),
    "dead-letter-routing-key": _check(_BINARY, "is not a valid dead letter routing key"),
    "dead-letter-strategy": _check(_one_of("at-most-once", "at-least-once"), "is not a valid dead letter strategy"),
    "message-ttl": _check(_NON_NEGATIVE, "is not a valid message TTL"),
    "expires": _check(lambda value: _integer(value) and value > 0, "is not a valid queue expiry"),
    "max-length": _check(_NON_NEGATIVE, "is not a valid maximum length"),
    "max-length-bytes": _check(_NON_NEGATIVE, "is not a valid maximum length in bytes"),
    "max-in-memory-length": _check(_NON_NEGATIVE, "is not a valid maximum memory in bytes"),
    "max-in-memory-bytes": _check(_NON_NEGATIVE, "is not a valid maximum memory in bytes"),
    "delivery-limit": _check(_NON_NEGATIVE, "is not a valid delivery limit"),
    "max-age": _check(lambda value: isinstance(value, str) and _MAX_AGE.fullmatch(value) is not None,
                      "is not a valid max age"),
    "stream-max-segment-size-bytes": _check(_NON_NEGATIVE, "is not a valid segment size"),
    "initial-cluster-size": _check(_NON_NEGATIVE, "is not a valid cluster size"),
    "queue-leader-locator": _check(_one_of("client-local", "balanced"), "is not a valid queue leader locator value"),
    "queue-master-locator": _check(_one_of("min-masters", "client-local", "random"),
                                   "invalid queue-master-locator value"),
    "overflow": _check(_one_of("drop-head", "reject-publish", "reject-publish-dlx"), "is not a valid overflow value"),
    "queue-mode": _check(_one_of("default", "lazy"), "is not a valid queue-mode value"),
    "queue-version": _check(lambda value: _integer(value) and value in (1, 2), "is not a valid queue-version value"),
    "ha-mode": _check(_one_of("all", "exactly", "nodes"), "is not a valid ha-mode value"),
    **{key: _ha_mode_first for key in HA_DEPENDENT},
}
ACCEPTED = {PolicyKind.POLICY: frozenset(VALIDATORS), PolicyKind.OPERATOR: frozenset(LOWEST_WINS)}


@dataclass(frozen=True)
class Policy:
    vhost: str
    name: str
    pattern: str
    apply_to: ApplyTo
    priority: int | float
    definition: dict[str, Any]
    regex: Pattern = field(compare=False, repr=False)

    @classmethod
    def make(cls, kind: PolicyKind, vhost: str, name: str, pattern: Any, definition: Any,
             priority: Any = 0, apply_to: Any = "all") -> "Policy":
        """A checked policy, or PolicyError with RabbitMQ's reason (checked in its order)."""
        if not isinstance(pattern, str):
            raise PolicyError(f"pattern should be a binary but was {erlang_term(pattern)}")
        try:
            regex = Pattern(pattern)
        except re.error as exc:
            raise PolicyError(f'pattern should be regular expression but is invalid: {{"{exc.msg}",{exc.pos}}}') from None
        if apply_to not in [item.value for item in ApplyTo]:
            raise PolicyError(f"apply-to '{apply_to if isinstance(apply_to, str) else erlang_term(apply_to)}' "
                              "unrecognised; should be 'queues', 'exchanges' or 'all'")
        if isinstance(priority, bool) or not isinstance(priority, (int, float)):
            raise PolicyError(f"priority should be a number, actually was {erlang_term(priority)}")
        check_definition(kind, definition)
        return cls(vhost, name, pattern, ApplyTo(apply_to), priority, dict(definition), regex)

    def applies(self, name: str, to_queue: bool) -> bool:
        if self.apply_to is not ApplyTo.ALL and (self.apply_to is ApplyTo.QUEUES) != to_queue:
            return False
        return self.regex.search(name)

    def as_json(self) -> dict[str, Any]:
        return {"vhost": self.vhost, "name": self.name, "pattern": self.pattern, "apply-to": self.apply_to.value,
                "definition": self.definition, "priority": self.priority}


def check_definition(kind: PolicyKind, definition: Any) -> None:
    """Values first (by key, in sorted order), then keys the kind does not accept, as RabbitMQ reports."""
    if not isinstance(definition, dict):
        raise PolicyError(f"definition should be a JSON object but was {erlang_term(definition)}")
    if not definition:
        raise PolicyError("no policy provided")
    accepted = ACCEPTED[kind]
    for key in sorted(definition):
        if key in accepted:
            reason = VALIDATORS[key](definition[key], definition)
            if reason is not None:
                raise PolicyError(reason)
    unknown = sorted(key for key in definition if key not in accepted)
    if unknown:
        terms = ",".join("{" + erlang_term(key) + "," + erlang_term(definition[key]) + "}" for key in unknown)
        raise PolicyError(f"[{terms}] are not recognised policy settings")


@dataclass(frozen=True)
class Effective:
    """What a queue's policies make of it: their names, their merged definition (what the API shows
    as effective_policy_definition) and the queue's arguments with them applied."""

    policy: str | None
    operator_policy: str | None
    definition: dict[str, Any]
    arguments: dict[str, Any]


class Policies:
    """One vhost's policies and operator policies, by name."""

    def __init__(self) -> None:
        self._sets: dict[PolicyKind, dict[str, Policy]] = {kind: {} for kind in PolicyKind}

    def __bool__(self) -> bool:
        return any(self._sets.values())

    def get(self, kind: PolicyKind, name: str) -> Policy | None:
        return self._sets[kind].get(name)

    def put(self, kind: PolicyKind, name: str, policy: Policy | None) -> None:
        """Set a policy by name, or remove it with None (only the sets change; see VirtualHost.put_policy)."""
        if policy is None:
            self._sets[kind].pop(name, None)
        else:
            self._sets[kind][name] = policy

    def listed(self, kind: PolicyKind) -> list[Policy]:
        return sorted(self._sets[kind].values(), key=lambda policy: policy.name)

    def match(self, kind: PolicyKind, name: str, to_queue: bool) -> Policy | None:
        """The highest-priority policy that applies; at equal priority the name that sorts first."""
        best: Policy | None = None
        for policy in self._sets[kind].values():
            if policy.applies(name, to_queue) and (
                    best is None or (-policy.priority, policy.name) < (-best.priority, best.name)):
                best = policy
        return best

    def effective(self, name: str, arguments: dict[str, Any]) -> Effective:
        """A queue's policies and the arguments they give it (its declared ``arguments`` kept)."""
        policy = self.match(PolicyKind.POLICY, name, True)
        operator = self.match(PolicyKind.OPERATOR, name, True)
        definition = dict(policy.definition) if policy is not None else {}
        for key, value in (operator.definition if operator is not None else {}).items():
            definition[key] = min(value, definition[key]) if key in definition else value
        effective = dict(arguments)
        for key, value in definition.items():
            if key in TIMER_KEYS:
                value = min(value, MAX_TIMER)
            argument = f"x-{key}"
            if argument not in effective:
                effective[argument] = value
            elif key in LOWEST_WINS and _integer(effective[argument]):
                effective[argument] = min(effective[argument], value)
        return Effective(policy.name if policy else None, operator.name if operator else None, definition,
                         effective)

    def alternate_exchange(self, exchange: str) -> str | None:
        """The alternate exchange an exchange's policy names (its own argument wins over it)."""
        policy = self.match(PolicyKind.POLICY, exchange, False)
        return None if policy is None else policy.definition.get("alternate-exchange")


def effective_policy(queue: "Queue") -> tuple[str | None, str | None, dict[str, Any]]:
    """A queue's policy and operator policy names and its effective_policy_definition, as the
    management API shows them."""
    if queue.vhost is None:
        return None, None, {}
    effective = queue.vhost.effective_policy(queue)
    return effective.policy, effective.operator_policy, effective.definition
