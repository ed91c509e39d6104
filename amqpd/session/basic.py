"""Consuming side of the Basic class: Qos, Consume, Cancel, Get, Ack, Nack, Reject, Recover."""

from __future__ import annotations

from itertools import takewhile
from typing import TYPE_CHECKING, Any, Callable

from pamqp import commands

from amqpd.auth import Access
from amqpd.broker import Settle, consumer_priority, random_name
from amqpd.protocol import ChannelError, errors, frames
from amqpd.session import reply_to
from amqpd.session.consumer import ChannelConsumer
from amqpd.session.topology import queue_name

if TYPE_CHECKING:
    from amqpd.session.channel import Channel


def qos(channel: "Channel", m: commands.Basic.Qos) -> None:
    """global=false sets the limit of consumers created afterwards; global=true the channel's.

    As in RabbitMQ 3.10 (rabbit_limiter:unlimit_prefetch), global=false also lifts the channel's
    limit. RabbitMQ has no byte-based prefetch: any prefetch_size closes the connection.
    """
    if m.prefetch_size:
        raise errors.ConnectionError(errors.NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})")
    if m.global_:
        channel.global_prefetch = m.prefetch_count
    else:
        channel.prefetch = m.prefetch_count
        channel.global_prefetch = 0
    channel.connection.send_method(channel.number, commands.Basic.QosOk())
    channel.resume()


def consume(channel: "Channel", m: commands.Basic.Consume) -> None:
    """Subscribe; a reused tag is checked before the queue, as RabbitMQ does (530 even for a missing queue)."""
    vhost = channel.vhost
    tag = m.consumer_tag or random_name("amq.ctag-")
    if tag in channel.consumers:
        raise errors.ConnectionError(errors.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
    if m.queue == reply_to.PSEUDO_QUEUE:
        queue = reply_to.reply_queue(channel, m.no_ack)
    else:
        name = queue_name(channel, m.queue)
        channel.connection.access.check(Access.READ, "queue", name)
        queue = vhost.queue(name, channel.connection)
    if channel.global_prefetch and not queue.supports_global_qos:
        raise errors.ConnectionError(errors.NOT_IMPLEMENTED,
                                     f"queue '{queue.name}' in vhost '{vhost.name}' does not support global qos")
    if queue.has_exclusive_consumer() or (m.exclusive and (queue.consumers or queue.single_active_consumer)):
        raise ChannelError(errors.ACCESS_REFUSED, f"queue '{queue.name}' in vhost '{vhost.name}' in exclusive use")
    queue.check_consume(m.no_ack, channel.prefetch, m.arguments)
    priority = consumer_priority(m.arguments, tag)
    consumer = ChannelConsumer(channel, queue, tag, m.no_ack, m.exclusive, priority, channel.prefetch)
    channel.consumers[tag] = consumer
    if not m.nowait:
        channel.connection.send_method(channel.number, commands.Basic.ConsumeOk(consumer_tag=tag))
    queue.subscribe(consumer, m.arguments)


def remove_consumer(channel: "Channel", consumer: ChannelConsumer) -> None:
    """Detach a consumer; an auto-delete queue goes with its last one."""
    if channel.consumers.pop(consumer.tag, None) is not None:
        consumer.retire()
    queue = consumer.queue
    queue.remove_consumer(consumer)
    if queue.unused_auto_delete:
        channel.vhost.remove_queue(queue)


def cancel(channel: "Channel", m: commands.Basic.Cancel) -> None:
    """Cancel-Ok goes first, as in RabbitMQ: deliveries to a single active consumer taking
    over from this one follow it."""
    if not m.nowait:
        channel.connection.send_method(channel.number, commands.Basic.CancelOk(consumer_tag=m.consumer_tag))
    consumer = channel.consumers.get(m.consumer_tag)  # type: ignore[arg-type]  # decoded: a str
    if consumer is not None:
        remove_consumer(channel, consumer)


def cancel_ok(channel: "Channel", m: commands.Basic.CancelOk) -> None:
    """The client acknowledging a server-sent Basic.Cancel: nothing to do."""


def get(channel: "Channel", m: commands.Basic.Get) -> None:
    name = queue_name(channel, m.queue)
    channel.connection.access.check(Access.READ, "queue", name)
    queue = channel.vhost.queue(name, channel.connection)
    queue.touch()
    entry = queue.get()
    if entry is None:
        channel.stats.get_empty += 1
        queue.stats.get_empty += 1
        channel.connection.send_method(channel.number, commands.Basic.GetEmpty())
        return
    channel.send_get_ok(queue, entry, m.no_ack)


def _tags(channel: "Channel", delivery_tag: int, multiple: bool) -> list[int]:
    """The delivery tags one Ack/Nack/Reject covers; 406 for a tag that is not outstanding."""
    pending = channel.tx.settled if channel.tx is not None else ()
    if multiple and delivery_tag == 0:
        return [t for t in channel.unacked if t not in pending]
    if delivery_tag not in channel.unacked or delivery_tag in pending:
        raise ChannelError(errors.PRECONDITION_FAILED, f"unknown delivery tag {delivery_tag}")
    if multiple:
        return [t for t in takewhile(lambda t: t <= delivery_tag, channel.unacked) if t not in pending]
    return [delivery_tag]


def _settle(channel: "Channel", tags: list[int], how: Settle) -> None:
    if channel.tx is not None:
        channel.tx.settle(tags, how)
    else:
        channel.settle(tags, how)


def ack(channel: "Channel", m: frames.Ack) -> None:
    _settle(channel, _tags(channel, m.delivery_tag, m.multiple), Settle.ACK)


def _rejectable(channel: "Channel", tags: list[int]) -> list[int]:
    """The tags, once every queue they came from allows Nack/Reject (streams do not: 540)."""
    for tag in tags:
        channel.unacked[tag].queue.check_reject()
    return tags


def nack(channel: "Channel", m: commands.Basic.Nack) -> None:
    tags = _rejectable(channel, _tags(channel, m.delivery_tag, m.multiple))
    _settle(channel, tags, Settle.REQUEUE if m.requeue else Settle.DROP)


def reject(channel: "Channel", m: commands.Basic.Reject) -> None:
    tags = _rejectable(channel, _tags(channel, m.delivery_tag, False))  # type: ignore[arg-type]  # decoded: an int
    _settle(channel, tags, Settle.REQUEUE if m.requeue else Settle.DROP)


def recover(channel: "Channel", m: commands.Basic.Recover) -> None:
    """Requeue the unacked deliveries, less those settled in the open transaction (RabbitMQ)."""
    if not m.requeue:
        raise errors.ConnectionError(errors.NOT_IMPLEMENTED, "requeue=false")
    channel.settle(_tags(channel, 0, True), Settle.REQUEUE)
    channel.connection.send_method(channel.number, commands.Basic.RecoverOk())


def recover_async(channel: "Channel", m: commands.Basic.RecoverAsync) -> None:
    if not m.requeue:
        raise errors.ConnectionError(errors.NOT_IMPLEMENTED, "requeue=false")
    channel.settle(_tags(channel, 0, True), Settle.REQUEUE)


HANDLERS: dict[int, Callable[["Channel", Any], None]] = {
    commands.Basic.Qos.index: qos,
    commands.Basic.Consume.index: consume,
    commands.Basic.Cancel.index: cancel,
    commands.Basic.CancelOk.index: cancel_ok,
    commands.Basic.Get.index: get,
    frames.BASIC_ACK: ack,
    commands.Basic.Nack.index: nack,
    commands.Basic.Reject.index: reject,
    commands.Basic.Recover.index: recover,
    commands.Basic.RecoverAsync.index: recover_async,
}
