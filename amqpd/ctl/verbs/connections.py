"""Clients: list_connections, list_channels, list_consumers, close_connection and
close_all_connections.

A connection's `pid` is a token derived from its name (amqpd has no Erlang processes), stable
while it lives; close_connection takes it, or the name itself. Test suites read the pid from
list_connections and pass it back through a shell, so it has no tab, space or quote.
"""

from __future__ import annotations

import argparse
from typing import Any, Mapping

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Column
from amqpd.ctl.transport import NotFound, segment
from amqpd.ctl.verb import Context, Verb

GROUP = "Monitoring, observability and health checks"
OPERATIONS = "Operations"
Item = Mapping[str, Any]


def _pid(item: Item) -> str:
    return terms.pid(item["node"], item["name"])


def _nothing(item: Item) -> None:
    return None


def _zero(item: Item) -> int:
    return 0


CONNECTION_COLUMNS = Columns([
    Column("pid", _pid), Column("name"), Column("port"), Column("host"), Column("peer_port"), Column("peer_host"),
    Column("ssl"), *(Column(name, _nothing) for name in (
        "ssl_protocol", "ssl_key_exchange", "ssl_cipher", "ssl_hash", "peer_cert_subject", "peer_cert_issuer",
        "peer_cert_validity")),
    Column("state"), Column("channels"), Column("protocol", render=terms.protocol), Column("auth_mechanism"),
    Column("user"), Column("vhost"), Column("timeout"), Column("frame_max"), Column("channel_max"),
    Column("client_properties"), Column("recv_oct"), Column("recv_cnt"), Column("send_oct"), Column("send_cnt"),
    Column("send_pend", _zero), Column("connected_at"),
], default=["user", "peer_host", "peer_port", "state"])


def _connection_pid(item: Item) -> str:
    return terms.pid(item["node"], item["connection_details"]["name"])


CHANNEL_COLUMNS = Columns([
    Column("pid", _pid), Column("connection", _connection_pid), Column("name"), Column("number"), Column("user"),
    Column("vhost"), Column("transactional"), Column("confirm"), Column("consumer_count"),
    Column("messages_unacknowledged"), Column("messages_uncommitted"), Column("acks_uncommitted"),
    Column("messages_unconfirmed"), Column("prefetch_count"), Column("global_prefetch_count"),
], default=["pid", "user", "consumer_count", "messages_unacknowledged"])


def _channel_pid(item: Item) -> str:
    details = item["channel_details"]
    return terms.pid(details["node"], details["name"])


CONSUMER_COLUMNS = Columns([
    Column("queue_name", lambda item: item["queue"]["name"]), Column("channel_pid", _channel_pid),
    Column("consumer_tag"), Column("ack_required"), Column("prefetch_count"), Column("active"),
    Column("activity_status"), Column("arguments"),
], default=["queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active", "arguments"])


def list_connections(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing connections ...")
    ctx.out.table(CONNECTION_COLUMNS.table(args, ctx.broker.listing("/api/connections")))


def list_channels(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner("Listing channels ...")
    ctx.out.table(CHANNEL_COLUMNS.table(args, ctx.broker.listing("/api/channels")))


def list_consumers(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Listing consumers in vhost {ctx.vhost} ...")
    try:
        rows = ctx.broker.listing(f"/api/consumers/{segment(ctx.vhost)}")
    except NotFound:
        rows = []
    ctx.out.table(CONSUMER_COLUMNS.table(args, rows))


def _close(ctx: Context, name: str, reason: str) -> bool:
    """Close one connection with 320 and the reason; False when it has gone meanwhile."""
    try:
        ctx.broker.request("DELETE", f"/api/connections/{segment(name)}", headers={"X-Reason": reason})
    except NotFound:
        return False
    return True


def close_connection(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Closing connection {args.connection}, reason: {args.reason}...")
    for item in ctx.broker.listing("/api/connections"):
        if args.connection in (_pid(item), item["name"]):
            _close(ctx, item["name"], args.reason)
            return
    if not (args.connection.startswith("<") and args.connection.endswith(">")):
        raise CtlError(Exit.UNAVAILABLE, f'Error:\nError:\n{{:invalid_pid_syntax, "{args.connection}"}}')
    # a pid whose connection has gone: nothing to do, as rabbitmqctl does for a dead process


def close_all_connections(ctx: Context, args: argparse.Namespace) -> None:
    if args.all:
        ctx.out.banner(f"Closing all connections to node {ctx.node} (across all vhosts), reason: {args.reason}...")
        items = ctx.broker.listing("/api/connections")
    else:
        count = "all" if args.limit is None else str(args.limit)
        ctx.out.banner(f"Closing {count} connections in vhost {ctx.vhost}, reason: {args.reason}...")
        try:
            items = ctx.broker.listing(f"/api/vhosts/{segment(ctx.vhost)}/connections")
        except NotFound:
            items = []
    if args.limit is not None:
        items = items[:args.limit]
    closed = sum(_close(ctx, item["name"], args.reason) for item in items)
    ctx.out.line(f"Closed {closed} connections")


def _close_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("connection", help="the pid list_connections prints, or the connection's name")
    parser.add_argument("reason", help="sent to the client in Connection.Close (320 CONNECTION_FORCED)")


def _close_all(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reason", help="sent to each client in Connection.Close (320 CONNECTION_FORCED)")
    parser.add_argument("--global", dest="all", action="store_true", help="in every vhost")
    parser.add_argument("--limit", type=int, help="close at most this many")


VERBS = [
    Verb("list_connections", list_connections, "Lists AMQP 0.9.1 connections for the node",
         columns=CONNECTION_COLUMNS, group=GROUP),
    Verb("list_channels", list_channels, "Lists all channels in the node", columns=CHANNEL_COLUMNS, group=GROUP),
    Verb("list_consumers", list_consumers, "Lists all consumers for a vhost", columns=CONSUMER_COLUMNS, group=GROUP),
    Verb("close_connection", close_connection,
         "Instructs the broker to close the connection associated with the pid (or name)", _close_connection,
         group=OPERATIONS),
    Verb("close_all_connections", close_all_connections,
         "Instructs the broker to close all connections for the specified vhost or entire node", _close_all,
         group=OPERATIONS),
]
