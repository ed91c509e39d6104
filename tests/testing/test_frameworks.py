"""The plugin's fixtures from every kind of test an outside project writes: sync, asyncio
(pytest-asyncio, strict and auto mode), anyio (asyncio and trio backends), pytest-trio, and under
pytest-xdist. Each is a pytest session of its own in a subprocess, with its own configuration
(this repository's has trio_mode on) and the plugin only through its entry point; the inner tests
record what they saw, which the outer test reads back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Shared by the inner sessions: what each test saw goes to observed.jsonl, one object a line, and
# the session's last test lists the broker's vhosts through the management API (from outside the
# broker's thread, as any HTTP client would) to see every test's vhost deleted.
RECORDING = '''
import json, os, threading

import httpx
import pytest


@pytest.fixture
def record(request, amqpd, amqpd_broker):
    def write(**seen):
        line = {"test": request.node.name, "vhost": amqpd.name, "port": amqpd_broker.port,
                "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), **seen}
        with open(request.config.rootpath / "observed.jsonl", "a") as out:
            out.write(json.dumps(line) + "\\n")
    return write


def vhosts_now(broker):
    answer = httpx.get(broker.management_url + "/api/vhosts", auth=("guest", "guest"))
    return sorted(vhost["name"] for vhost in answer.json())


def pytest_sessionfinish(session):
    """After the session's fixtures are torn down: are broker threads left?"""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    alive = [thread.name for thread in threading.enumerate() if thread.name.startswith("amqpd")]
    (session.config.rootpath / f"threads-{worker}.json").write_text(json.dumps(alive))
'''

FRAMEWORKS = '''
import asyncio

import aio_pika
import anyio
import pika
import pytest
import pytest_asyncio
import trio

from conftest import vhosts_now


def publish_with_pika(url, body):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare("work")
    channel.basic_publish("", "work", body)
    channel.queue_declare("work", passive=True)  # a round trip: the publish has been routed
    connection.close()


@pytest_asyncio.fixture
async def aio_channel(amqp_url, record):
    """An asyncio fixture on amqp_url: torn down (in its loop) before the vhost is deleted."""
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    record(open_at_teardown=not connection.is_closed)
    await connection.close()


def test_sync(amqp_url, amqpd, record):
    publish_with_pika(amqp_url, b"from a sync test")
    record(peeked=[m.body.decode() for m in amqpd.peek("work")])


def published(amqpd):
    return [[m.exchange, m.routing_key, m.queues, m.body.decode()] for m in amqpd.published]


async def consume_with_aio_pika(channel, amqpd, body):
    """Publish three messages and consume them on this loop while wait_until_idle is awaited:
    had it blocked the loop, nothing would be acked and it would raise NotIdle."""
    queue = await channel.declare_queue("work")
    consumed = []

    async def on_message(message):
        consumed.append(message.body.decode())
        await message.ack()

    await queue.consume(on_message)
    for n in range(3):
        await channel.default_exchange.publish(aio_pika.Message(b"%s %d" % (body, n)), routing_key="work")
    await amqpd.wait_until_idle()
    return consumed


@pytest.mark.asyncio
async def test_asyncio(aio_channel, amqpd, record):
    queue = await aio_channel.declare_queue("work")
    await aio_channel.default_exchange.publish(aio_pika.Message(b"from asyncio"), routing_key="work")
    await aio_channel.declare_queue("work", passive=True)
    peeked = [m.body.decode() for m in amqpd.peek("work")]
    message = await queue.get(timeout=5)
    await message.ack()
    consumed = await consume_with_aio_pika(aio_channel, amqpd, b"asyncio")
    record(peeked=peeked, got=message.body.decode(), consumed=consumed, published=published(amqpd),
           left=[m.body for m in amqpd.peek("work")])


@pytest.mark.asyncio
async def test_asyncio_restart_from_a_worker_thread(amqp_url, amqpd, record):
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.declare_queue("kept", durable=True)
    await channel.default_exchange.publish(
        aio_pika.Message(b"persistent", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key="kept")
    await channel.declare_queue("kept", passive=True)  # a round trip: the publish has been handled
    closed = asyncio.get_running_loop().create_future()
    connection.close_callbacks.add(lambda sender, exc: closed.done() or closed.set_result(exc))
    await asyncio.to_thread(amqpd.restart)  # the client answers Connection.Close on this loop meanwhile
    reason = await asyncio.wait_for(closed, 5)
    record(closed_with=reason.args[0], kept=[m.body.decode() for m in amqpd.peek("kept")])


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_anyio(amqp_url, amqpd, record, anyio_backend):
    if anyio_backend == "asyncio":
        async with await aio_pika.connect(amqp_url) as connection:
            consumed = await consume_with_aio_pika(await connection.channel(), amqpd, b"anyio")
    else:
        await anyio.to_thread.run_sync(publish_with_pika, amqp_url, b"anyio")
        await amqpd.wait_until_idle()
        consumed = []
    record(consumed=consumed, published=published(amqpd), peeked=[m.body.decode() for m in amqpd.peek("work")])


@pytest.mark.trio
async def test_trio(amqp_url, amqpd, record):
    await trio.to_thread.run_sync(publish_with_pika, amqp_url, b"from trio")
    with trio.fail_after(5):  # the test's own loop is free: its I/O still runs
        stream = await trio.open_tcp_stream(amqpd.broker.host, amqpd.broker.port)
        await stream.send_all(b"AMQP\\x00\\x00\\x09\\x01")
        start = await stream.receive_some(7)
        await stream.aclose()
    await amqpd.wait_until_idle()
    record(peeked=[m.body.decode() for m in amqpd.peek("work")], frame_type=start[0], published=published(amqpd))


def test_zz_every_vhost_was_deleted(amqpd_broker):
    assert vhosts_now(amqpd_broker) == ["/"]
'''

ASYNCIO_AUTO = '''
import aio_pika
import pytest

from conftest import vhosts_now


@pytest.fixture
async def aio_channel(amqp_url, record):
    connection = await aio_pika.connect(amqp_url)
    yield await connection.channel()
    record(open_at_teardown=not connection.is_closed)
    await connection.close()


async def test_unmarked(aio_channel, amqpd, record):
    queue = await aio_channel.declare_queue("work")
    await aio_channel.default_exchange.publish(aio_pika.Message(b"auto"), routing_key="work")
    message = await queue.get(timeout=5)
    await message.ack()
    record(consumed=message.body.decode(), left=[m.body for m in amqpd.peek("work")])


def test_zz_every_vhost_was_deleted(amqpd_broker):
    assert vhosts_now(amqpd_broker) == ["/"]
'''

XDIST = '''
import pika
import pytest


@pytest.mark.parametrize("n", range(8))
def test_each_has_its_own_vhost(amqp_url, amqpd, record, n):
    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    channel.queue_declare("work")
    channel.basic_publish("", "work", str(n).encode())
    channel.queue_declare("work", passive=True)
    offset = amqpd.clock.offset
    amqpd.clock.advance(1)
    record(peeked=[m.body.decode() for m in amqpd.peek("work")], n=n, clock=offset)
'''


def session(pytester: pytest.Pytester, ini: str, tests: str) -> pytest.Pytester:
    pytester.makeini(ini)  # the project's own configuration, not this repository's
    pytester.makeconftest(RECORDING)
    pytester.makepyfile(test_inner=tests)
    return pytester


def observed(pytester: pytest.Pytester) -> dict[str, dict]:
    """What each inner test recorded (a test's fixtures record under its name too)."""
    seen: dict[str, dict] = {}
    for line in (pytester.path / "observed.jsonl").read_text().splitlines():
        record = json.loads(line)
        seen.setdefault(record["test"], {}).update(record)
    return seen


def threads_left(pytester: pytest.Pytester) -> dict[str, list[str]]:
    return {path.stem: json.loads(path.read_text()) for path in pytester.path.glob("threads-*.json")}


@pytest.fixture
def tmpdir_of_the_session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inner session's TMPDIR, where its brokers' temporary data directories go; and no
    PYTEST_XDIST_* variables from this session's own worker, should it run under xdist."""
    for name in [name for name in os.environ if name.startswith("PYTEST_XDIST_")]:
        monkeypatch.delenv(name)
    path = pytester.path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    return path


def test_sync_asyncio_anyio_and_trio_tests_in_one_strict_session(pytester: pytest.Pytester,
                                                                  tmpdir_of_the_session: Path):
    session(pytester, "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n",
            FRAMEWORKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=7)
    seen = observed(pytester)
    assert seen["test_sync"]["peeked"] == ["from a sync test"]
    asyncio_test = seen["test_asyncio"]
    assert (asyncio_test["peeked"], asyncio_test["got"]) == (["from asyncio"], "from asyncio")
    assert asyncio_test["consumed"] == ["asyncio 0", "asyncio 1", "asyncio 2"]  # acked on the test's loop
    assert asyncio_test["published"] == [["", "work", ["work"], body] for body in
                                         ["from asyncio", "asyncio 0", "asyncio 1", "asyncio 2"]]
    assert (asyncio_test["left"], asyncio_test["open_at_teardown"]) == ([], True)  # the fixture closed it first
    restarted = seen["test_asyncio_restart_from_a_worker_thread"]
    assert (restarted["closed_with"], restarted["kept"]) == (320, ["persistent"])
    on_asyncio, on_trio = seen["test_anyio[asyncio]"], seen["test_anyio[trio]"]
    assert (on_asyncio["consumed"], on_asyncio["peeked"]) == (["anyio 0", "anyio 1", "anyio 2"], [])
    assert (on_trio["published"], on_trio["peeked"]) == ([["", "work", ["work"], "anyio"]], ["anyio"])
    assert seen["test_trio"]["peeked"] == ["from trio"]
    assert seen["test_trio"]["published"] == [["", "work", ["work"], "from trio"]]
    assert seen["test_trio"]["frame_type"] == 1  # Connection.Start, a method frame, read by trio's own I/O
    vhosts = [line["vhost"] for line in seen.values()]
    assert len({line["port"] for line in seen.values()}) == 1  # one broker for the session
    assert len(set(vhosts)) == 6 and all(name.startswith("test-main-") for name in vhosts)
    assert threads_left(pytester) == {"threads-main": []}
    assert list(tmpdir_of_the_session.glob("amqpd-testing-*")) == []


def test_asyncio_auto_mode_unmarked_tests_and_fixtures(pytester: pytest.Pytester, tmpdir_of_the_session: Path):
    session(pytester, "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
            ASYNCIO_AUTO)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:trio", "-p", "no:anyio",
                                           "-W", "error::pytest.PytestWarning")
    result.assert_outcomes(passed=2)
    seen = observed(pytester)["test_unmarked"]
    assert (seen["consumed"], seen["left"], seen["open_at_teardown"]) == ("auto", [], True)
    assert threads_left(pytester) == {"threads-main": []}
    assert list(tmpdir_of_the_session.glob("amqpd-testing-*")) == []


def test_under_xdist_each_worker_has_one_broker_and_every_test_a_vhost(pytester: pytest.Pytester,
                                                                        tmpdir_of_the_session: Path):
    session(pytester, "[pytest]\nasyncio_default_fixture_loop_scope = function\n", XDIST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
    seen = list(observed(pytester).values())
    assert sorted(line["peeked"][0] for line in seen) == [str(n) for n in range(8)]
    assert all(line["peeked"] == [str(line["n"])] for line in seen)  # nobody else's message in a vhost
    ports = {line["worker"]: {other["port"] for other in seen if other["worker"] == line["worker"]}
             for line in seen}
    assert sorted(ports) == ["gw0", "gw1"]
    assert all(len(each) == 1 for each in ports.values())  # one broker per worker, started once
    assert ports["gw0"] != ports["gw1"]
    for worker in ports:  # each test advanced the clock by 1 s: shared within a worker, not across
        offsets = sorted(round(line["clock"], 3) for line in seen if line["worker"] == worker)
        assert offsets == list(range(len(offsets)))
    vhosts = [line["vhost"] for line in seen]
    assert len(set(vhosts)) == 8 and all(name.startswith(f"test-{line['worker']}-") for name, line in zip(vhosts, seen))
    assert threads_left(pytester) == {"threads-main": [], "threads-gw0": [], "threads-gw1": []}
    assert list(tmpdir_of_the_session.glob("amqpd-testing-*")) == []
