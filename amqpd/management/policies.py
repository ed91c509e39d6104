"""/api/policies, /api/operator-policies, /api/parameters, /api/global-parameters, /api/vhost-limits
and /api/user-limits: runtime parameters, in RabbitMQ 3.10.8's shapes and with its refusals.

A policy is checked (broker.Policy.make) and applied to the vhost's queues and exchanges at once.
No parameter component is available (RabbitMQ's shovel and federation plugins are off), so a PUT
under /api/parameters is refused as RabbitMQ refuses it then, and the lists are empty.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.responses import Response

from amqpd.broker import Policy, PolicyError, PolicyKind, erlang_term
from amqpd.management import lists
from amqpd.management.api import Call, Endpoint, Handler, created, no_content, reply
from amqpd.management.auth import Need
from amqpd.management.errors import ApiError, bad_request, key_missing, not_found

VHOST_LIMITS = ("max-connections", "max-queues")
USER_LIMITS = ("max-connections", "max-channels")


def _validation_failed(reason: str) -> ApiError:
    return bad_request(f"Validation failed\n\n{reason}\n")


def _vhost(call: Call) -> str:
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise not_found()
    return vhost


def _visible(call: Call) -> list[str]:
    return [name for name in call.node.vhosts if call.caller.may_use(call.node, name)]


# -- policies and operator policies ---------------------------------------------------------------

def _policies(kind: PolicyKind, call: Call, vhosts: list[str]) -> Response:
    items = [policy.as_json() for name in vhosts for policy in call.node.vhosts[name].policies.listed(kind)]
    return reply(lists.page(items, call.query, ("vhost", "name")), call)


def _list_all(kind: PolicyKind) -> Handler:
    return lambda call: _policies(kind, call, _visible(call))


def _list_vhost(kind: PolicyKind) -> Handler:
    return lambda call: _policies(kind, call, [_vhost(call)])


def _show(kind: PolicyKind) -> Handler:
    def show(call: Call) -> Response:
        policy = call.node.vhosts[_vhost(call)].policies.get(kind, call.params["name"])
        if policy is None:
            raise not_found()
        return reply(policy.as_json(), call)
    return show


def _put(kind: PolicyKind) -> Handler:
    def put(call: Call) -> Response:
        """pattern and definition are mandatory; priority 0 and apply-to all by default."""
        vhost = call.params["vhost"]
        if vhost not in call.node.vhosts:
            raise ApiError(404, "not_found", "vhost_not_found")
        body = call.body()
        missing = [key for key in ("pattern", "definition") if key not in body]
        if missing:
            raise key_missing(*missing)
        try:
            policy = Policy.make(kind, vhost, call.params["name"], body["pattern"], body["definition"],
                                 body.get("priority", 0), body.get("apply-to", "all"))
        except PolicyError as exc:
            # RabbitMQ's policy validator escapes its reason as HTML, the operator policies' does not
            reason = html.escape(str(exc), quote=False) if kind is PolicyKind.POLICY else str(exc)
            raise _validation_failed(reason) from None
        return created(call.node.put_policy(kind, policy))
    return put


def _delete(kind: PolicyKind) -> Handler:
    def delete(call: Call) -> Response:
        if not call.node.delete_policy(kind, _vhost(call), call.params["name"]):
            raise not_found()
        return no_content()
    return delete


def _policy_endpoints(kind: PolicyKind, leaf: Need) -> list[Endpoint]:
    base = f"/api/{kind.value}"
    return [
        Endpoint(base, "GET", Need.MANAGEMENT, _list_all(kind)),
        Endpoint(f"{base}/{{vhost}}", "GET", Need.VHOST, _list_vhost(kind)),
        Endpoint(f"{base}/{{vhost}}/{{name}}", "GET", leaf, _show(kind)),
        Endpoint(f"{base}/{{vhost}}/{{name}}", "PUT", leaf, _put(kind)),
        Endpoint(f"{base}/{{vhost}}/{{name}}", "DELETE", leaf, _delete(kind)),
    ]


# -- parameters: no component is enabled ----------------------------------------------------------

def list_parameters(call: Call) -> Response:
    if "vhost" in call.params:
        _vhost(call)
    return reply([], call)


def show_parameter(call: Call) -> Response:
    raise not_found()


def put_parameter(call: Call) -> Response:
    _vhost(call)
    if "value" not in call.body():
        raise key_missing("value")
    raise _validation_failed(f"component {call.params['component']} not found")


# -- global parameters ----------------------------------------------------------------------------

def _global_parameters(call: Call) -> dict[str, Any]:
    return {"cluster_name": call.node.cluster_name, **call.node.global_parameters}


def list_global_parameters(call: Call) -> Response:
    items = [{"name": name, "value": value} for name, value in sorted(_global_parameters(call).items())]
    return reply(items, call)


def show_global_parameter(call: Call) -> Response:
    parameters = _global_parameters(call)
    name = call.params["name"]
    if name not in parameters:
        raise not_found()
    return reply({"name": name, "value": parameters[name]}, call)


def put_global_parameter(call: Call) -> Response:
    body = call.body()
    if "value" not in body:
        raise key_missing("value")
    return created(call.node.set_global_parameter(call.params["name"], body["value"]))


def delete_global_parameter(call: Call) -> Response:
    if not call.node.delete_global_parameter(call.params["name"]):
        raise not_found()
    return no_content()


# -- vhost and user limits (enforced on AMQP elsewhere, read through Node.vhost_limit / user_limit) ----

def _limits_list(call: Call, kind: str, key: str, scopes: list[str]) -> Response:
    limits = call.node.vhost_limits if kind == "vhost-limits" else call.node.user_limits
    items = [{key: scope, "value": dict(sorted(limits[scope].items()))} for scope in sorted(scopes) if limits.get(scope)]
    return reply(items, call)


def list_vhost_limits(call: Call) -> Response:
    return _limits_list(call, "vhost-limits", "vhost", [_vhost(call)] if "vhost" in call.params else _visible(call))


def list_user_limits(call: Call) -> Response:
    if "user" in call.params:
        if call.params["user"] not in call.node.users.users:
            raise not_found()
        return _limits_list(call, "user-limits", "user", [call.params["user"]])
    return _limits_list(call, "user-limits", "user", list(call.node.users.users))


def _limit_value(call: Call, kind: str, names: tuple[str, ...]) -> int:
    """The value of a PUT limit, refused with RabbitMQ's texts (always 204 after, new or not)."""
    body = call.body()
    if "value" not in body:
        raise key_missing("value")
    name, value = call.params["name"], body["value"]
    if name not in names:
        term = erlang_term({name: value})
        if kind == "vhost-limits":
            raise _validation_failed(f"Unrecognised terms {term} in limits")
        raise bad_request(f"Unrecognised terms {term} in user-limits")
    if isinstance(value, bool) or not isinstance(value, int):
        reason = f"{name} should be a number, actually was {erlang_term(value)}"
        # RabbitMQ 3.10.8 wraps the vhost-limits reason in "Validation failed", not the user-limits one
        raise _validation_failed(reason) if kind == "vhost-limits" else bad_request(reason)
    return value


def put_vhost_limit(call: Call) -> Response:
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise ApiError(404, "not_found", "vhost_not_found")
    call.node.set_limit("vhost-limits", vhost, call.params["name"], _limit_value(call, "vhost-limits", VHOST_LIMITS))
    return no_content()


def delete_vhost_limit(call: Call) -> Response:
    call.node.clear_limit("vhost-limits", _vhost(call), call.params["name"])
    return no_content()


def put_user_limit(call: Call) -> Response:
    user = call.params["user"]
    value = _limit_value(call, "user-limits", USER_LIMITS)
    if user not in call.node.users.users:
        raise bad_request(["no_such_user", user])
    call.node.set_limit("user-limits", user, call.params["name"], value)
    return no_content()


def delete_user_limit(call: Call) -> Response:
    call.node.clear_limit("user-limits", call.params["user"], call.params["name"])
    return no_content()


ENDPOINTS = [
    *_policy_endpoints(PolicyKind.POLICY, Need.POLICYMAKER),
    *_policy_endpoints(PolicyKind.OPERATOR, Need.ADMIN),
    Endpoint("/api/parameters", "GET", Need.POLICYMAKER, list_parameters),
    Endpoint("/api/parameters/{component}", "GET", Need.POLICYMAKER, list_parameters),
    Endpoint("/api/parameters/{component}/{vhost}", "GET", Need.POLICYMAKER, list_parameters),
    Endpoint("/api/parameters/{component}/{vhost}/{name}", "GET", Need.POLICYMAKER, show_parameter),
    Endpoint("/api/parameters/{component}/{vhost}/{name}", "PUT", Need.POLICYMAKER, put_parameter),
    Endpoint("/api/parameters/{component}/{vhost}/{name}", "DELETE", Need.POLICYMAKER, show_parameter),
    Endpoint("/api/global-parameters", "GET", Need.POLICYMAKER, list_global_parameters),
    Endpoint("/api/global-parameters/{name}", "GET", Need.POLICYMAKER, show_global_parameter),
    Endpoint("/api/global-parameters/{name}", "PUT", Need.POLICYMAKER, put_global_parameter),
    Endpoint("/api/global-parameters/{name}", "DELETE", Need.POLICYMAKER, delete_global_parameter),
    Endpoint("/api/vhost-limits", "GET", Need.MANAGEMENT, list_vhost_limits),
    Endpoint("/api/vhost-limits/{vhost}", "GET", Need.VHOST, list_vhost_limits),
    Endpoint("/api/vhost-limits/{vhost}/{name}", "PUT", Need.ADMIN, put_vhost_limit),
    Endpoint("/api/vhost-limits/{vhost}/{name}", "DELETE", Need.ADMIN, delete_vhost_limit),
    Endpoint("/api/user-limits", "GET", Need.ADMIN, list_user_limits),
    Endpoint("/api/user-limits/{user}", "GET", Need.ADMIN, list_user_limits),
    Endpoint("/api/user-limits/{user}/{name}", "PUT", Need.ADMIN, put_user_limit),
    Endpoint("/api/user-limits/{user}/{name}", "DELETE", Need.ADMIN, delete_user_limit),
]
