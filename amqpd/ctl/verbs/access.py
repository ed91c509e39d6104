"""Access control: permissions and topic permissions, set, cleared and listed.

The API answers a PUT naming a missing user or vhost with one reason for both; the verb then
asks which it was, to exit as rabbitmqctl does (67 for the user, 69 for the vhost).
"""

from __future__ import annotations

import argparse

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import ApiFailure, NotFound, segment
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.common import no_such_user, no_such_user_term, no_vhost, user_argument, user_exists

GROUP = "Access Control"

PERMISSION_COLUMNS = [Column("configure"), Column("write"), Column("read")]
TOPIC_COLUMNS = [Column("exchange"), Column("write"), Column("read")]


def _refused(ctx: Context, failure: ApiFailure, user: str) -> CtlError | ApiFailure:
    """What a PUT's 400 meant: no such user (67) or no such vhost (69); other reasons as they are."""
    if failure.status != 400 or failure.reason != "vhost_or_user_not_found":
        return failure
    if not user_exists(ctx.broker, user):
        return no_such_user(user)
    return CtlError(Exit.UNAVAILABLE, f"Error:\nVirtual host {ctx.vhost} does not exist")


def set_permissions(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting permissions for user "{args.user}" in vhost "{ctx.vhost}" ...')
    body = {"configure": args.configure, "write": args.write, "read": args.read}
    try:
        ctx.broker.put(f"/api/permissions/{segment(ctx.vhost)}/{segment(args.user)}", body)
    except ApiFailure as failure:
        raise _refused(ctx, failure, args.user) from None


def clear_permissions(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Clearing permissions for user "{args.user}" in vhost "{ctx.vhost}" ...')
    try:
        ctx.broker.delete(f"/api/permissions/{segment(ctx.vhost)}/{segment(args.user)}")
    except NotFound:
        if not user_exists(ctx.broker, args.user):
            raise no_such_user(args.user) from None  # clearing what was not set is fine, as in RabbitMQ


def list_permissions(ctx: Context, args: argparse.Namespace) -> None:
    _list(ctx, f'Listing permissions for vhost "{ctx.vhost}" ...', f"/api/vhosts/{segment(ctx.vhost)}/permissions",
          no_vhost(ctx.vhost), [Column("user"), *PERMISSION_COLUMNS])


def list_user_permissions(ctx: Context, args: argparse.Namespace) -> None:
    _list(ctx, f'Listing permissions for user "{args.user}" ...', f"/api/users/{segment(args.user)}/permissions",
          no_such_user_term(args.user), [Column("vhost"), *PERMISSION_COLUMNS])


def _list(ctx: Context, banner: str, path: str, missing: CtlError, columns: list[Column],
          header: bool = True) -> None:
    """A non-streaming list verb: the banner, the API's rows as a table, `missing` on a 404."""
    ctx.out.banner(banner)
    try:
        rows = ctx.broker.get(path)
    except NotFound:
        raise missing from None
    ctx.out.table(Table(columns, rows, blank=True, header=header))


def set_topic_permissions(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting topic permissions on "{args.exchange}" for user "{args.user}" in vhost "{ctx.vhost}" ...')
    body = {"exchange": args.exchange, "write": args.write, "read": args.read}
    try:
        ctx.broker.put(f"/api/topic-permissions/{segment(ctx.vhost)}/{segment(args.user)}", body)
    except ApiFailure as failure:
        raise _refused(ctx, failure, args.user) from None


def clear_topic_permissions(ctx: Context, args: argparse.Namespace) -> None:
    path = f"/api/topic-permissions/{segment(ctx.vhost)}/{segment(args.user)}"
    if args.exchange is None:
        ctx.out.banner(f'Clearing topic permissions for user "{args.user}" in vhost "{ctx.vhost}" ...')
    else:
        ctx.out.banner(f'Clearing topic permissions on "{args.exchange}" for user "{args.user}" '
                       f'in vhost "{ctx.vhost}" ...')
        path += f"/{segment(args.exchange)}"
    try:
        ctx.broker.delete(path)
    except NotFound:
        if not user_exists(ctx.broker, args.user):
            raise no_such_user(args.user) from None


def list_topic_permissions(ctx: Context, args: argparse.Namespace) -> None:
    _list(ctx, f'Listing topic permissions for vhost "{ctx.vhost}" ...',
          f"/api/vhosts/{segment(ctx.vhost)}/topic-permissions", no_vhost(ctx.vhost), [Column("user"), *TOPIC_COLUMNS])


def list_user_topic_permissions(ctx: Context, args: argparse.Namespace) -> None:
    _list(ctx, f'Listing topic permissions for user "{args.user}" ...',
          f"/api/users/{segment(args.user)}/topic-permissions", no_such_user_term(args.user),
          [Column("vhost"), *TOPIC_COLUMNS], header=False)


def _permissions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("configure", help="regular expression of the resources the user may configure")
    parser.add_argument("write", help="... may write to")
    parser.add_argument("read", help="... may read from")


def _topic_permissions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("exchange")
    parser.add_argument("write", help="regular expression of the routing keys the user may publish with "
                                      "({username} and {vhost} are expanded)")
    parser.add_argument("read", help="... may bind with")


def _user_and_exchange(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
    parser.add_argument("exchange", nargs="?", help="only this exchange's (default: all)")


VERBS = [
    Verb("set_permissions", set_permissions, "Sets user permissions for a vhost", _permissions, group=GROUP),
    Verb("clear_permissions", clear_permissions, "Revokes user permissions for a vhost", user_argument, group=GROUP),
    Verb("list_permissions", list_permissions, "Lists user permissions in a virtual host", group=GROUP),
    Verb("list_user_permissions", list_user_permissions, "Lists permissions of a user across all virtual hosts",
         user_argument, group=GROUP),
    Verb("set_topic_permissions", set_topic_permissions, "Sets user topic permissions for an exchange",
         _topic_permissions, group=GROUP),
    Verb("clear_topic_permissions", clear_topic_permissions, "Clears user topic permissions for a vhost or exchange",
         _user_and_exchange, group=GROUP),
    Verb("list_topic_permissions", list_topic_permissions, "Lists topic permissions in a virtual host", group=GROUP),
    Verb("list_user_topic_permissions", list_user_topic_permissions, "Lists user topic permissions", user_argument,
         group=GROUP),
]
