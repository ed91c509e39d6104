"""Publisher confirms (Confirm.Select) as RabbitMQ 3.10 sends them."""

import pika
import pytest
from pamqp import commands

from tests.support.frames import close_of, expect_ok, until


def confirmed(frames, channel=1):
    """The highest tag confirmed per Basic.Ack on the channel, with its multiple flag."""
    return [(f.delivery_tag, f.multiple) for ch, f in frames if isinstance(f, commands.Basic.Ack) and ch == channel]


def select(raw, channel=1):
    """Confirm.Select, asserted to be answered by Select-Ok."""
    raw.send(channel, commands.Confirm.Select())
    raw.expect(commands.Confirm.SelectOk, channel)


def acks_up_to(raw, last, channel=1):
    """(delivery_tag, multiple) of the Basic.Acks on the channel until one covers `last`."""
    acks = []
    while not acks or acks[-1][0] < last:
        acks += confirmed(until(raw, commands.Basic.Ack, channel), channel)
    return acks


def test_select_ok_and_first_tag_is_one(ch1):
    """Publishes before Confirm.Select are not counted: the first confirmed publish is tag 1."""
    ch1.publish(1, "", "q", b"before")
    select(ch1)
    ch1.publish(1, "", "q", b"a")
    ack = ch1.expect(commands.Basic.Ack, 1)
    assert (ack.delivery_tag, ack.multiple) == (1, False)


def test_tags_count_per_channel(ch1):
    """Each confirm channel has its own sequence starting at 1."""
    select(ch1)
    ch1.open_channel(2)
    select(ch1, 2)
    ch1.publish(1, "", "q", b"a")
    ch1.publish(1, "", "q", b"b")
    assert acks_up_to(ch1, 2)[-1][0] == 2
    ch1.publish(2, "", "q", b"c")
    assert ch1.expect(commands.Basic.Ack, 2).delivery_tag == 1


def test_acks_cover_every_publish_exactly_once(ch1):
    """Routable and unroutable publishes are all confirmed once; multiple=true only covers outstanding tags."""
    select(ch1)
    for i in range(50):
        ch1.publish(1, "", "q" if i % 5 else "nowhere", f"m{i}".encode())
    outstanding = set(range(1, 51))
    while outstanding:
        ack = ch1.expect(commands.Basic.Ack, 1)
        if ack.multiple:
            covered = {tag for tag in outstanding if tag <= ack.delivery_tag}
        else:
            covered = {ack.delivery_tag}
        assert covered and covered <= outstanding
        outstanding -= covered


def test_nowait_select_and_reselect(ch1):
    """Confirm.Select nowait has no reply; a second Select is answered and changes nothing."""
    ch1.send(1, commands.Confirm.Select(nowait=True))
    ch1.send(1, commands.Confirm.Select())
    frames = until(ch1, commands.Confirm.SelectOk, 1)
    assert len(frames) == 1
    ch1.publish(1, "", "q", b"a")
    assert ch1.expect(commands.Basic.Ack, 1).delivery_tag == 1


@pytest.mark.parametrize("first, first_ok, second, text, ids", [
    (commands.Tx.Select(), commands.Tx.SelectOk, commands.Confirm.Select(),
     "PRECONDITION_FAILED - cannot switch from tx to confirm mode", (85, 10)),
    (commands.Confirm.Select(), commands.Confirm.SelectOk, commands.Tx.Select(),
     "PRECONDITION_FAILED - cannot switch from confirm to tx mode", (90, 10)),
], ids=["confirm_select_on_a_tx_channel", "tx_select_on_a_confirm_channel"])
def test_switching_between_tx_and_confirm_mode_406(ch1, first, first_ok, second, text, ids):
    """Confirm.Select after Tx.Select (85, 10), or Tx.Select after Confirm.Select (90, 10): Channel.Close 406."""
    expect_ok(ch1, first, first_ok)
    assert close_of(ch1, 1, second) == (406, text, *ids)


def test_publish_error_in_confirm_mode_acks_earlier_publishes_only(ch1):
    """A publish to a missing exchange closes the channel; earlier publishes were confirmed first."""
    select(ch1)
    ch1.publish(1, "", "q", b"a")
    ch1.publish(1, "nosuch-ex", "", b"b")
    frames = until(ch1, commands.Channel.Close, 1)
    assert confirmed(frames) == [(1, False)]
    assert frames[-1][1].reply_code == 404


def test_pika_confirm_delivery(broker):
    """pika's confirm_delivery: routable publishes succeed, a mandatory unroutable one raises UnroutableError."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(3):
        ch.basic_publish("", q, f"m{i}".encode(), mandatory=True)
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        ch.basic_publish("amq.direct", "nokey", b"lost", mandatory=True)
    count = ch.queue_declare(q, passive=True).method.message_count
    conn.close()
    assert count == 3
    returned = info.value.messages[0]
    assert (returned.method.reply_code, returned.method.reply_text, returned.body) == (312, "NO_ROUTE", b"lost")
