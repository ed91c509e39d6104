"""Virtual hosts: add_vhost (idempotent, as RabbitMQ's), delete_vhost, list_vhosts and the
vhost limits."""

from __future__ import annotations

import argparse

from amqpd.ctl import terms
from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import NotFound, segment
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.common import json_argument, no_parameter, no_vhost, put_limits, vhost_exists

GROUP = "Virtual hosts"

VHOST_COLUMNS = Columns([
    Column("name"), Column("description"), Column("tags", render=lambda tags: ",".join(tags) if tags else "[]"),
    Column("default_queue_type", render=lambda kind: kind or "undefined"), Column("tracing"),
    Column("cluster_state", render=lambda state: "[" + ", ".join(
        f"{{{node}, {status}}}" for node, status in (state or {}).items()) + "]"),
], default=["name"])


def add_vhost(ctx: Context, args: argparse.Namespace) -> None:
    """Idempotent as RabbitMQ's: a vhost that exists is left as it is (its metadata too)."""
    ctx.out.banner(f'Adding vhost "{args.name}" ...')
    if ctx.broker.exists(f"/api/vhosts/{segment(args.name)}"):
        return
    body: dict[str, object] = {"description": args.description or "",
                               "tags": [t for t in (args.tags or "").split(",") if t]}
    if args.default_queue_type:
        body["default_queue_type"] = args.default_queue_type
    ctx.broker.put(f"/api/vhosts/{segment(args.name)}", body)


def _add_vhost_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--description", help="a description of the vhost")
    parser.add_argument("--tags", help="comma-separated tags")
    parser.add_argument("--default-queue-type", dest="default_queue_type",
                        help="the queue type of queues declared without x-queue-type")


def delete_vhost(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Deleting vhost "{args.name}" ...')
    try:
        ctx.broker.delete(f"/api/vhosts/{segment(args.name)}")
    except NotFound:
        raise no_vhost(args.name) from None


def list_vhosts(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing vhosts ...")
    ctx.out.table(VHOST_COLUMNS.table(args, ctx.broker.listing("/api/vhosts")))


def set_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting vhost limits to "{args.definition}" for vhost "{ctx.vhost}" ...')
    limits = json_argument(args.definition)
    if not vhost_exists(ctx.broker, ctx.vhost):
        raise no_vhost(ctx.vhost)
    put_limits(ctx.broker, "vhost-limits", ctx.vhost, limits)


def _limits(ctx: Context) -> dict[str, int]:
    """The vhost's limits; a vhost that does not exist is rabbitmqctl's 65."""
    try:
        items = ctx.broker.get(f"/api/vhost-limits/{segment(ctx.vhost)}")
    except NotFound:
        raise no_vhost(ctx.vhost) from None
    return items[0]["value"] if items else {}


def clear_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Clearing vhost "{ctx.vhost}" limits ...')
    names = list(_limits(ctx)) if vhost_exists(ctx.broker, ctx.vhost) else []
    if not names:  # nothing set, or no such vhost: rabbitmqctl's words for both
        raise no_parameter()
    for name in names:
        ctx.broker.delete(f"/api/vhost-limits/{segment(ctx.vhost)}/{segment(name)}")


def list_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    if args.all:
        ctx.out.banner("Listing limits for all vhosts ...")
        rows = ctx.broker.get("/api/vhost-limits")
        ctx.out.table(Table([Column("vhost"), Column("limits", lambda item: item["value"], terms.json_text)], rows))
        return
    ctx.out.banner(f'Listing limits for vhost "{ctx.vhost}" ...')
    limits = _limits(ctx)
    ctx.out.line(terms.json_text(limits) if limits else "")


def _definition(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("definition", help='a JSON object, e.g. {"max-connections": 100, "max-queues": 10}')


def _global_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--global", dest="all", action="store_true", help="the limits of every vhost")


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")


VERBS = [
    Verb("add_vhost", add_vhost, "Creates a virtual host", _add_vhost_arguments, group=GROUP),
    Verb("delete_vhost", delete_vhost, "Deletes a virtual host", _name, group=GROUP),
    Verb("list_vhosts", list_vhosts, "Lists virtual hosts", columns=VHOST_COLUMNS, group=GROUP),
    Verb("set_vhost_limits", set_vhost_limits, "Sets virtual host limits", _definition, group=GROUP),
    Verb("clear_vhost_limits", clear_vhost_limits, "Clears virtual host limits", group=GROUP),
    Verb("list_vhost_limits", list_vhost_limits, "Displays configured virtual host limits", _global_flag,
         group=GROUP),
]
