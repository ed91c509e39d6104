"""Virtual hosts: add_vhost (idempotent, as RabbitMQ's), delete_vhost, list_vhosts and the
vhost limits."""

from __future__ import annotations

import argparse

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import ApiFailure, segment
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.common import json_argument

GROUP = "Virtual hosts"

VHOST_COLUMNS = Columns([
    Column("name"), Column("description"), Column("tags", render=terms.atoms),
    Column("default_queue_type"), Column("tracing"),
    Column("cluster_state", render=lambda state: terms.term(state or {}).replace('"', "")),
], default=["name"])


def add_vhost(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Adding vhost "{args.name}" ...')
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
    except ApiFailure as failure:
        if failure.status == 404:
            raise CtlError(Exit.DATA_ERROR, f"Virtual host '{args.name}' does not exist") from None
        raise


def list_vhosts(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing vhosts ...")
    ctx.out.table(VHOST_COLUMNS.table(args, ctx.broker.listing("/api/vhosts")))


def set_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Setting vhost limits to "{args.definition}" for vhost "{ctx.vhost}" ...')
    limits = json_argument(args.definition)
    for name, value in limits.items():
        ctx.broker.put(f"/api/vhost-limits/{segment(ctx.vhost)}/{segment(name)}", {"value": value})


def clear_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Clearing vhost "{ctx.vhost}" limits ...')
    for item in ctx.broker.get(f"/api/vhost-limits/{segment(ctx.vhost)}"):
        for name in item["value"]:
            ctx.broker.delete(f"/api/vhost-limits/{segment(ctx.vhost)}/{segment(name)}")


def list_vhost_limits(ctx: Context, args: argparse.Namespace) -> None:
    if args.all:
        ctx.out.banner("Listing limits for all vhosts ...")
        rows = ctx.broker.get("/api/vhost-limits")
        ctx.out.table(Table([Column("vhost"), Column("limits", lambda item: item["value"], terms.json_text)], rows))
        return
    ctx.out.banner(f'Listing limits for vhost "{ctx.vhost}" ...')
    items = ctx.broker.get(f"/api/vhost-limits/{segment(ctx.vhost)}")
    ctx.out.line(terms.json_text(items[0]["value"]) if items else "")


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
