"""Publishing side: Basic.Publish routing, mandatory returns, publisher confirms, transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pamqp import commands

from amqpd.auth import Access
from amqpd.broker import ACCEPTED, Enqueued, Exchange, Message, Outcome, Settle, cc, combined
from amqpd.protocol import ChannelError, errors, frames
from amqpd.session import reply_to
from amqpd.session.confirms import PublisherConfirms

if TYPE_CHECKING:
    from amqpd.session.channel import Channel


class Transaction:
    """Publishes and settlements held back until Tx.Commit (and dropped by Tx.Rollback)."""

    def __init__(self) -> None:
        self.publishes: list[tuple[Exchange, Message, bool]] = []
        self.settlements: list[tuple[list[int], Settle]] = []
        self.settled: set[int] = set()

    def settle(self, tags: list[int], how: Settle) -> None:
        self.settlements.append((tags, how))
        self.settled.update(tags)


def publish(channel: "Channel", m: frames.Publish) -> None:
    """A complete publish (its content assembled by the channel): check it, then route it now
    or at commit."""
    header = m.header
    assert header is not None
    vhost = channel.vhost
    try:
        topic_rule = channel.published[m.exchange]
    except KeyError:
        topic_rule = channel.connection.access.check_publish(m.exchange)
    exchange = vhost.exchange(m.exchange)
    if exchange.internal:
        raise ChannelError(
            errors.ACCESS_REFUSED, f"cannot publish to internal exchange '{m.exchange}' in vhost '{vhost.name}'")
    if topic_rule:  # a TopicRule (the user has a topic permission on this exchange) or None
        channel.connection.access.check_topic(Access.WRITE, exchange, m.routing_key, topic_rule)
    user = channel.connection.user
    if header.user_id is not None and header.user_id != user and not channel.connection.access.impersonator:
        raise ChannelError(
            errors.PRECONDITION_FAILED,
            f"user_id property set to '{header.user_id}' but authenticated user was '{user}'")
    if header.expiration_error is not None:
        raise ChannelError(errors.PRECONDITION_FAILED, header.expiration_error)
    message = Message(m.exchange, m.routing_key, header.raw_properties, m.body, header.delivery_mode,
                      header.priority, header.expiration)
    if message.raw_properties[0] & cc.HEADERS_BIT:
        message = cc.prepare(message)
    message = reply_to.rewrite(channel, message)
    if channel.tx is not None:
        channel.tx.publishes.append((exchange, message, m.mandatory))
        return
    result = route(channel, exchange, message, m.mandatory)
    if channel.confirms is not None:
        channel.confirms.published(result)


def route(channel: "Channel", exchange: Exchange, message: Message, mandatory: bool) -> Enqueued:
    """Enqueue a message where it routes (or return it); what became of it over every queue
    (REJECTED when a queue's length limit refused it: the publish is then nacked)."""
    extra_keys = cc.extra_keys(message) if message.raw_properties[0] & cc.HEADERS_BIT else ()
    vhost = channel.vhost
    queues = vhost.route(exchange, message, extra_keys)
    if vhost.tap is not None:  # the firehose and other taps (broker/taps.py); none: this one test
        conn = channel.connection
        vhost.tap.published(message, queues, extra_keys, conn.name, channel.number, conn.user or "")
    channel.stats.publish += 1
    counts = exchange.stats
    counts.publish_in += 1
    if queues:
        counts.publish_out += len(queues)
        results = []
        for queue in queues:
            queue.stats.publish += 1
            results.append(queue.enqueue(message))
        if len(results) == 1:
            return results[0]
        # the usual case (transient copies all accepted) counted in C; combined() walks the rest
        return ACCEPTED if results.count(ACCEPTED) == len(results) else combined(results)
    if not mandatory:
        channel.stats.drop_unroutable += 1
    else:
        channel.stats.return_unroutable += 1
        out = channel.connection.outbox
        out += frames.basic_return_head(channel.number, 312, "NO_ROUTE", message.exchange, message.routing_key)
        frames.write_content(out, channel.number, message.raw_properties, message.body, channel.connection.frame_max)
        channel.connection.wakeup()
    return ACCEPTED


def confirm_select(channel: "Channel", m: commands.Confirm.Select) -> None:
    if channel.tx is not None:
        raise ChannelError(errors.PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
    if channel.confirms is None:
        channel.confirms = PublisherConfirms(channel)
    if not m.nowait:
        channel.connection.send_method(channel.number, commands.Confirm.SelectOk())


def tx_select(channel: "Channel", m: commands.Tx.Select) -> None:
    if channel.confirms is not None:
        raise ChannelError(errors.PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
    if channel.tx is None:
        channel.tx = Transaction()
    channel.connection.send_method(channel.number, commands.Tx.SelectOk())


def _transaction(channel: "Channel") -> Transaction:
    if channel.tx is None:
        raise ChannelError(errors.PRECONDITION_FAILED, "channel is not transactional")
    return channel.tx


def tx_commit(channel: "Channel", m: commands.Tx.Commit) -> None:
    """Apply the transaction; Commit-Ok waits until its persistent messages are on disk.

    A publish a queue's length limit refused (reject-publish) fails the commit once the rest
    is applied: RabbitMQ's 406 "partial tx completion".
    """
    tx = _transaction(channel)
    channel.tx = Transaction()
    result = combined([route(channel, exchange, message, mandatory) for exchange, message, mandatory in tx.publishes])
    for tags, how in tx.settlements:
        channel.settle([t for t in tags if t in channel.unacked], how)
    if result.outcome is Outcome.REJECTED:
        raise ChannelError(errors.PRECONDITION_FAILED, "partial tx completion")
    ticket = result.batch
    store = channel.connection.node.store
    if not ticket or store is None:
        channel.connection.send_method(channel.number, commands.Tx.CommitOk())
        return

    def committed(ok: bool) -> None:
        if channel.closed:
            return
        if ok:
            channel.connection.send_method(channel.number, commands.Tx.CommitOk())
        else:
            channel.close_by_broker(errors.ChannelError(
                errors.INTERNAL_ERROR, "tx.commit failed: the store could not write the messages", 90, 20))

    store.when_durable(ticket, committed)


def tx_rollback(channel: "Channel", m: commands.Tx.Rollback) -> None:
    _transaction(channel)
    channel.tx = Transaction()
    channel.connection.send_method(channel.number, commands.Tx.RollbackOk())


HANDLERS: dict[int, Callable[["Channel", Any], None]] = {
    commands.Confirm.Select.index: confirm_select,
    commands.Tx.Select.index: tx_select,
    commands.Tx.Commit.index: tx_commit,
    commands.Tx.Rollback.index: tx_rollback,
}
