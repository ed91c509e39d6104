"""Exchanges and bindings: list_exchanges, list_bindings, and amqpd's route (where a message
with a given routing key and headers would go, hop by hop)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Column, Formatter, Table
from amqpd.ctl.transport import NotFound, segment
from amqpd.ctl.verb import Context, Verb

GROUP = "Monitoring, observability and health checks"

EXCHANGE_COLUMNS = Columns([Column("name"), Column("type"), Column("durable"), Column("auto_delete"),
                            Column("internal"), Column("arguments"), Column("policy")],
                           default=["name", "type"])

BINDING_COLUMNS = Columns([
    Column("source_name", lambda item: item["source"]), Column("source_kind", lambda item: "exchange"),
    Column("destination_name", lambda item: item["destination"]),
    Column("destination_kind", lambda item: item["destination_type"]),
    Column("routing_key"), Column("arguments"),
], default=["source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments"])


def _in_vhost(ctx: Context, path: str) -> list[dict[str, Any]]:
    """A vhost's list; a vhost that does not exist has nothing in it, as rabbitmqctl prints it."""
    try:
        return ctx.broker.listing(path)
    except NotFound:
        return []


def list_exchanges(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Listing exchanges for vhost {ctx.vhost} ...")
    ctx.out.table(EXCHANGE_COLUMNS.table(args, _in_vhost(ctx, f"/api/exchanges/{segment(ctx.vhost)}")))


def list_bindings(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Listing bindings for vhost {ctx.vhost}...")
    ctx.out.table(BINDING_COLUMNS.table(args, _in_vhost(ctx, f"/api/bindings/{segment(ctx.vhost)}")))


def route(ctx: Context, args: argparse.Namespace) -> None:
    """amqpd's own: the queues a message would reach and every hop on the way there."""
    exchange = args.exchange
    ctx.out.banner(f"Routing a message with routing key '{args.routing_key}' through exchange '{exchange}' "
                   f"in vhost '{ctx.vhost}' ...")
    headers = dict(_header(text) for text in args.header)
    body = {"routing_key": args.routing_key, "properties": {"headers": headers} if headers else {}}
    try:
        result = ctx.broker.post(f"/api/exchanges/{segment(ctx.vhost)}/{segment(exchange or 'amq.default')}/route",
                                 body)
    except NotFound:
        raise CtlError(Exit.DATA_ERROR, f"Error:\nno exchange '{exchange}' in vhost '{ctx.vhost}'") from None
    if ctx.out.formatter is Formatter.JSON:
        ctx.out.document(result)
        return
    columns = [Column("source"), Column("destination"), Column("destination_type"), Column("routing_key"),
               Column("arguments"), Column("via")]
    ctx.out.table(Table(columns, result["routes"]))
    queues = ", ".join(f"'{queue['name']}'" for queue in result["queues"])
    ctx.out.line(f"Queues reached: {queues}" if queues else "Unroutable: no queue would get the message")


def _header(text: str) -> tuple[str, Any]:
    """k=v; v is taken as JSON when it parses (numbers, true/false), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CtlError(Exit.USAGE, f"Error (argument validation): --header expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _route(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("exchange", help='the exchange ("" for the default exchange)')
    parser.add_argument("routing_key")
    parser.add_argument("--header", action="append", default=[], metavar="KEY=VALUE",
                        help="a message header (repeatable; a value that parses as JSON is taken as such)")


VERBS = [
    Verb("list_exchanges", list_exchanges, "Lists exchanges", columns=EXCHANGE_COLUMNS, group=GROUP),
    Verb("list_bindings", list_bindings, "Lists all bindings on a vhost", columns=BINDING_COLUMNS, group=GROUP),
    Verb("route", route, "Shows which queues a message would reach, and through which bindings (amqpd's own)",
         _route, group=GROUP),
]
