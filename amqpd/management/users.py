"""/api/users and /api/permissions: users with RabbitMQ's password hashes and tags, and their
per-vhost permissions. Deleting a user closes its connections (320), as RabbitMQ does."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from starlette.responses import Response

from amqpd.auth import HASHING_ALGORITHM, HASHING_ALGORITHMS, Permission, User, hash_password
from amqpd.management.api import Call, Endpoint, created, no_content, reply, tags, text
from amqpd.management.auth import Need
from amqpd.management.errors import bad_request, key_missing, not_found


def user_object(user: User, limits: dict[str, int]) -> dict[str, Any]:
    return {"name": user.name, "password_hash": user.password_hash, "hashing_algorithm": user.hashing_algorithm,
            "tags": user.tags, "limits": dict(sorted(limits.items()))}


def permission_object(user: str, vhost: str, permission: Permission) -> dict[str, Any]:
    return {"user": user, "vhost": vhost, "configure": permission.configure, "write": permission.write,
            "read": permission.read}


def list_users(call: Call) -> Response:
    users = sorted(call.node.users.users.values(), key=lambda u: u.name)
    return reply([user_object(u, call.node.user_limits.get(u.name, {})) for u in users], call)


def users_without_permissions(call: Call) -> Response:
    granted = {user for user, _, _ in call.node.permissions.entries()}
    users = sorted((u for u in call.node.users.users.values() if u.name not in granted), key=lambda u: u.name)
    return reply([user_object(u, call.node.user_limits.get(u.name, {})) for u in users], call)


def show_user(call: Call) -> Response:
    user = call.node.users.users.get(call.params["user"])
    if user is None:
        raise not_found()
    return reply(user_object(user, call.node.user_limits.get(user.name, {})), call)


def put_user(call: Call) -> Response:
    """Create or replace: `tags` is mandatory; `password` or `password_hash` (+ hashing_algorithm),
    neither making a user who cannot log in with a password (RabbitMQ 3.10.8's rules)."""
    name = call.params["user"]
    body = call.body()
    if "tags" not in body:
        raise bad_request("tags_not_present")
    user_tags = tags(body["tags"])
    if "password" in body and "password_hash" in body:
        raise bad_request("both_password_and_password_hash_are_provided")
    algorithm = text(body, "hashing_algorithm", HASHING_ALGORITHM)
    if algorithm not in HASHING_ALGORITHMS:
        raise bad_request(["unknown_hashing_algorithm", algorithm])
    if "password" in body:
        password_hash = hash_password(text(body, "password"), algorithm=algorithm)
    elif "password_hash" in body:
        password_hash = text(body, "password_hash")
        try:
            base64.b64decode(password_hash, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(["not_base64", password_hash]) from None
    else:
        password_hash = ""
    user = User(name, password_hash, user_tags, name in call.node.loopback_users, algorithm)
    return created(call.node.put_user(user))


def delete_user(call: Call) -> Response:
    if not call.node.delete_user(call.params["user"]):
        raise not_found()
    return no_content()


def bulk_delete(call: Call) -> Response:
    """Delete each named user in turn; an unknown one stops there with 400 (those before it are gone)."""
    body = call.body()
    names = body.get("users")
    if names is None:
        raise key_missing("users")
    if not isinstance(names, list):
        raise bad_request(["not_a_list", "users"])
    for name in names:
        if not isinstance(name, str) or not call.node.delete_user(name):
            raise bad_request(["no_such_user", name if isinstance(name, str) else str(name)])
    return no_content()


def list_permissions(call: Call) -> Response:
    return reply([permission_object(*entry) for entry in call.node.permissions.entries()], call)


def vhost_permissions(call: Call) -> Response:
    vhost = call.params["vhost"]
    if vhost not in call.node.vhosts:
        raise not_found()
    return reply([permission_object(*e) for e in call.node.permissions.entries() if e[1] == vhost], call)


def user_permissions(call: Call) -> Response:
    user = call.params["user"]
    if user not in call.node.users.users:
        raise not_found()
    return reply([permission_object(*e) for e in call.node.permissions.entries() if e[0] == user], call)


def show_permission(call: Call) -> Response:
    vhost, user = call.params["vhost"], call.params["user"]
    permission = call.node.permissions.get(user, vhost)
    if permission is None or vhost not in call.node.vhosts:
        raise not_found()
    return reply(permission_object(user, vhost, permission), call)


def regex(body: dict[str, Any], key: str) -> str:
    """A body's regular expression (a permission's), 400 when it does not compile."""
    value = text(body, key)
    try:
        re.compile(value)
    except re.error as exc:
        raise bad_request(["invalid_regexp", value, str(exc)]) from None
    return value


def put_permission(call: Call) -> Response:
    vhost, user = call.params["vhost"], call.params["user"]
    body = call.body()
    missing = [key for key in ("configure", "write", "read") if key not in body]
    if missing:
        raise key_missing(*missing)
    permission = Permission(regex(body, "configure"), regex(body, "write"), regex(body, "read"))
    if vhost not in call.node.vhosts or user not in call.node.users.users:
        raise bad_request("vhost_or_user_not_found")
    return created(call.node.set_permission(user, vhost, permission))


def delete_permission(call: Call) -> Response:
    if not call.node.clear_permission(call.params["user"], call.params["vhost"]):
        raise not_found()
    return no_content()


ENDPOINTS = [
    Endpoint("/api/users", "GET", Need.ADMIN, list_users),
    Endpoint("/api/users/without-permissions", "GET", Need.ADMIN, users_without_permissions),
    Endpoint("/api/users/bulk-delete", "POST", Need.ADMIN, bulk_delete),
    Endpoint("/api/users/{user}", "GET", Need.ADMIN, show_user),
    Endpoint("/api/users/{user}", "PUT", Need.ADMIN, put_user),
    Endpoint("/api/users/{user}", "DELETE", Need.ADMIN, delete_user),
    Endpoint("/api/users/{user}/permissions", "GET", Need.ADMIN, user_permissions),
    Endpoint("/api/permissions", "GET", Need.ADMIN, list_permissions),
    Endpoint("/api/permissions/{vhost}/{user}", "GET", Need.ADMIN, show_permission),
    Endpoint("/api/permissions/{vhost}/{user}", "PUT", Need.ADMIN, put_permission),
    Endpoint("/api/permissions/{vhost}/{user}", "DELETE", Need.ADMIN, delete_permission),
    Endpoint("/api/vhosts/{vhost}/permissions", "GET", Need.ADMIN, vhost_permissions),
]
