"""x-max-length / x-max-length-bytes with each x-overflow behaviour, as RabbitMQ 3.10.8 does it."""

from pamqp import body as pamqp_body
from pamqp import commands, frame, header

from tests.support.frames import close_of, consume, declare, delivered, drain, expect_ok, get, ready
from tests.support.raw import RawClient
from tests.support.typed import get_raw, properties

TO_DLQ = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}


def publish(raw, queue, *bodies, exchange="", properties_=None):
    for body in bodies:
        raw.publish(1, exchange, queue, body.encode(), properties_)


def bodies(raw, queue):
    return [body for _, _, body in drain(raw, queue)]


def publish_at_once(raw, *messages):
    """Publish (exchange, routing key, body) messages in one write, so the broker reads them as
    one batch and confirms them together."""
    data = b""
    for exchange, routing_key, body in messages:
        data += frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), 1)
        data += frame.marshal(header.ContentHeader(0, len(body), commands.Basic.Properties()), 1)
        data += frame.marshal(pamqp_body.ContentBody(body), 1)
    raw.send_bytes(data)


def confirms(raw, count, channel=1):
    """(kind, delivery_tag, multiple, requeue) of the confirms until all `count` publishes are covered."""
    out, covered = [], set()
    while len(covered) < count:
        _, value = raw.recv_frame()
        if isinstance(value, (commands.Basic.Ack, commands.Basic.Nack)):
            kind = "ack" if isinstance(value, commands.Basic.Ack) else "nack"
            out.append((kind, value.delivery_tag, value.multiple, getattr(value, "requeue", None)))
            covered |= set(range(1, value.delivery_tag + 1)) if value.multiple else {value.delivery_tag}
    return out


def select(raw):
    raw.send(1, commands.Confirm.Select())
    raw.expect(commands.Confirm.SelectOk, 1)


def test_drop_head_drops_the_oldest(opened):
    """The default overflow: the oldest messages make way for new ones."""
    declare(opened, "q", arguments={"x-max-length": 2})
    publish(opened, "q", "m0", "m1", "m2", "m3")
    assert bodies(opened, "q") == [b"m2", b"m3"]


def test_drop_head_dead_letters_with_reason_maxlen(opened):
    """With a dead-letter exchange the dropped messages go there, reason maxlen, oldest first."""
    declare(opened, "q", arguments={"x-max-length": 2, **TO_DLQ})
    declare(opened, "dlq")
    publish(opened, "q", "m0", "m1", "m2", "m3")
    assert bodies(opened, "q") == [b"m2", b"m3"]
    for body in (b"m0", b"m1"):
        raw_props, got = get_raw(opened, "dlq")
        death = dict(dict(properties(raw_props)["headers"])["x-death"][1][0][1])
        assert got == body and death["reason"] == ("S", b"maxlen") and death["queue"] == ("S", b"q")


def test_max_length_bytes_counts_body_bytes(opened):
    """x-max-length-bytes 5: 'aaa' + 'bb' fit, 'c' pushes 'aaa' out."""
    declare(opened, "q", arguments={"x-max-length-bytes": 5})
    publish(opened, "q", "aaa", "bb", "c")
    assert bodies(opened, "q") == [b"bb", b"c"]


def test_requeue_over_the_limit_drops_the_head(opened):
    """A requeued message goes back to its place and the queue drops from the head again."""
    declare(opened, "q", arguments={"x-max-length": 2})
    publish(opened, "q", "m0", "m1", "m2")
    tag = get(opened, "q")[0]  # m1 (m0 was dropped)
    publish(opened, "q", "m3")
    opened.send(1, commands.Basic.Reject(delivery_tag=tag, requeue=True))
    assert bodies(opened, "q") == [b"m2", b"m3"]


def test_unacked_messages_do_not_count(opened):
    """Only ready messages count against the limit."""
    declare(opened, "q", arguments={"x-max-length": 1})
    publish(opened, "q", "m0")
    tag = get(opened, "q")[0]
    publish(opened, "q", "m1")
    assert ready(opened, "q") == 1
    opened.send(1, commands.Basic.Ack(delivery_tag=tag))
    assert bodies(opened, "q") == [b"m1"]


def test_max_length_zero_still_feeds_a_waiting_consumer(opened):
    """drop-head with x-max-length 0: a consumer with credit gets each message."""
    declare(opened, "q", arguments={"x-max-length": 0})
    consume(opened, "c", "q", no_ack=True)
    publish(opened, "q", "x")
    assert delivered(opened, "q") == [("c", 1, False, b"x")]


def test_reject_publish_refuses_even_with_a_waiting_consumer(opened):
    """reject-publish checks the limit before delivering: with x-max-length 0 nothing gets through."""
    declare(opened, "q", arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    consume(opened, "c", "q", no_ack=True)
    publish(opened, "q", "x")
    assert delivered(opened, "q") == []


def test_reject_publish_keeps_the_old_and_drops_the_new(opened):
    """Without confirms a refused publish is silently dropped."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    publish(opened, "q", "m0", "m1", "m2")
    assert bodies(opened, "q") == [b"m0"]


def covered(confirmations):
    """Which tags each kind of confirm covers: {"ack": {...}, "nack": {...}}."""
    out = {"ack": set(), "nack": set()}
    done = set()
    for kind, tag, multiple, _ in confirmations:
        tags = {t for t in range(1, tag + 1) if t not in done} if multiple else {tag}
        assert tags and not tags & done, confirmations
        out[kind] |= tags
        done |= tags
    return out


def test_reject_publish_nacks_with_requeue_set(opened):
    """With confirms: tag 1 acked, tags 2 and 3 nacked, each exactly once; the Nack has the requeue
    bit set as RabbitMQ sends it (Nack(2, multiple=False, requeue=True), Nack(3, ...))."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    select(opened)
    publish_at_once(opened, *[("", "q", f"m{i}".encode()) for i in range(3)])
    got = confirms(opened, 3)
    assert covered(got) == {"ack": {1}, "nack": {2, 3}}
    assert {requeue for kind, _, _, requeue in got if kind == "nack"} == {True}


def test_acks_and_nacks_of_one_batch(opened):
    """Accepted and refused publishes interleaved: each tag confirmed once, with the right kind."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    declare(opened, "other")
    select(opened)
    publish_at_once(opened, ("", "q", b"m0"), ("", "q", b"m1"), ("", "other", b"o"), ("", "q", b"m2"))
    assert covered(confirms(opened, 4)) == {"ack": {1, 3}, "nack": {2, 4}}


def test_reject_publish_nacks_even_when_another_queue_took_it(opened):
    """Routed to a full reject-publish queue and another one: nacked, though the other one keeps it;
    no Basic.Return for a mandatory publish (it was routed)."""
    expect_ok(opened, commands.Exchange.Declare(exchange="fan", exchange_type="fanout"), commands.Exchange.DeclareOk)
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    declare(opened, "other")
    for queue in ("q", "other"):
        expect_ok(opened, commands.Queue.Bind(queue=queue, exchange="fan"), commands.Queue.BindOk)
    select(opened)
    for i in range(3):
        opened.publish(1, "fan", "", f"m{i}".encode(), mandatory=True)
    frames = []
    while not any(isinstance(f, commands.Basic.Nack) and f.delivery_tag == 3 for _, f in frames):
        frames.append(opened.recv_frame())
    assert not any(isinstance(f, commands.Basic.Return) for _, f in frames)
    assert ready(opened, "other") == 3 and ready(opened, "q") == 1


def test_reject_publish_dlx_dead_letters_the_refused_message(opened):
    """reject-publish-dlx: the refused message is dead-lettered (reason maxlen) and nacked."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish-dlx", **TO_DLQ})
    declare(opened, "dlq")
    select(opened)
    publish_at_once(opened, ("", "q", b"a"), ("", "q", b"b"))
    assert covered(confirms(opened, 2)) == {"ack": {1}, "nack": {2}}
    assert bodies(opened, "q") == [b"a"]
    raw_props, body = get_raw(opened, "dlq")
    death = dict(dict(properties(raw_props)["headers"])["x-death"][1][0][1])
    assert body == b"b" and death["reason"] == ("S", b"maxlen")


def test_reject_publish_does_not_dead_letter(opened):
    """Plain reject-publish never dead-letters the refused message, even with a DLX set."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish", **TO_DLQ})
    declare(opened, "dlq")
    publish(opened, "q", "a", "b")
    assert bodies(opened, "q") == [b"a"] and ready(opened, "dlq") == 0


def test_dropped_persistent_message_is_removed_from_the_store(broker_factory, tmp_path):
    """Messages drop-head pushed out of a durable queue do not come back after a restart."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "q", durable=True, arguments={"x-max-length": 1})
        publish(raw, "q", "old", "new", properties_=commands.Basic.Properties(delivery_mode=2))
        assert ready(raw, "q") == 1
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert bodies(raw, "q") == [b"new"]


def test_transaction_with_refused_publish_fails_the_commit(opened):
    """A transaction with a refused publish: the rest is applied (the other queue's message, the
    ack), then the channel closes with 406 'partial tx completion' on Tx.Commit."""
    declare(opened, "q", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    declare(opened, "other")
    publish(opened, "other", "held")
    tag = get(opened, "other")[0]
    opened.send(1, commands.Tx.Select())
    opened.expect(commands.Tx.SelectOk, 1)
    publish(opened, "q", "a", "b")
    publish(opened, "other", "o")
    opened.send(1, commands.Basic.Ack(delivery_tag=tag))
    close = close_of(opened, 1, commands.Tx.Commit())
    assert close == (406, "PRECONDITION_FAILED - partial tx completion", 90, 20)
    opened.open_channel(1)
    assert bodies(opened, "q") == [b"a"] and bodies(opened, "other") == [b"o"]
