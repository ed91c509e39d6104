"""Exchange and Queue class methods: declare, delete, bind, unbind, purge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pamqp import commands

from amqpd.protocol import frames

if TYPE_CHECKING:
    from amqpd.session.channel import Channel


def _reply(channel: "Channel", method: Any, reply: Any) -> None:
    if not getattr(method, "nowait", False):
        channel.connection.send_method(channel.number, reply)


def exchange_declare(channel: "Channel", m: commands.Exchange.Declare) -> None:
    channel.vhost.declare_exchange(m.exchange, m.exchange_type, m.passive, m.durable, m.auto_delete,
                                   m.internal, m.arguments)
    _reply(channel, m, commands.Exchange.DeclareOk())


def exchange_delete(channel: "Channel", m: commands.Exchange.Delete) -> None:
    channel.vhost.delete_exchange(m.exchange, m.if_unused)
    _reply(channel, m, commands.Exchange.DeleteOk())


def exchange_bind(channel: "Channel", m: commands.Exchange.Bind) -> None:
    vhost = channel.vhost
    destination = vhost.exchange(m.destination)
    vhost.bind(destination, m.source, m.routing_key, m.arguments or {})
    _reply(channel, m, commands.Exchange.BindOk())


def exchange_unbind(channel: "Channel", m: commands.Exchange.Unbind) -> None:
    vhost = channel.vhost
    destination = vhost.exchange(m.destination)
    vhost.unbind(destination, m.source, m.routing_key, m.arguments or {})
    _reply(channel, m, commands.Exchange.UnbindOk())


def queue_declare(channel: "Channel", m: commands.Queue.Declare) -> None:
    queue = channel.vhost.declare_queue(m.queue, channel.connection, m.passive, m.durable, m.exclusive,
                                        m.auto_delete, m.arguments)
    if not m.nowait:
        channel.connection.send(frames.queue_declare_ok(channel.number, queue.name, queue.message_count,
                                                        queue.consumer_count))


def queue_bind(channel: "Channel", m: commands.Queue.Bind) -> None:
    vhost = channel.vhost
    queue = vhost.queue(m.queue, channel.connection)
    vhost.bind(queue, m.exchange, m.routing_key, m.arguments or {})
    _reply(channel, m, commands.Queue.BindOk())


def queue_unbind(channel: "Channel", m: commands.Queue.Unbind) -> None:
    vhost = channel.vhost
    queue = vhost.queue(m.queue, channel.connection)
    vhost.unbind(queue, m.exchange, m.routing_key, m.arguments or {})
    channel.connection.send_method(channel.number, commands.Queue.UnbindOk())


def queue_purge(channel: "Channel", m: commands.Queue.Purge) -> None:
    count = channel.vhost.queue(m.queue, channel.connection).purge()
    _reply(channel, m, commands.Queue.PurgeOk(message_count=count))


def queue_delete(channel: "Channel", m: commands.Queue.Delete) -> None:
    count = channel.vhost.delete_queue(m.queue, channel.connection, m.if_unused, m.if_empty)
    _reply(channel, m, commands.Queue.DeleteOk(message_count=count))


HANDLERS: dict[int, Callable[["Channel", Any], None]] = {
    commands.Exchange.Declare.index: exchange_declare,
    commands.Exchange.Delete.index: exchange_delete,
    commands.Exchange.Bind.index: exchange_bind,
    commands.Exchange.Unbind.index: exchange_unbind,
    commands.Queue.Declare.index: queue_declare,
    commands.Queue.Bind.index: queue_bind,
    commands.Queue.Unbind.index: queue_unbind,
    commands.Queue.Purge.index: queue_purge,
    commands.Queue.Delete.index: queue_delete,
}
