"""Exchange and Queue class methods: declare, delete, bind, unbind, purge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pamqp import commands

from amqpd.auth import Access
from amqpd.broker import EXCHANGE_TYPES, limit_reached, random_name
from amqpd.protocol import errors, frames
from amqpd.session import reply_to

if TYPE_CHECKING:
    from amqpd.session.channel import Channel


def _reply(channel: "Channel", method: Any, reply: Any) -> None:
    if not getattr(method, "nowait", False):
        channel.connection.send_method(channel.number, reply)


def _check_topic_binding(channel: "Channel", source: str, routing_key: str) -> None:
    """A binding key on a topic exchange must match the user's topic read permission."""
    exchange = channel.vhost.exchanges.get(source)
    if exchange is not None:
        channel.connection.access.check_topic(Access.READ, exchange, routing_key)


def _check_exchange_binding(channel: "Channel", m: commands.Exchange.Bind | commands.Exchange.Unbind) -> None:
    """Write on the destination, then (RabbitMQ's order) the default exchange's refusal, left
    to the vhost, then read on the source."""
    access = channel.connection.access
    access.check(Access.WRITE, "exchange", m.destination)
    if m.source and m.destination:
        access.check(Access.READ, "exchange", m.source)
        _check_topic_binding(channel, m.source, m.routing_key)


def exchange_declare(channel: "Channel", m: commands.Exchange.Declare) -> None:
    """An unknown type and the default exchange are refused (by the vhost) before the permission."""
    if not m.passive and m.exchange and m.exchange_type in EXCHANGE_TYPES:
        channel.connection.access.check(Access.CONFIGURE, "exchange", m.exchange)
    channel.vhost.declare_exchange(m.exchange, m.exchange_type, m.passive, m.durable, m.auto_delete,
                                   m.internal, m.arguments)
    _reply(channel, m, commands.Exchange.DeclareOk())


def exchange_delete(channel: "Channel", m: commands.Exchange.Delete) -> None:
    if m.exchange:  # the default exchange is refused (by the vhost) before the permission
        channel.connection.access.check(Access.CONFIGURE, "exchange", m.exchange)
    channel.vhost.delete_exchange(m.exchange, m.if_unused)
    _reply(channel, m, commands.Exchange.DeleteOk())


def exchange_bind(channel: "Channel", m: commands.Exchange.Bind) -> None:
    _check_exchange_binding(channel, m)
    channel.vhost.bind_exchange(m.destination, m.source, m.routing_key, m.arguments or {})
    _reply(channel, m, commands.Exchange.BindOk())


def exchange_unbind(channel: "Channel", m: commands.Exchange.Unbind) -> None:
    _check_exchange_binding(channel, m)
    channel.vhost.unbind_exchange(m.destination, m.source, m.routing_key, m.arguments or {})
    _reply(channel, m, commands.Exchange.UnbindOk())


def queue_name(channel: "Channel", name: str) -> str:
    """RabbitMQ's shortcut: an empty queue name means the channel's last declared queue."""
    if name:
        return name
    if not channel.last_queue:
        raise errors.ChannelError(errors.NOT_FOUND, "no previously declared queue")
    return channel.last_queue


def _binding_names(channel: "Channel", m: commands.Queue.Bind | commands.Queue.Unbind) -> tuple[str, str]:
    """Queue and routing key (both empty means the last declared queue for both, as RabbitMQ),
    once the user may write to the queue and read from the exchange with that key."""
    queue = queue_name(channel, m.queue)
    routing_key = m.routing_key or (queue if not m.queue else "")
    access = channel.connection.access
    access.check(Access.WRITE, "queue", queue)
    if m.exchange:  # the default exchange is refused (by the vhost) before the read permission
        access.check(Access.READ, "exchange", m.exchange)
        _check_topic_binding(channel, m.exchange, routing_key)
    return queue, routing_key


def queue_declare(channel: "Channel", m: commands.Queue.Declare) -> None:
    """Declare; even a passive or nowait declare becomes the channel's last declared queue."""
    if m.passive and m.queue == reply_to.PSEUDO_QUEUE:  # always there, as in RabbitMQ
        if not m.nowait:
            channel.connection.send(frames.queue_declare_ok(channel.number, m.queue, 0, 1))
        return
    vhost = channel.vhost
    name = m.queue
    if not m.passive:
        if name:
            vhost.check_queue_name(name)  # the reserved prefix is refused before the permission
        name = name or random_name("amq.gen-")
        channel.connection.access.check(Access.CONFIGURE, "queue", name)
        limit = channel.connection.node.vhost_limit(vhost.name, "max-queues")
        if name not in vhost.queues and limit_reached(limit, len(vhost.queues)):
            raise errors.ChannelError(errors.PRECONDITION_FAILED, f"cannot declare queue '{name}': queue limit "
                                      f"in vhost '{vhost.name}' ({limit}) is reached")
    queue = vhost.declare_queue(name, channel.connection, m.passive, m.durable, m.exclusive, m.auto_delete,
                                m.arguments, server_named=not m.queue)
    channel.last_queue = queue.name
    if not m.nowait:
        channel.connection.send(frames.queue_declare_ok(channel.number, queue.name, *queue.declare_counts))


def queue_bind(channel: "Channel", m: commands.Queue.Bind) -> None:
    queue, routing_key = _binding_names(channel, m)
    channel.vhost.bind_queue(queue, channel.connection, m.exchange, routing_key, m.arguments or {})
    _reply(channel, m, commands.Queue.BindOk())


def queue_unbind(channel: "Channel", m: commands.Queue.Unbind) -> None:
    queue, routing_key = _binding_names(channel, m)
    channel.vhost.unbind_queue(queue, channel.connection, m.exchange, routing_key, m.arguments or {})
    channel.connection.send_method(channel.number, commands.Queue.UnbindOk())


def queue_purge(channel: "Channel", m: commands.Queue.Purge) -> None:
    name = queue_name(channel, m.queue)
    channel.connection.access.check(Access.READ, "queue", name)
    count = channel.vhost.purge_queue(name, channel.connection)
    _reply(channel, m, commands.Queue.PurgeOk(message_count=count))


def queue_delete(channel: "Channel", m: commands.Queue.Delete) -> None:
    name = queue_name(channel, m.queue)
    channel.connection.access.check(Access.CONFIGURE, "queue", name)
    count = channel.vhost.delete_queue(name, channel.connection, m.if_unused, m.if_empty)
    _reply(channel, m, commands.Queue.DeleteOk(message_count=count))


def _names_stripped(handler: Callable[["Channel", Any], None], *fields: str) -> Callable[["Channel", Any], None]:
    """RabbitMQ removes CR and LF from these name fields before anything looks at them (in the
    declare, bind, unbind and delete methods only: purge, publish, get and consume keep them)."""
    def handle(channel: "Channel", m: Any) -> None:
        for field in fields:
            setattr(m, field, getattr(m, field).replace("\r", "").replace("\n", ""))
        handler(channel, m)
    return handle


HANDLERS: dict[int, Callable[["Channel", Any], None]] = {
    commands.Exchange.Declare.index: _names_stripped(exchange_declare, "exchange"),
    commands.Exchange.Delete.index: _names_stripped(exchange_delete, "exchange"),
    commands.Exchange.Bind.index: _names_stripped(exchange_bind, "destination", "source"),
    commands.Exchange.Unbind.index: _names_stripped(exchange_unbind, "destination", "source"),
    commands.Queue.Declare.index: _names_stripped(queue_declare, "queue"),
    commands.Queue.Bind.index: _names_stripped(queue_bind, "queue", "exchange"),
    commands.Queue.Unbind.index: _names_stripped(queue_unbind, "queue", "exchange"),
    commands.Queue.Purge.index: queue_purge,
    commands.Queue.Delete.index: _names_stripped(queue_delete, "queue"),
}
