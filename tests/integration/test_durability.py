"""What survives a restart, as in RabbitMQ 3.10 (checked against it with `rabbitmqctl stop_app/start_app`).

* Durable exchanges and queues, and bindings whose two ends are durable, come back with their
  flags and arguments (types included); transient, exclusive ones and their bindings do not.
  A durable auto-delete queue that never had a consumer comes back.
* Persistent messages in durable queues come back in their order, with their properties byte
  for byte; transient ones do not. Those delivered (and not acked) before the restart come back
  redelivered=true, the others redelivered=false.
* Acked, rejected, purged messages, deleted queues, rolled-back publishes stay gone.
* Durable queues keep only `queue_window` messages in memory; the rest are read back from the
  store in order. Publisher confirms and Tx.Commit-Ok wait for the disk; a store that cannot
  write nacks, raises the disk alarm (Connection.Blocked 'low on disk') and recovers by itself.
* A damaged data directory still starts, says what it lost, and keeps every intact record.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading

import pika
import pytest
from pamqp import body as pamqp_body
from pamqp import commands, frame, header
from structlog.testing import capture_logs

from amqpd.store import writer
from amqpd.store.sqlite import DB_NAME
from tests.integration.test_crash import Amqpd
from tests.support.frames import close_of, declare, drain, expect_ok, get
from tests.support.raw import RawClient

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)
SILENCE = 0.3  # how long "no frame" is awaited


@pytest.fixture
def start(tmp_path, broker_factory):
    """Start a broker on this test's data directory (again and again: each sees what the last left)."""
    data_dir = str(tmp_path / "data")
    return lambda **settings: broker_factory(data_dir=data_dir, **settings)


def restarted(broker, start, **settings):
    broker.stop()
    return start(**settings)


def connect(broker) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(broker.url))


def refused(raw: RawClient, method) -> tuple:
    """(code, text) of the Channel.Close a method provokes; channel 1 is reopened afterwards."""
    code, text, _, _ = close_of(raw, 1, method)
    raw.open_channel(1)
    return code, text


def assert_silent(raw: RawClient) -> None:
    """No frame arrives for SILENCE seconds."""
    raw.sock.settimeout(SILENCE)
    try:
        with pytest.raises(socket.timeout):
            raw.recv_frame()
    finally:
        raw.sock.settimeout(5)


def bodies(raw: RawClient, queue: str) -> list[tuple[bytes, bool]]:
    """(body, redelivered) of every ready message, fetched with no-ack Gets."""
    return [(body, redelivered) for _, redelivered, body in drain(raw, queue)]


def publish_all(raw: RawClient, queue: str, count: int, properties=None, body=lambda i: f"m{i}".encode()) -> None:
    """Publish persistent messages (m0, m1, .. unless `body` says otherwise) in one write."""
    props = properties or (lambda i: commands.Basic.Properties(delivery_mode=2))
    raw.send_bytes(b"".join(
        frame.marshal(commands.Basic.Publish(exchange="", routing_key=queue), 1)
        + frame.marshal(header.ContentHeader(0, len(body(i)), props(i)), 1)
        + frame.marshal(pamqp_body.ContentBody(body(i)), 1)
        for i in range(count)))


# -- topology -------------------------------------------------------------------------------------

def test_durable_topology_survives_and_transient_does_not(start):
    broker = start()
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("dx", "direct", durable=True, arguments={"alternate-exchange": "ae"})
    ch.exchange_declare("dx2", "fanout", durable=True)
    ch.exchange_declare("ix", "topic", durable=True, internal=True)
    ch.exchange_declare("tx", "fanout", durable=False)
    ch.queue_declare("dq", durable=True)
    ch.queue_declare("dq2", durable=True)
    ch.queue_declare("tq", durable=False)
    ch.queue_declare("eq", durable=True, exclusive=True)
    ch.queue_declare("adq", durable=True, auto_delete=True)
    ch.queue_bind("dq", "dx", "k1")
    ch.queue_bind("tq", "dx", "k2")
    ch.exchange_bind("dx2", "dx", "k4")  # exchange to exchange, both durable
    ch.queue_bind("dq2", "dx2")
    ch.exchange_bind("tx", "dx", "k3")  # to a transient exchange
    ch.queue_bind("dq", "tx")
    conn.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    for name, kind in (("dx", "direct"), ("dx2", "fanout")):
        expect_ok(raw, commands.Exchange.Declare(exchange=name, exchange_type=kind, passive=True),
                  commands.Exchange.DeclareOk)
    for name in ("dq", "dq2", "adq"):
        assert declare(raw, name, passive=True).message_count == 0
    assert refused(raw, commands.Exchange.Declare(exchange="tx", exchange_type="fanout", passive=True)) == (
        404, "NOT_FOUND - no exchange 'tx' in vhost '/'")
    for name in ("tq", "eq"):
        assert refused(raw, commands.Queue.Declare(queue=name, passive=True)) == (
            404, f"NOT_FOUND - no queue '{name}' in vhost '/'")
    # flags and arguments came back
    assert refused(raw, commands.Exchange.Declare(exchange="dx", exchange_type="direct", durable=True)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'dx' in vhost '/': "
             "received none but current is the value 'ae' of type 'longstr'")
    assert refused(raw, commands.Exchange.Declare(exchange="ix", exchange_type="topic", durable=True)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'internal' for exchange 'ix' in vhost '/': "
             "received 'false' but current is 'true'")
    assert refused(raw, commands.Queue.Declare(queue="adq", durable=True)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'adq' in vhost '/': "
             "received 'false' but current is 'true'")
    # bindings: durable ones route, those to transient things are gone even once those are redeclared
    declare(raw, "tq")
    expect_ok(raw, commands.Exchange.Declare(exchange="tx", exchange_type="fanout"), commands.Exchange.DeclareOk)
    for key in ("k1", "k2", "k3", "k4"):
        raw.publish(1, "dx", key, key.encode())
    assert [bodies(raw, q) for q in ("dq", "dq2", "tq")] == [[(b"k1", False)], [(b"k4", False)], []]
    raw.close()


def test_a_binding_to_a_stream_queue_survives(start):
    """A stream is a durable queue like any other: its binding to a durable exchange is stored as
    a queue's (it was once stored as an exchange's, and found no destination at the restart)."""
    broker = start()
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("sx", "direct", durable=True)
    ch.queue_declare("sq", durable=True, arguments={"x-queue-type": "stream"})
    ch.queue_bind("sq", "sx", "k")
    conn.close()

    broker = restarted(broker, start)
    conn = connect(broker)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("sx", "k", b"after", mandatory=True)  # unroutable: pika raises UnroutableError
    ch.basic_qos(prefetch_count=10)
    got: list[bytes] = []
    ch.basic_consume("sq", lambda c, m, p, b: got.append(b), arguments={"x-stream-offset": "first"})
    while not got:
        conn.process_data_events(time_limit=1)
    assert got == [b"after"]
    conn.close()


def test_queue_arguments_come_back_with_their_types(start):
    """Compared arguments are compared after the restart exactly as before it."""
    args = {"x-max-length": 1000, "x-expires": 3600000, "x-message-ttl": 3600000, "x-dead-letter-exchange": "dlx",
            "x-single-active-consumer": False, "x-queue-mode": "lazy", "custom": [1, 0.5, {"deep": "x"}]}
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "argq", durable=True, arguments=args)
    raw.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    declare(raw, "argq", durable=True, arguments=args)
    without_sac = {k: v for k, v in args.items() if k != "x-single-active-consumer"}
    assert refused(raw, commands.Queue.Declare(queue="argq", durable=True, arguments=without_sac)) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-single-active-consumer' for queue 'argq' in vhost '/': "
             "received none but current is the value 'false' of type 'bool'")
    assert refused(raw, commands.Queue.Declare(queue="argq", durable=True, arguments={**args, "x-max-length": 999})) == (
        406, "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'argq' in vhost '/': "
             "received '999' but current is '1000'")
    raw.close()


def _bind(raw: RawClient, queue: str, arguments: dict, unbind: bool = False) -> None:
    method = commands.Queue.Unbind if unbind else commands.Queue.Bind
    expect_ok(raw, method(queue=queue, exchange="hx", routing_key="", arguments=arguments),
       commands.Queue.UnbindOk if unbind else commands.Queue.BindOk)


def _publish_headers(raw: RawClient, headers: dict) -> None:
    raw.publish(1, "hx", "", b"h", commands.Basic.Properties(headers=headers))


def _binary_header(raw: RawClient, queue: str | None) -> None:
    """Bind (queue given) or publish with x=<the non-UTF-8 long string ff fe>, which no library sends."""
    placeholder = b"S\x00\x00\x00\x02\x7f\x7e"
    if queue is None:
        data = frame.marshal(commands.Basic.Publish(exchange="hx"), 1)
        data += frame.marshal(header.ContentHeader(0, 1, commands.Basic.Properties(headers={"x": "\x7f\x7e"})), 1)
        data += frame.marshal(pamqp_body.ContentBody(b"b"), 1)
    else:
        data = frame.marshal(commands.Queue.Bind(queue=queue, exchange="hx", arguments={"x": "\x7f\x7e"}), 1)
    assert data.count(placeholder) == 1
    raw.send_bytes(data.replace(placeholder, b"S\x00\x00\x00\x02\xff\xfe"))
    if queue is not None:
        raw.expect(commands.Queue.BindOk, 1)


def test_headers_bindings_keep_their_argument_types(start):
    """a=1 and a=1.0 to the same queue are two bindings, both kept; 0.1 stays exactly 0.1; a binary
    long string stays binary; a binding removed with its arguments in another order stays removed."""
    broker = start()
    raw = RawClient.connect(broker.port)
    expect_ok(raw, commands.Exchange.Declare(exchange="hx", exchange_type="headers", durable=True),
              commands.Exchange.DeclareOk)
    for queue in ("hq", "hq2", "fq", "bq", "oq"):
        declare(raw, queue, durable=True)
    for queue in ("hq", "hq2"):
        _bind(raw, queue, {"x-match": "all", "a": 1})
        _bind(raw, queue, {"x-match": "all", "a": 1.0})
    _bind(raw, "fq", {"x-match": "any", "f": 0.1})
    _binary_header(raw, "bq")
    _bind(raw, "oq", {"x-match": "all", "b": "1", "c": "2"})
    raw.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    _bind(raw, "oq", {"c": "2", "b": "1", "x-match": "all"}, unbind=True)
    _publish_headers(raw, {"f": 0.1})
    _binary_header(raw, None)
    assert (bodies(raw, "fq"), bodies(raw, "bq")) == ([(b"h", False)], [(b"b", False)])
    _bind(raw, "hq", {"x-match": "all", "a": 1}, unbind=True)  # hq keeps its float binding,
    _bind(raw, "hq2", {"x-match": "all", "a": 1.0}, unbind=True)  # hq2 its int binding
    _publish_headers(raw, {"a": 1.0})
    _publish_headers(raw, {"a": 1})
    assert bodies(raw, "hq")[0] == (b"h", False)
    assert bodies(raw, "hq2")[-1] == (b"h", False)
    raw.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    _publish_headers(raw, {"a": 1.0, "b": "1", "c": "2"})  # hq2's a=1 matches 1.0 at the top level
    assert (bodies(raw, "hq"), bodies(raw, "hq2"), bodies(raw, "oq")) == ([(b"h", False)], [(b"h", False)], [])
    _bind(raw, "hq", {"x-match": "all", "a": 1.0}, unbind=True)
    _bind(raw, "hq2", {"x-match": "all", "a": 1}, unbind=True)
    _publish_headers(raw, {"a": 1.0})
    _publish_headers(raw, {"a": 1})
    assert (bodies(raw, "hq"), bodies(raw, "hq2")) == ([], [])
    raw.close()


def test_top_level_numbers_match_across_int_and_float(start):
    """RabbitMQ 3.10 compares a top-level header value with == : an int header matches a float
    binding and the other way round (nested tables and arrays compare exactly)."""
    broker = start()
    raw = RawClient.connect(broker.port)
    expect_ok(raw, commands.Exchange.Declare(exchange="hx", exchange_type="headers"), commands.Exchange.DeclareOk)
    declare(raw, "float")
    declare(raw, "int")
    _bind(raw, "float", {"x-match": "all", "a": 1.0})
    _bind(raw, "int", {"x-match": "all", "a": 1})
    _publish_headers(raw, {"a": 1})
    _publish_headers(raw, {"a": 1.0})
    _publish_headers(raw, {"a": {"n": 1.0}})
    assert (len(bodies(raw, "float")), len(bodies(raw, "int"))) == (2, 2)


# -- messages -------------------------------------------------------------------------------------

ALL_PROPERTIES = pika.BasicProperties(
    content_type="application/x-test", content_encoding="gzip",
    headers={"int": 5, "str": "s", "nested": {"deep": [1, "two", {"flag": True}], "n": -7}, "list": [1, 2]},
    delivery_mode=2, priority=3, correlation_id="corr", reply_to="replies", expiration="3600000",
    message_id="mid-1", timestamp=1700000000, type="kind", user_id="guest", app_id="app", cluster_id="cluster")


def test_persistent_messages_survive_with_every_property(start):
    """Persistent messages come back in order with all 14 properties and nested headers; transient
    messages, even in a durable queue, and everything in a transient queue, do not."""
    broker = start()
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("mq", durable=True)
    ch.queue_declare("tq", durable=False)
    body = bytes(range(256)) * 600  # several frames
    ch.basic_publish("", "mq", body, ALL_PROPERTIES)
    ch.basic_publish("", "mq", b"transient", TRANSIENT)
    ch.basic_publish("", "mq", b"unmarked")
    ch.basic_publish("", "mq", b"second", PERSISTENT)
    ch.basic_publish("", "tq", b"in a transient queue", PERSISTENT)
    conn.close()

    broker = restarted(broker, start)
    conn = connect(broker)
    ch = conn.channel()
    method, props, got = ch.basic_get("mq", auto_ack=True)
    assert (got, method.redelivered, method.message_count) == (body, False, 1)
    names = ["content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
             "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id", "cluster_id"]
    assert {n: getattr(props, n) for n in names} == {n: getattr(ALL_PROPERTIES, n) for n in names}
    method, props, got = ch.basic_get("mq", auto_ack=True)
    assert (got, props.delivery_mode, method.message_count) == (b"second", 2, 0)
    assert ch.basic_get("mq")[0] is None
    conn.close()


def test_unacked_messages_come_back_redelivered_in_order(start):
    """Delivered (unacked, or nacked back) before the restart: redelivered=true; never delivered:
    false; all in their original order (RabbitMQ 3.10 gives exactly this)."""
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "mq", durable=True)
    for body in (b"p0", b"p1", b"p2", b"p3"):
        raw.publish(1, "", "mq", body, commands.Basic.Properties(delivery_mode=2))
    raw.publish(1, "", "mq", b"transient", commands.Basic.Properties(delivery_mode=1))
    raw.publish(1, "", "mq", b"p-last", commands.Basic.Properties(delivery_mode=2))
    assert get(raw, "mq")[2] == b"p0"
    assert get(raw, "mq")[2] == b"p1"
    tag, _, body, _ = get(raw, "mq")
    assert body == b"p2"
    raw.send(1, commands.Basic.Nack(delivery_tag=tag, requeue=True))
    assert declare(raw, "mq", passive=True).message_count == 4  # p0 and p1 still held at the restart

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    assert bodies(raw, "mq") == [(b"p0", True), (b"p1", True), (b"p2", True), (b"p3", False), (b"p-last", False)]


def test_settled_purged_and_deleted_messages_stay_gone(start):
    broker = start()
    raw = RawClient.connect(broker.port)
    for queue in ("settled", "purged", "deleted", "again"):
        declare(raw, queue, durable=True)
        publish_all(raw, queue, 6)
    tags = [get(raw, "settled")[0] for _ in range(3)]
    raw.send(1, commands.Basic.Ack(delivery_tag=tags[0]))
    raw.send(1, commands.Basic.Reject(delivery_tag=tags[1], requeue=False))
    raw.send(1, commands.Basic.Nack(delivery_tag=tags[2], requeue=False))
    assert get(raw, "settled", no_ack=True)[2] == b"m3"
    assert expect_ok(raw, commands.Queue.Purge(queue="purged"), commands.Queue.PurgeOk).message_count == 6
    get(raw, "deleted")  # one unacked when its queue goes
    assert expect_ok(raw, commands.Queue.Delete(queue="deleted"), commands.Queue.DeleteOk).message_count == 5
    expect_ok(raw, commands.Queue.Delete(queue="again"), commands.Queue.DeleteOk)
    declare(raw, "again", durable=True)
    raw.publish(1, "", "again", b"new", commands.Basic.Properties(delivery_mode=2))
    assert declare(raw, "settled", passive=True).message_count == 2

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    assert bodies(raw, "settled") == [(b"m4", False), (b"m5", False)]
    assert bodies(raw, "purged") == []
    assert refused(raw, commands.Queue.Declare(queue="deleted", passive=True)) == (
        404, "NOT_FOUND - no queue 'deleted' in vhost '/'")
    assert bodies(raw, "again") == [(b"new", False)]


def test_committed_transactions_survive_and_rolled_back_ones_never_existed(start):
    broker = start()
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("txq", durable=True)
    ch.tx_select()
    ch.basic_publish("", "txq", b"c1", PERSISTENT)
    ch.basic_publish("", "txq", b"c2", PERSISTENT)
    ch.tx_commit()
    ch.basic_publish("", "txq", b"r1", PERSISTENT)
    ch.tx_rollback()
    ch.basic_publish("", "txq", b"c3", PERSISTENT)
    ch.tx_commit()
    ch.basic_publish("", "txq", b"pending", PERSISTENT)  # never committed
    conn.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    assert bodies(raw, "txq") == [(b"c1", False), (b"c2", False), (b"c3", False)]


# -- paging ---------------------------------------------------------------------------------------

def _props(i: int) -> commands.Basic.Properties:
    return commands.Basic.Properties(delivery_mode=2, message_id=f"id{i}", headers={"i": i}, priority=i % 10)


def _check_props(props, i: int) -> None:
    assert (props.delivery_mode, props.message_id, props.headers, props.priority) == (2, f"id{i}", {"i": i}, i % 10)


def test_paged_queue_is_consumed_in_order_with_its_properties(start):
    """1000 messages, 10 kept in memory: a consumer gets them all in order, content intact."""
    broker = start(queue_window=10)
    raw = RawClient.connect(broker.port)
    declare(raw, "big", durable=True)
    publish_all(raw, "big", 1000, _props)
    assert declare(raw, "big", passive=True).message_count == 1000
    raw.close()
    conn = connect(broker)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    seen = []
    for method, props, body in ch.consume("big", inactivity_timeout=5):
        i = len(seen)
        assert (body, method.redelivered) == (f"m{i}".encode(), False)
        _check_props(props, i)
        seen.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(seen) == 1000:
            break
    ch.cancel()
    assert ch.queue_declare("big", passive=True).method.message_count == 0
    conn.close()


def test_paged_queue_is_read_in_order_by_get(start):
    broker = start(queue_window=10)
    raw = RawClient.connect(broker.port)
    declare(raw, "big", durable=True)
    publish_all(raw, "big", 1000, _props)
    declare(raw, "big", passive=True)  # every publish was handled before the first Get
    conn = connect(broker)
    ch = conn.channel()
    for i in range(1000):
        method, props, body = ch.basic_get("big", auto_ack=True)
        assert (body, method.message_count) == (f"m{i}".encode(), 999 - i)
        _check_props(props, i)
    assert ch.basic_get("big")[0] is None
    conn.close()


def test_requeued_paged_messages_keep_their_places(start):
    """Messages read back from disk and requeued go back to their original positions."""
    broker = start(queue_window=10)
    raw = RawClient.connect(broker.port)
    declare(raw, "big", durable=True)
    publish_all(raw, "big", 100)
    tags = [get(raw, "big")[0] for _ in range(30)]
    raw.send(1, commands.Basic.Nack(delivery_tag=tags[19], multiple=True, requeue=True))  # m0..m19
    raw.send(1, commands.Basic.Reject(delivery_tag=tags[25], requeue=True))  # m25
    assert get(raw, "big", no_ack=True)[1:3] == (True, b"m0")
    raw.send(1, commands.Basic.Recover(requeue=True))  # m20..m24, m26..m29
    raw.expect(commands.Basic.RecoverOk, 1)
    assert bodies(raw, "big") == [(f"m{i}".encode(), i < 30) for i in range(1, 100)]


def test_purge_of_a_paged_queue_counts_and_removes_everything(start):
    broker = start(queue_window=10)
    raw = RawClient.connect(broker.port)
    declare(raw, "big", durable=True)
    publish_all(raw, "big", 100)
    assert expect_ok(raw, commands.Queue.Purge(queue="big"), commands.Queue.PurgeOk).message_count == 100
    raw.close()
    broker = restarted(broker, start, queue_window=10)
    raw = RawClient.connect(broker.port)
    assert declare(raw, "big", passive=True).message_count == 0


def test_restart_restores_every_paged_message(start):
    """1000 messages, 10 in memory, 15 of them delivered and unacked at the restart: all come back,
    in order, those 15 redelivered."""
    broker = start(queue_window=10)
    raw = RawClient.connect(broker.port)
    declare(raw, "big", durable=True)
    publish_all(raw, "big", 1000, _props)
    assert [get(raw, "big")[2] for _ in range(15)] == [f"m{i}".encode() for i in range(15)]
    assert declare(raw, "big", passive=True).message_count == 985
    broker = restarted(broker, start, queue_window=10)
    conn = connect(broker)
    ch = conn.channel()
    assert ch.queue_declare("big", durable=True, passive=True).method.message_count == 1000
    for i in range(1000):
        method, props, body = ch.basic_get("big", auto_ack=True)
        assert (body, method.redelivered) == (f"m{i}".encode(), i < 15)
        _check_props(props, i)
    conn.close()


def test_a_message_in_two_durable_queues_is_kept_for_each(start):
    """A message routed to two durable queues stays in the one that has not settled it."""
    broker = start()
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("fan", "fanout", durable=True)
    for queue in ("a", "b"):
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, "fan")
    ch.basic_publish("fan", "", b"shared", PERSISTENT)
    assert ch.basic_get("a", auto_ack=True)[2] == b"shared"
    conn.close()
    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    assert (bodies(raw, "a"), bodies(raw, "b")) == ([], [(b"shared", False)])


# -- confirms and the disk ------------------------------------------------------------------------

def _select(raw: RawClient, channel: int = 1) -> None:
    expect_ok(raw, commands.Confirm.Select(), commands.Confirm.SelectOk, channel)


def stored_bodies(broker) -> list[bytes]:
    """Message bodies in the database file, read by a connection of our own."""
    db = sqlite3.connect(f"file:{broker.settings.data_dir}/{DB_NAME}?mode=ro", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT body FROM messages ORDER BY id")]
    finally:
        db.close()


def test_confirm_of_a_persistent_message_means_it_is_on_disk(start):
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "dq", durable=True)
    _select(raw)
    raw.publish(1, "", "dq", b"safe", commands.Basic.Properties(delivery_mode=2))
    ack = raw.expect(commands.Basic.Ack, 1)
    assert (ack.delivery_tag, ack.multiple) == (1, False)
    assert stored_bodies(broker) == [b"safe"]


class GatedWrites:
    """Holds the store's writes until opened, and records the operation kinds written."""

    def __init__(self, broker) -> None:
        self.engine = broker.node.store.engine
        self.write = self.engine.write
        self.gate = threading.Event()
        self.kinds: list[str] = []
        broker.call(setattr, self.engine, "write", self._write)

    def _write(self, ops) -> None:
        assert self.gate.wait(10)
        ops = list(ops)
        self.kinds += [op[0] for op in ops]
        self.write(ops)


def test_only_persistent_messages_to_durable_queues_wait_for_the_disk(start):
    """While the disk is held, a persistent message to a durable queue is not confirmed, but a
    transient one, or one to a transient queue, is confirmed at once and never written."""
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "dq", durable=True)
    declare(raw, "tq")
    raw.open_channel(2)
    _select(raw, 1)
    _select(raw, 2)
    writes = GatedWrites(broker)
    raw.publish(1, "", "dq", b"durable", commands.Basic.Properties(delivery_mode=2))
    raw.publish(2, "", "dq", b"transient", commands.Basic.Properties(delivery_mode=1))
    raw.publish(2, "", "tq", b"to a transient queue", commands.Basic.Properties(delivery_mode=2))
    confirmed = 0
    while confirmed < 2:  # the next frames: channel 2's acks (one may cover both)
        confirmed = raw.expect(commands.Basic.Ack, 2).delivery_tag
    assert confirmed == 2
    assert_silent(raw)  # channel 1's confirm waits for the disk
    writes.gate.set()
    ack = raw.expect(commands.Basic.Ack, 1)
    assert (ack.delivery_tag, ack.multiple) == (1, False)
    assert writes.kinds.count("put") == 1
    assert stored_bodies(broker) == [b"durable"]


def test_tx_commit_ok_waits_for_the_disk(start):
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "dq", durable=True)
    expect_ok(raw, commands.Tx.Select(), commands.Tx.SelectOk)
    writes = GatedWrites(broker)
    raw.publish(1, "", "dq", b"committed", commands.Basic.Properties(delivery_mode=2))
    raw.send(1, commands.Tx.Commit())
    assert_silent(raw)
    writes.gate.set()
    raw.expect(commands.Tx.CommitOk, 1)
    assert stored_bodies(broker) == [b"committed"]


class FailingDisk:
    """Makes the store's writes fail as a full disk does (SQLite's max_page_count), and counts failures."""

    def __init__(self, broker) -> None:
        self.engine = broker.node.store.engine
        self.write = self.engine.write
        self.limit: int | None = None
        self.failures = 0
        broker.call(setattr, self.engine, "write", self._write)

    def _write(self, ops) -> None:
        if self.limit is not None:  # on the writer's own thread, between batches
            self.engine.writer.execute(f"PRAGMA max_page_count = {self.limit}")
            self.limit = None
        try:
            self.write(ops)
        except sqlite3.Error:
            self.failures += 1
            raise


def test_disk_failure_nacks_blocks_logs_once_and_recovers(start, monkeypatch):
    """A batch that cannot be written is nacked and raises the disk alarm: the next publish is
    taken, then its connection is blocked ('low on disk'); the batch is retried (that publish is
    nacked while it still fails), the error is logged once, and when writes work again the alarm
    clears and publishing resumes. Nothing is lost: retried batches reach the disk in the end."""
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 0.05)
    broker = start()
    raw = RawClient.connect(broker.port)
    declare(raw, "dq", durable=True)
    _select(raw)
    raw.publish(1, "", "dq", b"before", commands.Basic.Properties(delivery_mode=2))
    assert raw.expect(commands.Basic.Ack, 1).delivery_tag == 1
    disk = FailingDisk(broker)
    disk.limit = 1  # no page beyond the current ones
    big = bytes(range(256)) * 256
    with capture_logs() as logs:
        raw.publish(1, "", "dq", big, commands.Basic.Properties(delivery_mode=2))
        nack = raw.expect(commands.Basic.Nack, 1)
        assert (nack.delivery_tag, nack.multiple) == (2, False)
        raw.publish(1, "", "dq", b"blocked", commands.Basic.Properties(delivery_mode=2))
        assert raw.expect(commands.Connection.Blocked, 0).reason == "low on disk"
        nack = raw.expect(commands.Basic.Nack, 1)  # the retry, with this publish in it, failed too
        assert (nack.delivery_tag, nack.multiple) == (3, False)
        disk.limit = 1 << 30
        raw.expect(commands.Connection.Unblocked, 0)
        raw.publish(1, "", "dq", b"after", commands.Basic.Properties(delivery_mode=2))
        assert raw.expect(commands.Basic.Ack, 1).delivery_tag == 4
    events = [(entry["log_level"], entry["event"]) for entry in logs]
    assert events == [
        ("error", "store write failed; publishers are nacked and blocked until writes succeed"),
        ("warning", "disk resource limit alarm set"),
        ("info", "store writes succeed again"),
        ("info", "disk resource limit alarm cleared"),
    ]
    assert disk.failures >= 2
    raw.close()

    broker = restarted(broker, start)
    raw = RawClient.connect(broker.port)
    assert bodies(raw, "dq") == [(b"before", False), (big, False), (b"blocked", False), (b"after", False)]


# -- damaged data directories (the CLI) -----------------------------------------------------------

WAL = DB_NAME + "-wal"


def _publish_confirmed(url: str, count: int, start: int = 0) -> None:
    """Publish m<start>.. one confirmed batch at a time (each is its own commit in the WAL)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare("dq", durable=True)
    ch.confirm_delivery()
    for i in range(start, start + count):
        ch.basic_publish("", "dq", b"<%05d>" % i + b"." * 100, PERSISTENT)
    conn.close()


def _ids_in(url: str) -> list[int]:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ids = []
    while (got := ch.basic_get("dq", auto_ack=True))[0] is not None:
        ids.append(int(got[2][1:6]))
    conn.close()
    return ids


def _killed_with_wal(data_dir) -> bytes:
    """Run amqpd, publish m0..m29 with confirms, SIGKILL it; returns the WAL it left."""
    server = Amqpd(data_dir)
    _publish_confirmed(server.url, 30)
    server.kill()
    wal = (data_dir / WAL).read_bytes()
    assert len(wal) > 4096
    return wal


def test_torn_wal_tail_at_start_up(tmp_path):
    """A WAL cut inside its last frame (a write interrupted by the crash): the broker starts, logs
    it, and keeps every batch before the torn one."""
    data_dir = tmp_path / "data"
    wal = _killed_with_wal(data_dir)
    page_size = int.from_bytes(wal[8:12], "big")
    (data_dir / WAL).write_bytes(wal[:len(wal) - page_size // 2])
    server = Amqpd(data_dir)
    assert re.search(rf"store damaged; recovered every intact record .*problem='{re.escape(WAL)} ends with "
                     rf"{page_size // 2 + 24} bytes of an unfinished write", server.log())
    assert _ids_in(server.url) == list(range(29))  # the last message's batch was the torn one
    assert server.stop() == 0


def test_garbage_after_the_wal_at_start_up(tmp_path):
    data_dir = tmp_path / "data"
    wal = _killed_with_wal(data_dir)
    (data_dir / WAL).write_bytes(wal + b"\xde\xad\xbe\xef" * 1000 + b"x")
    server = Amqpd(data_dir)
    assert f"problem='{WAL} ends with " in server.log()
    assert _ids_in(server.url) == list(range(30))
    assert server.stop() == 0


def test_damaged_database_page_at_start_up(tmp_path):
    """A table page of the database file is damaged: the broker starts, logs what it kept and where
    the damaged file is, serves every message not on that page, and takes new ones."""
    data_dir = tmp_path / "data"
    server = Amqpd(data_dir)
    raw = RawClient.connect(server.port)
    declare(raw, "dq", durable=True)
    _select(raw)
    publish_all(raw, "dq", 400, body=lambda i: b"<%05d>" % i + b"." * 100)
    while raw.expect(commands.Basic.Ack, 1).delivery_tag < 400:
        pass
    raw.close()
    assert server.stop() == 0  # a clean stop leaves everything in the database file
    db = data_dir / DB_NAME
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    page = data.index(b"<00200>") // page_size * page_size
    lost = {int(m) for m in re.findall(rb"<(\d{5})>", bytes(data[page:page + page_size]))}
    data[page:page + 8] = b"\xff" * 8
    db.write_bytes(data)

    server = Amqpd(data_dir)
    log = server.log()
    assert re.search(rf"problem=.{re.escape(DB_NAME)} is damaged \(.*\); kept every readable record \(0 exchanges, "
                     rf"1 queues, 0 bindings, {400 - len(lost)} messages\) in a fresh file: 1 damaged stretch\(es\) "
                     rf"of table messages skipped; the damaged file is kept as {re.escape(DB_NAME)}\.corrupt-", log), log
    _publish_confirmed(server.url, 1, start=400)
    assert _ids_in(server.url) == [i for i in range(401) if i not in lost]
    assert server.stop() == 0
    assert len(list(data_dir.glob(f"{DB_NAME}.corrupt-*"))) == 1
