"""x-expires: a queue unused for that many ms is deleted, as RabbitMQ 3.10.8 does it.

"Used" means having consumers, a Basic.Get, or a (passive) redeclare; publishing does not count.
Time passes on the broker's clock (``broker.clock.advance``, amqpd.testing's virtual time), in
minutes against expiries of a minute or two, so that the real milliseconds a loaded machine
adds never decide a test; a passive declare would itself count as use, so each queue is checked
once, at the end.
"""

from pamqp import commands

from tests.support.frames import consume, declare, expect_ok
from tests.support.raw import RawClient


def exists(raw, queue, channel=1):
    """Whether the queue exists (a passive declare; on 404 the channel is reopened)."""
    raw.send(channel, commands.Queue.Declare(queue=queue, passive=True))
    _, value = raw.recv_frame()
    if isinstance(value, commands.Queue.DeclareOk):
        return True
    assert isinstance(value, commands.Channel.Close) and value.reply_code == 404, value
    raw.send(channel, commands.Channel.CloseOk())
    raw.open_channel(channel)
    return False


def test_unused_queue_is_deleted_after_expires(opened, broker):
    """x-expires 60 s: gone once 60 s pass with no use, messages and all."""
    declare(opened, "q", arguments={"x-expires": 60_000})
    opened.publish(1, "", "q", b"m")
    broker.clock.advance(61)
    assert not exists(opened, "q")


def test_publishing_does_not_keep_it(opened, broker):
    """Publishes are not use: a queue published to all along still expires."""
    declare(opened, "q", arguments={"x-expires": 90_000})
    for _ in range(4):
        broker.clock.advance(20)
        opened.publish(1, "", "q", b"m")
    broker.clock.advance(11)
    assert not exists(opened, "q")


def test_redeclare_and_get_restart_the_countdown(opened, broker):
    """A passive declare, a declare and a Basic.Get each count as use."""
    declare(opened, "q", arguments={"x-expires": 60_000})
    for use in (commands.Queue.Declare(queue="q", passive=True),
                commands.Queue.Declare(queue="q", arguments={"x-expires": 60_000}),
                commands.Basic.Get(queue="q")):
        broker.clock.advance(40)
        opened.send(1, use)
        opened.recv_frame()
    broker.clock.advance(40)  # 160 s since the declare, 40 s since the last use
    assert exists(opened, "q")


def test_consumer_keeps_it_and_countdown_starts_at_cancel(opened, broker):
    """With a consumer the queue stays past its expiry; after the cancel it expires in time."""
    declare(opened, "q", arguments={"x-expires": 60_000})
    consume(opened, "c", "q")
    broker.clock.advance(120)
    opened.send(1, commands.Basic.Cancel(consumer_tag="c"))
    opened.expect(commands.Basic.CancelOk, 1)
    broker.clock.advance(30)
    assert exists(opened, "q")  # the passive declare is a use: the countdown starts again
    broker.clock.advance(61)
    assert not exists(opened, "q")


def test_expired_queue_loses_its_bindings(opened, broker):
    """An expired queue is deleted like Queue.Delete: its bindings go with it (an auto-delete
    exchange bound only to it goes too)."""
    expect_ok(opened, commands.Exchange.Declare(exchange="x", exchange_type="fanout", auto_delete=True),
       commands.Exchange.DeclareOk)
    declare(opened, "q", arguments={"x-expires": 60_000})
    expect_ok(opened, commands.Queue.Bind(queue="q", exchange="x"), commands.Queue.BindOk)
    broker.clock.advance(61)
    opened.send(1, commands.Exchange.Declare(exchange="x", passive=True))
    assert opened.expect_channel_close(1).reply_code == 404


def test_expired_durable_queue_is_gone_after_restart(broker_factory, tmp_path):
    """A durable queue that expired is removed from the store too."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "gone", durable=True, arguments={"x-expires": 60_000})
        declare(raw, "kept", durable=True)
        first.clock.advance(61)
        assert not exists(raw, "gone")
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert not exists(raw, "gone") and exists(raw, "kept")


def test_recovered_queue_expires(broker_factory, tmp_path):
    """After a restart the countdown of an unused durable queue starts again and runs out."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "q", durable=True, arguments={"x-expires": 60_000})
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    second.clock.advance(61)
    with RawClient.connect(second.port) as raw:
        assert not exists(raw, "q")
