"""The Store in front of the engine: lossless argument tables, and batches that fail to write."""

from __future__ import annotations

import decimal
import sqlite3

import trio
from structlog.testing import capture_logs

from amqpd.protocol.tables import Timestamp
from amqpd.store import writer
from amqpd.store.sqlite import SqliteEngine
from amqpd.store.writer import Store, decode_table, encode_table


def test_tables_decode_to_exactly_what_was_encoded():
    """Every value the table codec decodes comes back equal and of the same type (floats as
    doubles, a non-UTF-8 long string as bytes, timestamps as the exact 64-bit number, nested
    tables and arrays)."""
    table = {
        "int": 7, "big": 2 ** 40, "negative": -300, "float": 0.1, "whole-float": 1.0, "bool": True,
        "str": "täxt", "bytes": b"\xff\xfe", "bytearray": bytearray(b"\x00\x01"), "void": None,
        "decimal": decimal.Decimal("3.14"), "time": Timestamp(2**64 - 1),
        "nested": {"deep": [1, 0.25, "x", {"deeper": b"\x80"}], "empty": {}}, "array": [],
    }
    decoded = decode_table(encode_table(table))
    assert decoded == table
    assert [type(decoded[key]) for key in table] == [type(value) for value in table.values()]
    assert type(decoded["nested"]["deep"][1]) is float and type(decoded["nested"]["deep"][0]) is int


def test_equal_tables_in_another_key_order_encode_alike():
    """Binding arguments given in another order are the same binding (RabbitMQ sorts them), so
    their stored form, which a binding is deleted by, must be the same bytes."""
    assert encode_table({"x-match": "all", "a": 1, "b": "2"}) == encode_table({"b": "2", "a": 1, "x-match": "all"})
    assert encode_table({"a": 1}) != encode_table({"a": 1.0})


PROPERTIES = b"\x10\x00\x02"  # delivery_mode 2


def _put(store: Store, queue_id: int, message_id: int, body: bytes) -> int:
    return store.put_message(queue_id, message_id, "", "q", PROPERTIES, body)


class FlakyEngine(SqliteEngine):
    """An engine whose next `failures` writes fail as a full disk does."""

    failures = 0
    attempts = 0

    def write(self, ops):
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        super().write(ops)


async def test_failed_batch_is_nacked_kept_and_retried(tmp_path, monkeypatch):
    """A batch that fails is reported False to its waiters, raises the alarm, is logged once, and
    is written by a later attempt with everything that came after it; then the alarm clears."""
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 0.01)
    engine = FlakyEngine(tmp_path)
    engine.failures = 3
    store = Store(engine)
    alarms: list[bool] = []
    store.on_failing = alarms.append
    outcomes: list[tuple[str, bool]] = []
    done = trio.Event()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.run)
            queue_id = store.save_queue("/", "q", False, {})
            first, second = 1, 2
            ticket = _put(store, queue_id, first, b"first")
            store.when_durable(ticket, lambda ok: outcomes.append(("first", ok)))
            with trio.fail_after(5):
                while engine.failures:  # three failed attempts: one alarm, one log line
                    await trio.sleep(0.001)
                assert store.load(queue_id, [first]) == {first: ("", "q", PROPERTIES, b"first")}
                ticket = _put(store, queue_id, second, b"second")
                store.when_durable(ticket, lambda ok: (outcomes.append(("second", ok)), done.set()))
                await done.wait()
            nursery.cancel_scope.cancel()
    assert outcomes == [("first", False), ("second", True)]
    assert alarms == [True, False]
    assert engine.attempts == 4
    assert [(entry["log_level"], entry["event"]) for entry in logs] == [
        ("error", "store write failed; publishers are nacked and blocked until writes succeed"),
        ("info", "store writes succeed again"),
    ]
    store.close()
    recovered = SqliteEngine(tmp_path).recover()
    assert [(q.name, q.messages) for q in recovered.queues] == [("q", [(first, False), (second, False)])]


async def test_operations_after_a_failure_apply_in_order(tmp_path, monkeypatch):
    """A message stored by a failed batch and removed before the retry is not on disk afterwards."""
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 0.01)
    engine = FlakyEngine(tmp_path)
    store = Store(engine)
    failing: list[bool] = []
    store.on_failing = failing.append
    queue_id = store.save_queue("/", "q", False, {})
    gone, kept = 1, 2
    engine.failures = 1
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run)
        _put(store, queue_id, gone, b"gone")
        _put(store, queue_id, kept, b"kept")
        with trio.fail_after(5):
            while not failing:
                await trio.sleep(0.001)
            store.remove_message(queue_id, gone)
            while failing[-1]:
                await trio.sleep(0.001)
        nursery.cancel_scope.cancel()
    store.close()
    (queue,) = SqliteEngine(tmp_path).recover().queues
    assert queue.messages == [(kept, False)]


def test_a_write_failing_at_shutdown_is_reported(tmp_path):
    engine = FlakyEngine(tmp_path)
    store = Store(engine)
    store.save_queue("/", "q", False, {})
    engine.failures = 1
    with capture_logs() as logs:
        store.close()
    assert [(entry["log_level"], entry["event"], entry["operations"]) for entry in logs] == [
        ("error", "store write failed at shutdown; its operations are lost", 1)]


def test_topology_and_messages_saved_from_plain_values_recover_as_named_records(tmp_path):
    """The store takes names, flags, tables, ids and bytes (no broker objects) and gives back
    records whose fields are named, with tables in the form decode_table reads."""
    store = Store.open(str(tmp_path))
    store.save_exchange("/", "x", "topic", False, True, {"alternate-exchange": "ae"})
    queue_id = store.save_queue("/", "q", True, {"x-max-length": 5})
    store.save_binding("/", "x", True, "q", "a.#", {})
    _put(store, queue_id, 7, b"body")
    store.close()
    store = Store.open(str(tmp_path))
    recovered = store.recover()
    (exchange,) = recovered.exchanges
    assert (exchange.vhost, exchange.name, exchange.kind, exchange.auto_delete, exchange.internal) == (
        "/", "x", "topic", False, True)
    assert decode_table(exchange.arguments) == {"alternate-exchange": "ae"}
    (queue,) = recovered.queues
    assert (queue.id, queue.name, queue.auto_delete, queue.messages) == (queue_id, "q", True, [(7, False)])
    assert decode_table(queue.arguments) == {"x-max-length": 5}
    (binding,) = recovered.bindings
    assert (binding.source, binding.to_queue, binding.destination, binding.routing_key) == ("x", True, "q", "a.#")
    assert store.load(queue_id, [7]) == {7: ("", "q", PROPERTIES, b"body")}
    assert store.save_queue("/", "other", False, {}) == queue_id + 1
    store.close()
