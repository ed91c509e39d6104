"""/api/definitions: the broker's objects as one JSON document (RabbitMQ 3.10.8's export), and
the import of such a document, merged into the broker (created or updated, never deleted).

An import replays each item through the same handler its own API route runs, so the rules, the
refusals and the persistence are the ones of a PUT or POST; the first refusal stops the import
part-way, as RabbitMQ's does. Queues and exchanges that exist, or are named `amq.*` (and the
default exchange), are skipped: they cannot be changed, RabbitMQ skips them too; so are bindings
whose source or destination is missing, as RabbitMQ 3.10.8 does (204, nothing bound).
"""

from __future__ import annotations

import email.policy
import json
import re
from dataclasses import replace
from email.parser import BytesParser
from typing import Any

import structlog
from starlette.responses import Response

from amqpd.auth import User
from amqpd.broker import Node, PolicyKind, VhostMetadata
from amqpd.management import bindings, exchanges, policies, queues, topic_permissions, users
from amqpd.management.api import Call, Endpoint, no_content, reply, tags
from amqpd.management.auth import Caller, Need
from amqpd.management.errors import ApiError, bad_request
from amqpd.management.formats import jsonable
from amqpd.management.topic_permissions import topic_permission_object
from amqpd.management.users import permission_object, user_object
from amqpd.protocol import errors

log = structlog.get_logger("amqpd.management")
VERSION = "3.10.8"
LEGACY_HASHING = "rabbit_password_hashing_md5"
INTERNAL = Caller(User("rmq-internal", "", ["administrator"]))  # who imports at start-up
ROUTES = [*users.ENDPOINTS, *policies.ENDPOINTS, *queues.ENDPOINTS, *exchanges.ENDPOINTS, *bindings.ENDPOINTS,
          *topic_permissions.ENDPOINTS]


# -- export ---------------------------------------------------------------------------------------

def _vhost_parts(node: Node, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """parameters, policies, queues, exchanges and bindings of the vhosts, vhost keys included."""
    parts: dict[str, list[dict[str, Any]]] = {"parameters": [], "policies": [], "queues": [], "exchanges": [],
                                              "bindings": []}
    for name in names:
        vhost = node.vhosts[name]
        limits = node.vhost_limits.get(name)
        if limits:
            parts["parameters"].append({"value": dict(sorted(limits.items())), "vhost": name,
                                        "component": "vhost-limits", "name": "limits"})
        parts["policies"] += [p.as_json() for p in vhost.policies.listed(PolicyKind.POLICY)]
        kept = [q for q in vhost.queues.values() if not q.exclusive]
        parts["queues"] += [{"name": q.name, "vhost": name, "durable": q.durable, "auto_delete": q.auto_delete,
                             "arguments": jsonable(q.arguments)} for q in kept]
        parts["exchanges"] += [{"name": x.name, "vhost": name, "type": x.kind, "durable": x.durable,
                                "auto_delete": x.auto_delete, "internal": x.internal,
                                "arguments": jsonable(x.arguments)}
                               for x in vhost.exchanges.values() if not _reserved(x.name)]
        queue_names = {q.name for q in kept}
        for item in bindings.bindings_of(vhost):
            if item["source"] and (item["destination_type"] == "exchange" or item["destination"] in queue_names):
                del item["properties_key"]
                parts["bindings"].append(item)
    return parts


def _reserved(exchange: str) -> bool:
    return exchange == "" or exchange.startswith("amq.")


def export_all(call: Call) -> Response:
    node = call.node
    document = {
        "rabbit_version": VERSION, "rabbitmq_version": VERSION, "product_name": "RabbitMQ",
        "product_version": VERSION,
        "users": [user_object(u, node.user_limits.get(u.name, {}))
                  for u in sorted(node.users.users.values(), key=lambda u: u.name)],
        "vhosts": [{"name": name} for name in node.vhosts],
        "permissions": [permission_object(*entry) for entry in node.permissions.entries()],
        "topic_permissions": [topic_permission_object(*entry) for entry in node.topic_permissions.entries()],
    }
    parts = _vhost_parts(node, list(node.vhosts))
    globals_ = [{"name": "cluster_name", "value": node.cluster_name}]
    globals_ += [{"name": name, "value": value} for name, value in sorted(node.global_parameters.items())]
    document.update(parameters=parts.pop("parameters"), global_parameters=globals_, **parts)
    return reply(document)


def export_vhost(call: Call) -> Response:
    name = call.params["vhost"]
    if name not in call.node.vhosts:
        raise bad_request("vhost_not_found")  # RabbitMQ 3.10.8's GET; its POST says 404
    parts = _vhost_parts(call.node, [name])
    for key in ("queues", "exchanges", "bindings"):  # RabbitMQ 3.10.8 keeps it in policies and parameters
        for item in parts[key]:
            del item["vhost"]
    return reply({"rabbit_version": VERSION, **parts})


# -- import ---------------------------------------------------------------------------------------

def import_all(call: Call) -> Response:
    apply(call, _document(_uploaded(call)), None)
    return no_content()


def import_vhost(call: Call) -> Response:
    if call.params["vhost"] not in call.node.vhosts:
        raise ApiError(404, "not_found", "vhost_not_found")
    apply(call, _document(_uploaded(call)), call.params["vhost"])
    return no_content()


def _uploaded(call: Call) -> bytes:
    """The JSON sent: the body, or a multipart form's `file` field (the web UI's upload); a form
    without one reads as nothing, which RabbitMQ answers failed_to_parse_json."""
    content_type = call.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return call.raw_body
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    form = BytesParser(policy=email.policy.HTTP).parsebytes(head + call.raw_body)
    for part in form.iter_parts() if form.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""


def _document(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise bad_request("failed_to_parse_json") from None
    if not isinstance(document, dict):
        raise bad_request("failed_to_parse_json")
    return document


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


class DefinitionsError(Exception):
    """A definitions file refused, with RabbitMQ's reason (as text)."""


def import_definitions(node: Node, raw: bytes) -> None:
    """Import a definitions file at start-up (what came before a refused item stays imported)."""
    try:
        apply(Call(node, INTERNAL, {}, {}), _document(raw), None)
    except ApiError as exc:
        raise DefinitionsError(exc.reason if isinstance(exc.reason, str) else json.dumps(exc.reason)) from None


def apply(call: Call, document: dict[str, Any], vhost: str | None) -> None:
    """Import in RabbitMQ's order; `vhost` set is the per-vhost form (no users, vhosts, permissions)."""
    if vhost is None:
        legacy = re.match(r"3\.[0-5]\.", str(document.get("rabbit_version", "")))
        for item in _items(document, "users"):
            if legacy and "password_hash" in item and "hashing_algorithm" not in item:
                item = {**item, "hashing_algorithm": LEGACY_HASHING}  # files of RabbitMQ before 3.6
            _user(call, item)
        for item in _items(document, "vhosts"):
            _vhost(call, item)
        for item in _items(document, "permissions"):
            _replay(call, "/api/permissions/{vhost}/{user}", "PUT", item, vhost=item.get("vhost"),
                    user=item.get("user"))
    for item in _items(document, "exchanges"):
        _exchange(call, item, vhost)
    if vhost is None:
        for item in _items(document, "topic_permissions"):
            _replay(call, "/api/topic-permissions/{vhost}/{user}", "PUT", item, vhost=item.get("vhost"),
                    user=item.get("user"))
        for item in _items(document, "global_parameters"):
            _replay(call, "/api/global-parameters/{name}", "PUT", item, name=item.get("name"))
    for item in _items(document, "policies"):
        _replay(call, "/api/policies/{vhost}/{name}", "PUT", item, vhost=_in(item, vhost), name=item.get("name"))
    for item in _items(document, "parameters"):
        _parameter(call, item, vhost)
    for item in _items(document, "queues"):
        _queue(call, item, vhost)
    for item in _items(document, "bindings"):
        _binding(call, item, vhost)


def _items(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = document.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad_request(["invalid_definitions_file", key])
    return items


def _in(item: dict[str, Any], vhost: str | None) -> Any:
    """The item's vhost: the path's in the per-vhost form, else its own (which it must have)."""
    if vhost is not None:
        return vhost
    if not isinstance(item.get("vhost"), str):
        raise bad_request(["no_such_vhost", "undefined"])
    return item["vhost"]


def _replay(call: Call, path: str, method: str, body: dict[str, Any], **params: Any) -> Response:
    """Run the route's own handler on the item; a missing vhost or user is a 400, as an import's."""
    for key, value in params.items():
        if not isinstance(value, str):
            raise bad_request(["invalid_definitions_file", key])
    if "vhost" in params and params["vhost"] not in call.node.vhosts:
        raise bad_request(["no_such_vhost", params["vhost"]])
    handler = next(e.handler for e in ROUTES if e.path == path and e.method == method)
    request = replace(call, params=params, query={}, raw_body=json.dumps(body).encode())
    try:
        return handler(request)
    except errors.AMQPError as exc:  # a declare or bind refused as over AMQP
        raise bad_request(exc.text.partition(" - ")[2] or exc.text) from None
    except ApiError as exc:
        if exc.status == 404:
            raise bad_request(["not_found", *params.values()]) from None
        raise


def _user(call: Call, item: dict[str, Any]) -> None:
    _replay(call, "/api/users/{user}", "PUT", item, user=item.get("name"))
    for name, value in _mapping(item, "limits").items():
        _replay(call, "/api/user-limits/{user}/{name}", "PUT", {"value": value}, user=item["name"], name=name)


def _mapping(item: dict[str, Any], key: str) -> dict[str, Any]:
    """An object-valued field; missing, null or [] (RabbitMQ's export of no limits) is {}."""
    value = item.get(key) or {}
    if not isinstance(value, dict):
        raise bad_request(["invalid_definitions_file", key])
    return value


def _vhost(call: Call, item: dict[str, Any]) -> None:
    """A vhost with its metadata (top level or under `metadata`) and limits; no one is granted it."""
    name = item.get("name")
    if not isinstance(name, str):
        raise bad_request(["invalid_definitions_file", "vhosts"])
    metadata = {**item, **_mapping(item, "metadata")}
    old = call.node.vhost_metadata.get(name, VhostMetadata())
    call.node.put_vhost(name, VhostMetadata(
        description=str(metadata.get("description", old.description)),
        tags=tuple(tags(metadata.get("tags", list(old.tags)))),
        default_queue_type=str(metadata.get("default_queue_type", old.default_queue_type))))
    for limit, value in _mapping(item, "limits").items():
        _replay(call, "/api/vhost-limits/{vhost}/{name}", "PUT", {"value": value}, vhost=name, name=limit)


def _parameter(call: Call, item: dict[str, Any], vhost: str | None) -> None:
    where = _in(item, vhost)
    if item.get("component") == "vhost-limits":
        for limit, number in _mapping(item, "value").items():
            _replay(call, "/api/vhost-limits/{vhost}/{name}", "PUT", {"value": number}, vhost=where, name=limit)
        return
    _replay(call, "/api/parameters/{component}/{vhost}/{name}", "PUT", item, component=item.get("component"),
            vhost=where, name=item.get("name"))


def _name(item: dict[str, Any], key: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str):
        raise bad_request(["invalid_definitions_file", key])
    return value


def _exchange(call: Call, item: dict[str, Any], vhost: str | None) -> None:
    where, name = _in(item, vhost), _name(item, "name")
    if _reserved(name):
        log.warning("definitions: skipped a reserved exchange", vhost=where, exchange=name)
        return
    if where in call.node.vhosts and name in call.node.vhosts[where].exchanges:
        return
    _replay(call, "/api/exchanges/{vhost}/{exchange}", "PUT", item, vhost=where, exchange=name)


def _queue(call: Call, item: dict[str, Any], vhost: str | None) -> None:
    where, name = _in(item, vhost), _name(item, "name")
    if name.startswith("amq."):
        log.warning("definitions: skipped a reserved queue", vhost=where, queue=name)
        return
    if where in call.node.vhosts and name in call.node.vhosts[where].queues:
        return
    _replay(call, "/api/queues/{vhost}/{queue}", "PUT", item, vhost=where, queue=name)


def _binding(call: Call, item: dict[str, Any], vhost: str | None) -> None:
    kind = {"queue": "q", "exchange": "e"}.get(_name(item, "destination_type"))
    if kind is None:
        raise bad_request(["invalid_definitions_file", "bindings"])
    where, source, destination = _in(item, vhost), _name(item, "source", ""), _name(item, "destination")
    host = call.node.vhosts.get(where)
    ends = (host.exchanges, host.queues if kind == "q" else host.exchanges) if host is not None else ({}, {})
    if source not in ends[0] or destination not in ends[1]:  # RabbitMQ 3.10.8 skips it without a word
        log.warning("definitions: skipped a binding whose end is missing", vhost=where, source=source,
                    destination=destination)
        return
    _replay(call, "/api/bindings/{vhost}/e/{source}/{kind}/{destination}", "POST", item, vhost=where,
            source=source or bindings.DEFAULT_EXCHANGE, kind=kind, destination=destination)


ENDPOINTS = [
    Endpoint("/api/definitions", "GET", Need.ADMIN, export_all),
    Endpoint("/api/definitions", "POST", Need.ADMIN, import_all),
    Endpoint("/api/all-configuration", "GET", Need.ADMIN, export_all),
    Endpoint("/api/all-configuration", "POST", Need.ADMIN, import_all),
    Endpoint("/api/definitions/{vhost}", "GET", Need.ADMIN, export_vhost),
    Endpoint("/api/definitions/{vhost}", "POST", Need.ADMIN, import_vhost),
]
