"""Transactions (Tx.Select / Commit / Rollback) as RabbitMQ 3.10 runs them."""

import pika
import pytest
from pamqp import commands

from tests.support.frames import close_of, drain, get, ready, until


def tx_select(raw, channel=1):
    """Tx.Select, asserted to be answered by Select-Ok."""
    raw.send(channel, commands.Tx.Select())
    raw.expect(commands.Tx.SelectOk, channel)


def commit(raw, channel=1):
    """Tx.Commit: the frames received up to and including Commit-Ok."""
    raw.send(channel, commands.Tx.Commit())
    return until(raw, commands.Tx.CommitOk, channel)


def rollback(raw, channel=1):
    """Tx.Rollback, asserted to be answered by Rollback-Ok."""
    raw.send(channel, commands.Tx.Rollback())
    raw.expect(commands.Tx.RollbackOk, channel)


def test_rolled_back_publishes_are_never_delivered(ch1):
    """Publishes in a transaction wait for commit; rollback discards them; commit enqueues the next ones."""
    tx_select(ch1)
    tx_select(ch1)  # a second Select is fine
    ch1.publish(1, "", "q", b"r0")
    ch1.publish(1, "", "q", b"r1")
    assert ready(ch1) == 0
    rollback(ch1)
    assert ready(ch1) == 0
    for i in range(3):
        ch1.publish(1, "", "q", f"c{i}".encode())
    commit(ch1)
    assert ready(ch1) == 3
    assert [get(ch1, no_ack=True)[2] for _ in range(3)] == [b"c0", b"c1", b"c2"]


def test_rolled_back_ack_leaves_the_message_unacked(ch1):
    """Ack then rollback: still unacked (the tag can be acked again); committed ack removes it."""
    ch1.publish(1, "", "q", b"m0")
    ch1.publish(1, "", "q", b"m1")
    tx_select(ch1)
    assert get(ch1)[:3] == (1, False, b"m0")
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    rollback(ch1)
    assert ready(ch1) == 1
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    commit(ch1)
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert get(ch1, no_ack=True)[:3] == (2, False, b"m1")
    assert get(ch1, no_ack=True) is None


def test_uncommitted_ack_is_not_applied_yet(ch1):
    """Inside a transaction an ack takes effect only at commit: recover before it would still see it unacked."""
    ch1.publish(1, "", "q", b"m0")
    tx_select(ch1)
    get(ch1)
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))  # already acked in this transaction
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (406, "PRECONDITION_FAILED - unknown delivery tag 1")
    ch1.open_channel(2)
    assert get(ch1, channel=2, no_ack=True)[:3] == (1, True, b"m0")


def test_recover_leaves_messages_whose_ack_is_pending_in_the_transaction(ch1):
    """Basic.Recover requeues the unacked deliveries except those acked in the open transaction
    (RabbitMQ 3.10.8, checked with pika; the Java client's Transactions.redeliverAckedUncommitted):
    commit then removes them; after a rollback they are unacked again and a recover requeues them."""
    ch1.publish(1, "", "q", b"m0")
    ch1.publish(1, "", "q", b"m1")
    tx_select(ch1)
    assert get(ch1)[:3] == (1, False, b"m0")
    assert get(ch1)[:3] == (2, False, b"m1")
    ch1.send(1, commands.Basic.Ack(delivery_tag=1))
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert get(ch1)[:3] == (3, True, b"m1")
    assert get(ch1) is None
    ch1.send(1, commands.Basic.Ack(delivery_tag=3))
    rollback(ch1)
    ch1.send(1, commands.Basic.Recover(requeue=True))
    ch1.expect(commands.Basic.RecoverOk, 1)
    assert sorted(get(ch1, no_ack=True)[1:3] for _ in range(2)) == [(True, b"m0"), (True, b"m1")]


def test_nack_and_reject_wait_for_commit(ch1):
    """Nack(multiple, requeue) and Reject(no requeue) are held back and dropped by rollback; commit applies them."""
    for i in range(3):
        ch1.publish(1, "", "q", f"m{i}".encode())
    tx_select(ch1)
    assert [get(ch1)[0] for _ in range(3)] == [1, 2, 3]
    ch1.send(1, commands.Basic.Nack(delivery_tag=2, multiple=True, requeue=True))
    ch1.send(1, commands.Basic.Reject(delivery_tag=3, requeue=False))
    rollback(ch1)
    assert ready(ch1) == 0
    ch1.send(1, commands.Basic.Nack(delivery_tag=2, multiple=True, requeue=True))
    ch1.send(1, commands.Basic.Reject(delivery_tag=3, requeue=False))
    assert ready(ch1) == 0
    commit(ch1)
    assert drain(ch1) == [(4, True, b"m0"), (5, True, b"m1")]  # then Get-Empty


def test_mandatory_return_comes_at_commit_before_commit_ok(ch1):
    """An unroutable mandatory publish in a transaction is returned when committed, before Commit-Ok."""
    tx_select(ch1)
    ch1.publish(1, "amq.direct", "nokey", b"x", mandatory=True)
    frames = commit(ch1)
    names = [type(f).__name__ for _, f in frames]
    assert names == ["Return", "ContentHeader", "ContentBody", "CommitOk"]
    assert (frames[0][1].reply_code, frames[0][1].reply_text) == (312, "NO_ROUTE")


def test_uncommitted_work_is_dropped_when_the_channel_closes(ch1):
    """Closing a tx channel drops its uncommitted publishes and requeues what it had not committed acks for."""
    ch1.publish(1, "", "q", b"m0")
    ch1.open_channel(2)
    tx_select(ch1, 2)
    get(ch1, channel=2)
    ch1.send(2, commands.Basic.Ack(delivery_tag=1))
    ch1.publish(2, "", "q", b"txpub")
    ch1.send(2, commands.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0))
    ch1.expect(commands.Channel.CloseOk, 2)
    assert get(ch1, no_ack=True)[:3] == (1, True, b"m0")
    assert get(ch1, no_ack=True) is None


@pytest.mark.parametrize("method, method_id", [(commands.Tx.Commit(), 20), (commands.Tx.Rollback(), 30)])
def test_commit_or_rollback_without_select_406(ch1, method, method_id):
    """Channel.Close 406 'channel is not transactional' with the method's ids."""
    assert close_of(ch1, 1, method) == (406, "PRECONDITION_FAILED - channel is not transactional", 90, method_id)


def test_publish_to_missing_exchange_in_tx_fails_at_once(ch1):
    """The 404 does not wait for commit."""
    tx_select(ch1)
    ch1.publish(1, "nosuch-ex", "", b"x")
    close = ch1.expect_channel_close(1)
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no exchange 'nosuch-ex' in vhost '/'")


def test_pika_transaction(broker):
    """pika tx_select / tx_rollback / tx_commit."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.tx_select()
    ch.basic_publish("", q, b"dropped")
    ch.tx_rollback()
    ch.basic_publish("", q, b"kept")
    ch.tx_commit()
    _, _, body = ch.basic_get(q, auto_ack=True)
    empty = ch.basic_get(q, auto_ack=True)[0]
    conn.close()
    assert body == b"kept" and empty is None
