"""Stream queues over AMQP 0-9-1 (pika), each expectation checked against RabbitMQ 3.10.8 first."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Callable

import httpx
import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker

STREAM = {"x-queue-type": "stream"}


@pytest.fixture
def name() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def declare(channel, name: str, **arguments: Any) -> Any:
    return channel.queue_declare(name, durable=True, arguments={**STREAM, **arguments})


def publish(channel, name: str, count: int, start: int = 0) -> None:
    """Publish with confirms: each publish waits for its ack (one chunk each)."""
    channel.confirm_delivery()
    for i in range(start, start + count):
        channel.basic_publish("", name, b"m%d" % i, pika.BasicProperties(headers={"i": i}))


def consume(conn: pika.BlockingConnection, name: str, offset: Any = None, prefetch: int = 100,
            until: int = 0) -> list[tuple[bytes, dict, int]]:
    """(body, headers, delivery tag) of what a consumer gets: ``until`` deliveries, then what is left
    after the broker has answered a round trip."""
    channel = conn.channel()
    channel.basic_qos(prefetch_count=prefetch)
    got: list[tuple[bytes, dict, int]] = []
    args = {} if offset is None else {"x-stream-offset": offset}
    channel.basic_consume(name, lambda ch, m, p, b: got.append((b, p.headers, m.delivery_tag)), arguments=args)
    while len(got) < until:
        conn.process_data_events(time_limit=1)
    channel.queue_declare(name, passive=True)  # a round trip: deliveries sent before it have arrived
    conn.process_data_events(time_limit=0)
    return got


def bodies(got: list[tuple[bytes, dict, int]]) -> list[bytes]:
    return [body for body, _, _ in got]


@pytest.mark.parametrize("flags, prop", [({"durable": False}, "non-durable"),
                                         ({"durable": True, "auto_delete": True}, "auto-delete"),
                                         ({"durable": True, "exclusive": True}, "exclusive-owner")])
def test_declare_properties_refused(channel, name: str, flags: dict, prop: str) -> None:
    with pytest.raises(ChannelClosedByBroker) as caught:
        channel.queue_declare(name, arguments=STREAM, **flags)
    assert caught.value.args == (406, f"PRECONDITION_FAILED - invalid property '{prop}' for queue '{name}' in vhost '/'")


@pytest.mark.parametrize("value, reason", [("10X", "invalid_max_age"), ("0s", "invalid_max_age"),
                                           (10, "{unacceptable_type,signedint}")])
def test_max_age_grammar(channel, name: str, value: Any, reason: str) -> None:
    with pytest.raises(ChannelClosedByBroker) as caught:
        declare(channel, name, **{"x-max-age": value})
    assert caught.value.args == (406, f"PRECONDITION_FAILED - invalid arg 'x-max-age' for queue '{name}' in vhost '/': {reason}")


def test_max_age_redeclare_compared(connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name, **{"x-max-age": "1Y"})
    with pytest.raises(ChannelClosedByBroker) as caught:
        declare(channel, name, **{"x-max-age": "2Y"})
    assert caught.value.args == (406, f"PRECONDITION_FAILED - inequivalent arg 'x-max-age' for queue '{name}' "
                                      "in vhost '/': received '2Y' but current is '1Y'")
    connect().channel().queue_delete(name)


def test_offsets_and_header(connect, name: str) -> None:
    """first / last chunk / next / a number / a timestamp / an interval, x-stream-offset on each delivery."""
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 5)
    conn = connect()
    first = consume(conn, name, "first", until=5)
    assert bodies(first) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert [h for _, h, _ in first] == [{"i": i, "x-stream-offset": i} for i in range(5)]
    assert bodies(consume(conn, name, "last", until=1)) == [b"m4"]
    assert bodies(consume(conn, name, "next")) == []
    assert bodies(consume(conn, name)) == []
    assert bodies(consume(conn, name, 2, until=3)) == [b"m2", b"m3", b"m4"]
    assert bodies(consume(conn, name, 100)) == []
    assert bodies(consume(conn, name, -1, until=5)) == bodies(first)
    assert bodies(consume(conn, name, "1h", until=5)) == bodies(first)
    old = datetime.datetime(2020, 1, 1)
    assert bodies(consume(conn, name, old, until=5)) == bodies(first)
    assert bodies(consume(conn, name, datetime.datetime(2099, 1, 1))) == []


def test_next_gets_what_is_published_later_and_consumers_each_read_all(connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 2)
    conn = connect()
    ch1, ch2 = conn.channel(), conn.channel()
    got1: list[bytes] = []
    got2: list[bytes] = []
    for ch, got, offset in ((ch1, got1, "next"), (ch2, got2, "first")):
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(name, lambda c, m, p, b, got=got: (got.append(b), c.basic_ack(m.delivery_tag)),
                         arguments={"x-stream-offset": offset})
    publish(channel, name, 2, start=2)
    while len(got1) < 2 or len(got2) < 4:
        conn.process_data_events(time_limit=1)
    assert got1 == [b"m2", b"m3"]
    assert got2 == [b"m0", b"m1", b"m2", b"m3"]


def test_acks_return_credit(connect, name: str) -> None:
    """Prefetch 1 and one message per chunk: the next chunk comes only after the ack."""
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 3)
    conn = connect()
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    got: list[tuple[bytes, int]] = []
    ch.basic_consume(name, lambda c, m, p, b: got.append((b, m.delivery_tag)), arguments={"x-stream-offset": "first"})
    while not got:
        conn.process_data_events(time_limit=1)
    ch.queue_declare(name, passive=True)  # a round trip: nothing more was sent without credit
    assert [b for b, _ in got] == [b"m0"]
    ch.basic_ack(got[0][1])
    while len(got) < 2:
        conn.process_data_events(time_limit=1)
    ch.queue_declare(name, passive=True)
    assert [b for b, _ in got] == [b"m0", b"m1"]


def test_prefetch_required(connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name)
    with pytest.raises(ChannelClosedByBroker) as caught:
        channel.basic_consume(name, lambda *a: None)
    assert caught.value.args == (406, f"PRECONDITION_FAILED - consumer prefetch count is not set for "
                                      f"'queue '{name}' in vhost '/''")


def _unsupported(name: str, what: str) -> tuple[int, str]:
    return (540, f"NOT_IMPLEMENTED - {what} not supported by stream queues queue '{name}' in vhost '/'")


@pytest.mark.parametrize("operation, what", [
    (lambda ch, q: (ch.basic_qos(prefetch_count=10), ch.basic_consume(q, lambda *a: None, auto_ack=True)),
     "automatic acknowledgement"),
    (lambda ch, q: ch.basic_get(q), "basic.get"),
    (lambda ch, q: ch.queue_purge(q), "queue.purge"),
])
def test_connection_errors(connect, name: str, operation: Callable, what: str) -> None:
    declare(connect().channel(), name)
    with pytest.raises(ConnectionClosedByBroker) as caught:
        operation(connect().channel(), name)
    assert caught.value.args == _unsupported(name, what)


@pytest.mark.parametrize("settle", [lambda ch, tag: ch.basic_nack(tag, requeue=True),
                                    lambda ch, tag: ch.basic_nack(tag, requeue=False),
                                    lambda ch, tag: ch.basic_reject(tag, requeue=True),
                                    lambda ch, tag: ch.basic_reject(tag, requeue=False)])
def test_nack_and_reject_refused(connect, name: str, settle: Callable) -> None:
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 1)
    conn = connect()
    ch = conn.channel()
    ch.basic_qos(prefetch_count=10)
    tags: list[int] = []
    ch.basic_consume(name, lambda c, m, p, b: tags.append(m.delivery_tag), arguments={"x-stream-offset": "first"})
    while not tags:
        conn.process_data_events(time_limit=1)
    settle(ch, tags[0])
    with pytest.raises(ConnectionClosedByBroker) as caught:
        conn.process_data_events(time_limit=5)
        ch.queue_declare(name, passive=True)
    assert caught.value.args == _unsupported(name, "basic.nack and basic.reject")


def test_bad_offset_is_internal_error(connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name)
    channel.basic_qos(prefetch_count=10)
    with pytest.raises(ConnectionClosedByBroker) as caught:
        channel.basic_consume(name, lambda *a: None, arguments={"x-stream-offset": "foo"})
    assert caught.value.args == (541, "INTERNAL_ERROR")


def test_delete_cancels_consumers_and_counts_zero(connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 3)
    conn = connect()
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=10)
    cancelled: list[Any] = []
    consumer.add_on_cancel_callback(cancelled.append)
    consumer.basic_consume(name, lambda *a: None, consumer_tag="ct", arguments={"x-stream-offset": "first"})
    assert connect().channel().queue_delete(name).method.message_count == 0
    while not cancelled:
        conn.process_data_events(time_limit=1)
    assert cancelled[0].method.consumer_tag == "ct"
    assert consumer.is_open


def test_declare_ok_counts_messages_not_consumers(connect, name: str) -> None:
    """RabbitMQ's Declare-Ok for a stream: its messages (a stats interval late there), consumers 0."""
    channel = connect().channel()
    declare(channel, name)
    publish(channel, name, 4)
    consume(connect(), name, "first", until=4)
    ok = declare(channel, name).method
    assert (ok.message_count, ok.consumer_count) == (4, 0)


def test_management_shows_stream(broker, connect, name: str) -> None:
    channel = connect().channel()
    declare(channel, name, **{"x-max-age": "1D"})
    publish(channel, name, 3)
    with httpx.Client(base_url=broker.api, auth=("guest", "guest")) as api:
        queue = api.get(f"/api/queues/%2F/{name}").json()
    fields = ("type", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable", "arguments")
    assert {k: queue[k] for k in fields} == {
        "type": "stream", "messages": 3, "messages_ready": 3, "messages_unacknowledged": 0, "consumers": 0,
        "durable": True,
        "arguments": {"x-queue-type": "stream", "x-max-age": "1D"}}


def test_policy_retention_drops_whole_segments(broker, connect, name: str) -> None:
    """Small segments (x-stream-max-segment-size-bytes), then a max-length-bytes policy: the old
    segments go, the segment being written stays, readers from first start after the gap."""
    channel = connect().channel()
    declare(channel, name, **{"x-stream-max-segment-size-bytes": 200})
    publish(channel, name, 20)
    with httpx.Client(base_url=broker.api, auth=("guest", "guest")) as api:
        put = api.put(f"/api/policies/%2F/{name}", json={"pattern": f"^{name}$", "apply-to": "queues",
                                                          "definition": {"max-length-bytes": 300}})
        assert put.status_code == 201
        queue = api.get(f"/api/queues/%2F/{name}").json()
        api.delete(f"/api/policies/%2F/{name}")
    assert queue["effective_policy_definition"] == {"max-length-bytes": 300}
    assert 0 < queue["messages"] < 20
    got = consume(connect(), name, "first", until=queue["messages"])
    assert [h["x-stream-offset"] for _, h, _ in got] == list(range(20 - queue["messages"], 20))


def test_management_purge_and_get_refused(broker, connect, name: str) -> None:
    declare(connect().channel(), name)
    with httpx.Client(base_url=broker.api, auth=("guest", "guest")) as api:
        purge = api.delete(f"/api/queues/%2F/{name}/contents")
        get = api.post(f"/api/queues/%2F/{name}/get", json={"count": 1, "ackmode": "ack_requeue_true",
                                                             "encoding": "auto"})
    assert (purge.status_code, purge.json()) == (400, {
        "error": "bad_request", "reason": f"queue.purge not supported by stream queues queue '{name}' in vhost '/'"})
    assert (get.status_code, get.json()) == (400, {
        "error": "bad_request", "reason": f"540 basic.get not supported by stream queues queue '{name}' in vhost '/'"})
