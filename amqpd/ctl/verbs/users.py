"""Users: add_user, delete_user, change_password, set_user_tags, list_users and the user limits.

The API replaces a user whole (PUT needs its tags), so change_password and set_user_tags read
the user first and write it back with the one part changed.
"""

from __future__ import annotations

import argparse
from typing import Any

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.grammar import PROG
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import Broker, NotFound, segment
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.common import json_argument, no_such_user_term, put_limits, user_argument, user_exists

GROUP = "Users"
DEFAULT_USER = "guest"  # whose limits list_user_limits shows without --user, as rabbitmqctl


def _user(broker: Broker, name: str) -> dict[str, Any]:
    """The user's API object; a missing user is rabbitmqctl's 67."""
    try:
        return broker.get(f"/api/users/{segment(name)}")
    except NotFound:
        raise CtlError(Exit.NO_USER, f'Error:\nUser "{name}" does not exist') from None


def add_user(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Adding user "{args.user}" ...')
    if user_exists(ctx.broker, args.user):
        raise CtlError(Exit.SOFTWARE, f'Error:\nUser "{args.user}" already exists')
    ctx.broker.put(f"/api/users/{segment(args.user)}", {"password": args.password, "tags": ""})
    ctx.out.banner("Done. Don't forget to grant the user permissions to some virtual hosts! "
                   f"See '{PROG} help set_permissions' to learn more.")


def delete_user(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Deleting user "{args.user}" ...')
    try:
        ctx.broker.delete(f"/api/users/{segment(args.user)}")
    except NotFound:
        raise CtlError(Exit.NO_USER, f'Error:\nUser "{args.user}" does not exist') from None


def change_password(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Changing password for user "{args.user}" ...')
    user = _user(ctx.broker, args.user)
    ctx.broker.put(f"/api/users/{segment(args.user)}",
                   {"password": args.password, "tags": ",".join(terms.tag_list(user.get("tags")))})


def set_user_tags(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting tags for user "{args.user}" to {terms.atoms(args.tags)} ...')
    user = _user(ctx.broker, args.user)
    ctx.broker.put(f"/api/users/{segment(args.user)}",
                   {"password_hash": user.get("password_hash", ""),
                    "hashing_algorithm": user.get("hashing_algorithm"), "tags": ",".join(args.tags)})


def list_users(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing users ...")
    columns = [Column("user", lambda item: item["name"]), Column("tags", lambda item: terms.tag_list(item.get("tags")),
                                                                  terms.atoms)]
    ctx.out.table(Table(columns, ctx.broker.get("/api/users")))


def set_user_limits(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting user limits to "{args.definition}" for user "{args.user}" ...')
    limits = json_argument(args.definition)
    if not user_exists(ctx.broker, args.user):
        raise no_such_user_term(args.user)
    put_limits(ctx.broker, "user-limits", args.user, limits)


def clear_user_limits(ctx: Context, args: argparse.Namespace) -> None:
    path = f"/api/user-limits/{segment(args.user)}"
    if args.limit == "all":
        ctx.out.banner(f'Clearing all limits for user "{args.user}" ...')
        names = [name for item in ctx.broker.get(path) for name in item["value"]] \
            if user_exists(ctx.broker, args.user) else []
    else:
        ctx.out.banner(f'Clearing "{args.limit}" limit for user "{args.user}" ...')
        names = [args.limit]
    for name in names:
        ctx.broker.delete(f"{path}/{segment(name)}")


def list_user_limits(ctx: Context, args: argparse.Namespace) -> None:
    if args.all:
        ctx.out.banner("Listing limits for all users ...")
        columns = [Column("user"), Column("limits", lambda item: item["value"], terms.json_text)]
        ctx.out.table(Table(columns, ctx.broker.get("/api/user-limits")))
        return
    user = args.limits_user or DEFAULT_USER
    ctx.out.banner(f'Listing limits for user "{user}" ...')
    try:
        items = ctx.broker.get(f"/api/user-limits/{segment(user)}")
    except NotFound:
        raise no_such_user_term(user) from None
    ctx.out.line(terms.json_text(items[0]["value"] if items else {}))


def _user_password(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("password")


def _user_tags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("tags", nargs="*", help="administrator, monitoring, policymaker, management, impersonator...")


def _user_definition(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("definition", help='a JSON object, e.g. {"max-connections": 10, "max-channels": 20}')


def _user_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("limit", help="max-connections, max-channels or all")


def _list_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", dest="limits_user", help=f"whose limits (default {DEFAULT_USER})")
    parser.add_argument("--global", dest="all", action="store_true", help="the limits of every user")


VERBS = [
    Verb("add_user", add_user, "Creates a new user in the internal database. This user will have no permissions "
         "for any virtual hosts by default.", _user_password, group=GROUP),
    Verb("delete_user", delete_user, "Removes a user from the internal database", user_argument, group=GROUP),
    Verb("change_password", change_password, "Changes the user password", _user_password, group=GROUP),
    Verb("set_user_tags", set_user_tags, "Sets user tags", _user_tags, group=GROUP),
    Verb("list_users", list_users, "List user names and tags", group=GROUP),
    Verb("set_user_limits", set_user_limits, "Sets user limits", _user_definition, group=GROUP),
    Verb("clear_user_limits", clear_user_limits, "Clears user connection/channel limits", _user_limit, group=GROUP),
    Verb("list_user_limits", list_user_limits, "Displays configured user limits", _list_limits, group=GROUP),
]
