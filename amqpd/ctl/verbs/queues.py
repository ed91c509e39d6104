"""Queues: list_queues with its columns, purge_queue, delete_queue, and amqpd's peek.

amqpd has no Erlang processes: a queue's `pid` is a token derived from its vhost and name, its
`owner_pid` the pid list_connections prints for the owning connection. Columns about RAM,
paging and mirrors, which amqpd's queues have no separate notion of, print what the API's
totals say (RAM counts as all messages) or nothing, as RabbitMQ prints a classic queue's.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Mapping

from amqpd.ctl import terms
from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.listing import Columns
from amqpd.ctl.output import Column, Table
from amqpd.ctl.transport import ApiFailure, NotFound, segment
from amqpd.ctl.verb import Context, Verb

GROUP = "Queues"
Item = Mapping[str, Any]


def _key(name: str, default: Any = None) -> Callable[[Item], Any]:
    return lambda item: item.get(name, default)


def _nothing(item: Item) -> None:
    return None


def _pid(item: Item) -> str:
    return terms.pid(item["node"], f"queue {item['vhost']} {item['name']}")


def _owner_pid(item: Item) -> str | None:
    owner = item.get("owner_pid_details")
    return terms.pid(item["node"], owner["name"]) if owner else None


def _queue_columns() -> Columns:
    return Columns([
        Column("name"), Column("durable"), Column("auto_delete"), Column("arguments"), Column("policy"),
        Column("pid", _pid), Column("owner_pid", _owner_pid), Column("exclusive"),
        Column("exclusive_consumer_pid", _nothing), Column("exclusive_consumer_tag"),
        Column("messages_ready", _key("messages_ready", 0)),
        Column("messages_unacknowledged", _key("messages_unacknowledged", 0)),
        Column("messages", _key("messages", 0)),
        Column("messages_ready_ram", _key("messages_ready", 0)),
        Column("messages_unacknowledged_ram", _key("messages_unacknowledged", 0)),
        Column("messages_ram", _key("messages", 0)),
        Column("messages_persistent", _key("messages_persistent", 0)),
        Column("message_bytes", _key("message_bytes", 0)),
        Column("message_bytes_ready", _key("message_bytes_ready", 0)),
        Column("message_bytes_unacknowledged", _key("message_bytes_unacknowledged", 0)),
        Column("message_bytes_ram", _key("message_bytes", 0)),
        Column("message_bytes_persistent", _key("message_bytes_persistent", 0)),
        Column("head_message_timestamp"), Column("disk_reads", _key("disk_reads", 0)),
        Column("disk_writes", _key("disk_writes", 0)), Column("consumers", _key("consumers", 0)),
        Column("consumer_utilisation", _utilisation("consumer_utilisation")),
        Column("consumer_capacity", _utilisation("consumer_capacity")),
        Column("memory", _key("memory", 0)),
        Column("slave_pids", _nothing), Column("synchronised_slave_pids", _nothing), Column("state"), Column("type"),
        Column("leader", _nothing), Column("members", _nothing), Column("online", _nothing),
    ], default=["name", "messages"])


def _utilisation(key: str) -> Callable[[Item], Any]:
    """rabbitmqctl prints an idle queue's utilisation as 0 and a busy one's as a float (1.0)."""
    return lambda item: item.get(key) or 0


QUEUE_COLUMNS = _queue_columns()


def list_queues(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Timeout: {ctx.broker.timeout} seconds ...")
    ctx.out.banner(f"Listing queues for vhost {ctx.vhost} ...")
    try:
        rows = [] if args.offline else ctx.broker.listing(f"/api/queues/{segment(ctx.vhost)}")
    except NotFound:  # a vhost that does not exist has no queues, as rabbitmqctl says
        rows = []
    ctx.out.table(QUEUE_COLUMNS.table(args, rows))


def _list_queues(parser: argparse.ArgumentParser) -> None:
    """rabbitmqctl's filters by where a queue's leader runs: on one node every queue is online and
    local, none offline."""
    parser.add_argument("--online", action="store_true", help="queues whose node is up (all of them)")
    parser.add_argument("--offline", action="store_true", help="queues whose node is down (none)")
    parser.add_argument("--local", action="store_true", help="queues led by this node (all of them)")


def purge_queue(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Purging queue '{args.queue}' in vhost '{ctx.vhost}' ...")
    try:
        ctx.broker.delete(f"/api/queues/{segment(ctx.vhost)}/{segment(args.queue)}/contents")
    except NotFound:
        raise CtlError(Exit.UNAVAILABLE, "Error:\nnot_found") from None


def delete_queue(ctx: Context, args: argparse.Namespace) -> None:
    condition = " if queue is empty" if args.if_empty else ""
    condition += " and" if args.if_empty and args.if_unused else ""
    condition += " if queue is unused" if args.if_unused else ""
    ctx.out.banner(f"Deleting queue '{args.queue}' on vhost '{ctx.vhost}'{condition} ...")
    path = f"/api/queues/{segment(ctx.vhost)}/{segment(args.queue)}"
    try:
        ready = ctx.broker.get(path).get("messages_ready", 0)
        params = {key: "true" for key, wanted in (("if-empty", args.if_empty), ("if-unused", args.if_unused)) if wanted}
        ctx.broker.delete(path, **params)
    except ApiFailure as failure:
        raise _not_deleted(failure) from None
    ctx.out.line(f"Queue was successfully deleted with {ready} ready messages")


def _not_deleted(failure: ApiFailure) -> CtlError | ApiFailure:
    """rabbitmqctl's reasons for a queue it did not delete (all exit 64, as its delete_queue does)."""
    if failure.status == 404:
        return CtlError(Exit.USAGE, "Error:\nQueue not found")
    if failure.status == 400 and "not empty" in str(failure.reason):
        return CtlError(Exit.USAGE, "Error:\nQueue is not empty")
    if failure.status == 400 and "in use" in str(failure.reason):
        return CtlError(Exit.USAGE, "Error:\nQueue is in use")
    return failure


def peek(ctx: Context, args: argparse.Namespace) -> None:
    """amqpd's own: the first messages of a queue, nothing taken, reordered or marked redelivered."""
    ctx.out.banner(f"Peeking at {args.count} messages of queue '{args.queue}' in vhost '{ctx.vhost}' ...")
    try:
        rows = ctx.broker.get(f"/api/queues/{segment(ctx.vhost)}/{segment(args.queue)}/peek", count=args.count)
    except NotFound:
        raise CtlError(Exit.DATA_ERROR, f"Error:\nno queue '{args.queue}' in vhost '{ctx.vhost}'") from None
    columns = [Column("position"), Column("exchange"), Column("routing_key"), Column("redelivered"),
               Column("payload_bytes"), Column("payload_encoding"), Column("properties"),
               Column("payload", render=terms.term)]  # quoted: a payload may hold tabs and line breaks
    ctx.out.table(Table(columns, [{"position": number, **item} for number, item in enumerate(rows, 1)]))


def _queue(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue")


def _delete_queue(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue")
    parser.add_argument("-e", "--if-empty", dest="if_empty", action="store_true", help="only if it has no messages")
    parser.add_argument("-u", "--if-unused", dest="if_unused", action="store_true", help="only if it has no consumers")


def _peek(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue")
    parser.add_argument("-n", "--count", dest="count", type=int, default=10,
                        help="how many messages from the head (default 10; --node names the node here)")


VERBS = [
    Verb("list_queues", list_queues, "Lists queues and their properties", _list_queues, columns=QUEUE_COLUMNS,
         group=GROUP),
    Verb("purge_queue", purge_queue, "Purges a queue (removes all messages in it)", _queue, group=GROUP),
    Verb("delete_queue", delete_queue, "Deletes a queue", _delete_queue, group=GROUP),
    Verb("peek", peek, "Shows the first messages of a queue without taking them (amqpd's own)", _peek, group=GROUP),
]
