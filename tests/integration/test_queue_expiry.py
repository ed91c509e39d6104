"""x-expires: a queue unused for that many ms is deleted, as RabbitMQ 3.10.8 does it.

"Used" means having consumers, a Basic.Get, or a (passive) redeclare; publishing does not count.
Time passing is the point of these tests, so they sleep; a passive declare would itself count
as use, so each queue is checked once, at the end.
"""

import time

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


def test_unused_queue_is_deleted_after_expires(opened):
    """x-expires 100: gone once 100 ms pass with no use, messages and all."""
    declare(opened, "q", arguments={"x-expires": 100})
    opened.publish(1, "", "q", b"m")
    time.sleep(0.2)
    assert not exists(opened, "q")


def test_publishing_does_not_keep_it(opened):
    """Publishes are not use: a queue published to all along still expires."""
    declare(opened, "q", arguments={"x-expires": 150})
    for _ in range(4):
        time.sleep(0.05)
        opened.publish(1, "", "q", b"m")
    time.sleep(0.15)
    assert not exists(opened, "q")


def test_redeclare_and_get_restart_the_countdown(opened):
    """A passive declare, a declare and a Basic.Get each count as use."""
    declare(opened, "q", arguments={"x-expires": 150})
    for use in (commands.Queue.Declare(queue="q", passive=True),
                commands.Queue.Declare(queue="q", arguments={"x-expires": 150}),
                commands.Basic.Get(queue="q")):
        time.sleep(0.1)
        opened.send(1, use)
        opened.recv_frame()
    time.sleep(0.1)
    assert exists(opened, "q")


def test_consumer_keeps_it_and_countdown_starts_at_cancel(opened):
    """With a consumer the queue stays past its expiry; after the cancel it expires in time."""
    declare(opened, "q", arguments={"x-expires": 100})
    consume(opened, "c", "q")
    time.sleep(0.2)
    opened.send(1, commands.Basic.Cancel(consumer_tag="c"))
    opened.expect(commands.Basic.CancelOk, 1)
    time.sleep(0.05)
    assert exists(opened, "q")
    time.sleep(0.2)
    assert not exists(opened, "q")


def test_expired_queue_loses_its_bindings(opened):
    """An expired queue is deleted like Queue.Delete: its bindings go with it (an auto-delete
    exchange bound only to it goes too)."""
    expect_ok(opened, commands.Exchange.Declare(exchange="x", exchange_type="fanout", auto_delete=True),
       commands.Exchange.DeclareOk)
    declare(opened, "q", arguments={"x-expires": 50})
    expect_ok(opened, commands.Queue.Bind(queue="q", exchange="x"), commands.Queue.BindOk)
    time.sleep(0.15)
    opened.send(1, commands.Exchange.Declare(exchange="x", passive=True))
    assert opened.expect_channel_close(1).reply_code == 404


def test_expired_durable_queue_is_gone_after_restart(broker_factory, tmp_path):
    """A durable queue that expired is removed from the store too."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "gone", durable=True, arguments={"x-expires": 50})
        declare(raw, "kept", durable=True)
        time.sleep(0.15)
        assert not exists(raw, "gone")
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert not exists(raw, "gone") and exists(raw, "kept")


def test_recovered_queue_expires(broker_factory, tmp_path):
    """After a restart the countdown of an unused durable queue starts again and runs out."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "q", durable=True, arguments={"x-expires": 300})
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    time.sleep(0.4)
    with RawClient.connect(second.port) as raw:
        assert not exists(raw, "q")
