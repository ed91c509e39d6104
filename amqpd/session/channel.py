"""One channel: method dispatch, deliveries, unacked messages and closing.

The methods of each AMQP class live in their own module (topology, basic, publishing) as
functions of (channel, method); this module wires them to method indexes and turns the
errors they raise into Channel.Close or Connection.Close. A publish's frames go to the
channel's ContentAssembler (protocol/content.py); publishing gets each complete publish once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pamqp import commands

from amqpd.broker import Entry, MessageStats, QueueType, Settle, WeaklyReferable, with_deliveries
from amqpd.protocol import ContentAssembler, MalformedContentHeader, errors, frames
from amqpd.session import basic, consumer_timeout, publishing, topology
from amqpd.session.confirms import PublisherConfirms
from amqpd.session.consumer import ChannelConsumer

if TYPE_CHECKING:
    from amqpd.broker import VirtualHost
    from amqpd.session.connection import Connection

Handler = Callable[["Channel", Any], None]


class Unacked:
    """A delivered message awaiting ack: where it came from and which consumer holds it."""

    __slots__ = ("entry", "queue", "consumer")

    def __init__(self, entry: Entry, queue: QueueType, consumer: ChannelConsumer | None) -> None:
        self.entry = entry
        self.queue = queue
        self.consumer = consumer


class Channel(WeaklyReferable):
    """State of one open channel of a connection."""

    def __init__(self, connection: "Connection", number: int) -> None:
        self.connection = connection
        self.number = number
        self.vhost: VirtualHost = connection.vhost  # type: ignore[assignment]  # set once the connection is open
        self.published = connection.access.published  # the publish decisions (session/access.py)
        self.consumers: dict[str, ChannelConsumer] = {}
        self.last_queue = ""  # what an empty queue name refers to (RabbitMQ's shortcut)
        self.reply_queue: QueueType | None = None  # direct reply-to (session/reply_to.py)
        self.unacked: dict[int, Unacked] = {}
        self.delivery_tag = 0
        self.prefetch = 0  # for consumers created from now on (global=false)
        self.global_prefetch = 0  # shared by the channel's consumers (global=true)
        self.consumer_unacked = 0  # what global_prefetch limits: consumer deliveries to ack, not Gets'
        self._resumes = 0  # turns the order resume() offers the queues in
        self.confirms: PublisherConfirms | None = None  # set by Confirm.Select
        self.stats = MessageStats()  # added to the vhost's when the channel closes
        self.closed = False
        self.tx: publishing.Transaction | None = None
        self.content = ContentAssembler(connection.node.settings.max_message_size, connection.node.memory)
        self._dispatching = False  # a method handler of this channel is running
        self._deferred: list[bytes] = []  # frames to send after that handler's reply
        self._ack_deadline = consumer_timeout.watch(self)  # None: the node's consumer timeout is off

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, ftype: int, payload: bytes) -> None:
        """Dispatch one frame; errors become Channel.Close or Connection.Close.

        Frame-order faults carry the ids of the publish being assembled, or 0/0 when none is
        (RabbitMQ's class_id/method_id for an out-of-place content frame).
        """
        content = self.content
        index = frames.BASIC_PUBLISH if content.publish is not None else 0
        try:
            if ftype == frames.FRAME_METHOD:
                if content.publish is not None:
                    raise content.unexpected_method()
                index, method = frames.decode_method_frame(payload)
                if index == frames.BASIC_PUBLISH:
                    content.start(method)
                    self.connection.publish_received()
                    return
                handler = HANDLERS.get(index)
                if handler is None:
                    raise errors.ConnectionError(errors.COMMAND_INVALID, "unimplemented method")
                self._dispatching = True
                try:
                    handler(self, method)
                finally:
                    self._dispatching = False
                    if self._deferred:
                        self.connection.send(b"".join(self._deferred))
                        self._deferred.clear()
            elif ftype == frames.FRAME_BODY:
                done = content.body(payload)
                if done is not None:
                    publishing.publish(self, done)
            elif ftype == frames.FRAME_HEADER:
                try:
                    done = content.header(payload)
                except MalformedContentHeader as malformed:  # a name per exception type: mypyc types it once
                    self.connection.log.warning("malformed content header", reason=malformed.reason)
                    raise
                if done is not None:
                    publishing.publish(self, done)
            else:
                raise errors.ConnectionError(errors.FRAME_ERROR, f"unknown frame type {ftype}")
        except errors.ChannelError as exc:
            self.close_by_broker(exc.with_method(index >> 16, index & 0xFFFF))
        except errors.ConnectionError as hard:
            raise hard.with_method(index >> 16, index & 0xFFFF)

    @property
    def assembling(self) -> bool:
        """A published message's content is still arriving (its publisher is mid-publish)."""
        return self.content.publish is not None

    @property
    def dispatching(self) -> bool:
        """A method handler of this channel is running (its reply is not sent yet)."""
        return self._dispatching

    def defer(self, frame: bytes) -> None:
        """Send a frame after the reply of the method this channel is handling."""
        self._deferred.append(frame)

    # -- deliveries -----------------------------------------------------------------------------

    def deliver(self, consumer: ChannelConsumer, queue: QueueType, entry: Entry) -> None:
        """Write Basic.Deliver and the content to the outbox; track it until acked."""
        self.delivery_tag += 1
        message = entry.message
        out = self.connection.outbox
        frames.write_deliver(out, self.number, consumer.wire_tag, self.delivery_tag, entry.redelivered,
                             message.names)
        frames.write_content(out, self.number, message.raw_properties, message.body, self.connection.frame_max)
        self._track(queue, entry, consumer, consumer.no_ack)
        if self.vhost.tap is not None:  # the firehose and other taps (broker/taps.py); none: this one test
            self._tap(queue, entry)
        consumer.delivered += 1
        if not consumer.no_ack:
            consumer.unacked += 1
            self.consumer_unacked += 1
        if entry.redelivered:
            self.stats.redeliver += 1
            queue.stats.redeliver += 1

    def send_get_ok(self, queue: QueueType, entry: Entry, no_ack: bool) -> None:
        """Basic.Get-Ok and the content for a message taken from the queue."""
        self.delivery_tag += 1
        message = entry.message
        out = self.connection.outbox
        frames.write_get_ok(out, self.number, self.delivery_tag, entry.redelivered, message.names,
                            queue.message_count)
        frames.write_content(out, self.number, message.raw_properties, message.body, self.connection.frame_max)
        self._track(queue, entry, None, no_ack)
        if self.vhost.tap is not None:
            self._tap(queue, entry)
        for stats in (self.stats, queue.stats):
            if no_ack:
                stats.get_no_ack += 1
            else:
                stats.get += 1
            stats.redeliver += entry.redelivered

    def _tap(self, queue: QueueType, entry: Entry) -> None:
        assert self.vhost.tap is not None
        conn = self.connection
        self.vhost.tap.delivered(queue.name, entry.message, entry.redelivered, conn.name, self.number,
                                    conn.user or "")

    def message_stats(self) -> MessageStats:
        """Its message counts (what the management API and Prometheus report), read now."""
        return with_deliveries(self.stats, self.consumers.values())

    def _track(self, queue: QueueType, entry: Entry, consumer: ChannelConsumer | None, no_ack: bool) -> None:
        """After a delivery: forget it (no_ack) or hold it under its tag until settled."""
        if no_ack:
            queue.forget(entry)
        else:
            queue.hold(entry)
            if not self.unacked and self._ack_deadline is not None:
                self._ack_deadline.arm()
            self.unacked[self.delivery_tag] = Unacked(entry, queue, consumer)
        self.connection.wakeup()

    def oldest_unacked(self) -> int | None:
        """The lowest delivery tag awaiting its ack (tags are held in the order sent)."""
        return next(iter(self.unacked), None)

    def settle(self, tags: list[int], how: Settle) -> None:
        """Finish deliveries: acked, requeued or dropped (rejected), queue by queue."""
        touched: dict[QueueType, list[Entry]] = {}
        for tag in tags:
            item = self.unacked.pop(tag)
            if item.consumer is not None:
                item.consumer.unacked -= 1
                self.consumer_unacked -= 1
            touched.setdefault(item.queue, []).append(item.entry)
        if self.global_prefetch:  # freed channel credit goes round the queues before a queue's own redispatch
            self.resume()
        for queue, entries in touched.items():
            queue.settle(entries, how)
            if how is Settle.ACK:
                queue.stats.ack += len(entries)
        if how is Settle.ACK:
            self.stats.ack += len(tags)

    def resume(self) -> None:
        """Offer every queue this channel consumes from another dispatch round, starting each
        time one queue further on, so that freed global credit goes round them (RabbitMQ's
        limiter starts at a random one)."""
        queues = list(dict.fromkeys(c.queue for c in self.consumers.values()))
        if not queues:
            return
        self._resumes += 1
        start = self._resumes % len(queues)
        for queue in queues[start:] + queues[:start]:
            queue.dispatch()

    def consumer_cancelled_by_server(self, consumer: ChannelConsumer) -> None:
        """The queue went away: tell clients that announced consumer_cancel_notify.

        When a method of this same connection caused it (Queue.Delete), RabbitMQ's reply to that
        method (Delete-Ok) comes first, so the Cancel waits until the handler has replied.
        """
        if self.consumers.pop(consumer.tag, None) is not None:
            consumer.retire()
        connection = self.connection
        if not connection.capabilities.get("consumer_cancel_notify"):
            return
        connection.send_after_reply(
            frames.encode_method(self.number, commands.Basic.Cancel(consumer_tag=consumer.tag, nowait=True)))

    # -- confirms -------------------------------------------------------------------------------

    def flush_confirms(self) -> None:
        """After a read batch: one Basic.Ack covers the publishes of it that are already safe."""
        if self.confirms is not None:
            self.confirms.flush()

    # -- closing --------------------------------------------------------------------------------

    def close_by_broker(self, exc: errors.AMQPError) -> None:
        """A channel error: release the channel and send Channel.Close."""
        self.release()
        self.connection.channel_closed_by_broker(self, exc)

    def release(self) -> None:
        """The channel is going away: cancel its consumers and requeue its unacked messages."""
        self.closed = True
        if self._ack_deadline is not None:
            self._ack_deadline.stop()
        self.flush_confirms()
        if self.confirms is not None:
            self.confirms.close()
        for consumer in list(self.consumers.values()):
            basic.remove_consumer(self, consumer)
        self.settle(list(self.unacked), Settle.RELEASE)
        self.tx = None
        self.content.reset()
        self.vhost.stats.add(self.stats)
        self.vhost.churn.channel_closed += 1


def _close(channel: Channel, method: commands.Channel.Close) -> None:
    channel.release()
    channel.connection.channel_closed_by_client(channel)


def _close_ok(channel: Channel, method: commands.Channel.CloseOk) -> None:
    """Close-Ok for a Close the broker never sent: RabbitMQ ignores it too."""


def _flow(channel: Channel, method: commands.Channel.Flow) -> None:
    """RabbitMQ 3.10 does not implement client flow control: active=false closes the connection."""
    if not method.active:
        raise errors.ConnectionError(errors.NOT_IMPLEMENTED, "active=false")
    channel.connection.send_method(channel.number, commands.Channel.FlowOk(active=True))


def _open_again(channel: Channel, method: commands.Channel.Open) -> None:
    raise errors.ConnectionError(errors.CHANNEL_ERROR, "second 'channel.open' seen")


HANDLERS: dict[int, Handler] = {
    commands.Channel.Open.index: _open_again,
    commands.Channel.Close.index: _close,
    commands.Channel.CloseOk.index: _close_ok,
    commands.Channel.Flow.index: _flow,
    **topology.HANDLERS,
    **basic.HANDLERS,
    **publishing.HANDLERS,
}
