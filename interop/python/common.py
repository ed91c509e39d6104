"""Shared by the Python interop clients: the command line, the fixtures every language uses,
and the one-line JSON result the runner reads.

Protocol (the same for every language):  PROGRAM URL SCENARIO PREFIX
  - PREFIX is unique per run and client; every queue/exchange name starts with it.
  - the program prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": "..."}
    and exits 0 (pass), 1 (fail) or 3 (n/a).
"""
import contextlib
import json
import socket
import sys
import time
import traceback
import urllib.parse

SCENARIOS = [
    "connect", "bad-password", "declare", "roundtrip", "topic", "fanout", "work-queue",
    "ack-nack-reject", "basic-get", "confirms", "mandatory-return", "rpc", "tx",
    "consumer-cancel", "large-message", "heartbeat", "channel-error",
    "persist-publish", "persist-check", "stream", "quorum",
]

EXIT = {"pass": 0, "fail": 1, "n/a": 3}

# The round-trip fixture: every basic property and a nested headers table.
BODY = bytes(range(256))
HEADERS = {
    "str": "text",
    "int": 42,
    "neg": -7,
    "bool": True,
    "big": 10000000000,
    "nested": {"level": 2, "inner": {"deep": "yes"}},
    "list": [1, "two", {"three": 3}],
}
PROPS = dict(
    content_type="application/octet-stream",
    content_encoding="identity",
    headers=HEADERS,
    delivery_mode=2,
    priority=5,
    correlation_id="corr-1",
    reply_to="reply-here",
    expiration="60000",
    message_id="msg-1",
    timestamp=1700000000,
    type="interop.test",
    app_id="interop",
    cluster_id="cluster-1",
)
QUEUE_ARGS = {"x-message-ttl": 60000, "x-max-length": 100, "x-max-priority": 10}
LARGE_SIZE = 5 * 1024 * 1024
TOPIC_KEYS = ["orders.new.eu", "orders.new.us", "orders", "invoices.new.eu", "orders.new.eu.extra"]
TOPIC_Q1 = ["orders.new.eu"]                      # bound with orders.*.eu
TOPIC_Q2 = ["orders.new.eu", "orders.new.us", "orders", "orders.new.eu.extra"]  # orders.#

# stream: STREAM_COUNT messages read from "first", then again from the offset of the one at
# STREAM_SAVED; retention: RETENTION_COUNT bodies of RETENTION_SIZE bytes into a stream whose
# x-max-length-bytes keeps only the newest segments of x-stream-max-segment-size-bytes
STREAM_COUNT, STREAM_SAVED = 10, 5
STREAM_ARGS = {"x-queue-type": "stream"}
RETENTION_COUNT, RETENTION_SIZE = 100, 100
RETENTION_ARGS = {"x-queue-type": "stream", "x-max-length-bytes": 2000, "x-stream-max-segment-size-bytes": 500}
# quorum: x-delivery-limit N allows N + 1 deliveries, then dead-letters with reason delivery_limit
DELIVERY_LIMIT = 2


def quorum_args(dlq):
    return {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}


def stream_body(i):
    return f"s{i}".encode()


def retention_body(i):
    return f"r{i:03d}".encode().ljust(RETENTION_SIZE, b".")


def check_stream_reads(first, saved):
    """first: (body, x-stream-offset) read from "first"; saved: the bodies read from the offset
    of the message at STREAM_SAVED. Returns the detail line."""
    expect_equal("bodies read from first", [b for b, _ in first], [stream_body(i) for i in range(STREAM_COUNT)])
    offsets = [o for _, o in first]
    check(all(isinstance(o, int) for o in offsets), f"x-stream-offset headers {offsets!r}")
    check(offsets == sorted(set(offsets)), f"x-stream-offset not increasing: {offsets}")
    expect_equal(f"bodies read from offset {offsets[STREAM_SAVED]}", saved,
                 [stream_body(i) for i in range(STREAM_SAVED, STREAM_COUNT)])
    return f"offsets {offsets[0]}..{offsets[-1]}"


def check_retention(bodies):
    """bodies: what a consumer from "first" read of the retention stream, up to the last one."""
    check(bodies and bodies[-1] == retention_body(RETENTION_COUNT - 1), "the newest message is missing")
    check(len(bodies) < RETENTION_COUNT and bodies[0] != retention_body(0),
          f"retention dropped nothing: {len(bodies)} of {RETENTION_COUNT} messages still there")
    return f"retention kept {len(bodies)} of {RETENTION_COUNT}"


def check_streams(read, q, r):
    """The stream scenario's reads and verdict for a blocking client: read(queue, offset, until)
    gives the (body, x-stream-offset) pairs a consumer from that offset got, up to body `until`."""
    last = stream_body(STREAM_COUNT - 1)
    first = read(q, "first", last)
    saved = read(q, first[STREAM_SAVED][1], last)
    detail = check_stream_reads(first, [b for b, _ in saved])
    kept = read(r, "first", retention_body(RETENTION_COUNT - 1))
    return detail + "; " + check_retention([b for b, _ in kept])


def check_dead_lettered(deliveries, body, x_death, queue):
    """After rejecting with requeue every time: deliveries made, and the dead-lettered copy."""
    expect_equal("deliveries before dead-lettering", deliveries, DELIVERY_LIMIT + 1)
    expect_equal("dead-lettered body", body, b"poison")
    check(x_death, "no x-death header")
    first = x_death[0]
    reason = first.get("reason")
    reason = reason.decode() if isinstance(reason, bytes) else reason
    name = first.get("queue")
    name = name.decode() if isinstance(name, bytes) else name
    expect_equal("x-death reason and queue", (reason, name), ("delivery_limit", queue))
    return f"{deliveries} deliveries, then dead-lettered (delivery_limit)"


def large_body():
    pattern = bytes(i % 251 for i in range(251))
    return (pattern * (LARGE_SIZE // 251 + 1))[:LARGE_SIZE]


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def expect_equal(what, got, want):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def wait_until(cond, timeout=10.0, what="condition", poll=None):
    """Poll cond() (calling poll() between tries, e.g. to pump a blocking client's I/O)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {timeout:.0f}s waiting for {what}")
        if poll:
            poll()
        else:
            time.sleep(0.01)


@contextlib.contextmanager
def deleting(ch, queues=(), exchanges=()):
    """Delete these queues and then these exchanges when the block ends, however it ends, so
    that a scenario leaves the broker as it found it.  ch spells the calls as pika and py-amqp
    do: ch.queue_delete(name), ch.exchange_delete(name)."""
    try:
        yield ch
    finally:
        for name in queues:
            ch.queue_delete(name)
        for name in exchanges:
            ch.exchange_delete(name)


@contextlib.contextmanager
def declared(ch, queues=(), exchanges=(), **options):
    """Declare exchanges (name -> type) and then queues (names) with ch.exchange_declare(name,
    type) and ch.queue_declare(name) (options go to both), run the block, and delete them again
    however it ends (see deleting)."""
    exchanges = dict(exchanges)
    with deleting(ch, queues, exchanges):
        for name, kind in exchanges.items():
            ch.exchange_declare(name, kind, **options)
        for name in queues:
            ch.queue_declare(name, **options)
        yield ch


@contextlib.asynccontextmanager
async def adeleting(ch, queues=(), exchanges=()):
    """deleting for asyncio clients (aiormq, aio-pika): awaits ch.queue_delete(name) and
    ch.exchange_delete(name)."""
    try:
        yield ch
    finally:
        for name in queues:
            await ch.queue_delete(name)
        for name in exchanges:
            await ch.exchange_delete(name)


def pump(conn, seconds=0.05):
    """Let a py-amqp (or kombu) connection dispatch what arrives within seconds."""
    try:
        conn.drain_events(timeout=seconds)
    except socket.timeout:
        pass


def user_of(url):
    return urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")


def wrong_password_url(url):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0] if userinfo else "guest"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:wrong-password@{hostport}"))


def refused(url, connect, errors, close=lambda conn: conn.close(), accept=lambda exc: True):
    """The bad-password scenario of a blocking client: connect(URL with a wrong password) must
    raise one of errors (one that accept(exc) takes for a refused login)."""
    try:
        conn = connect(wrong_password_url(url))
    except errors as exc:
        check(accept(exc), f"unexpected error {exc!r}")
        return f"refused: {type(exc).__name__}: {exc}"
    close(conn)
    raise Fail("connection with a wrong password was accepted")


def with_heartbeat(url, seconds):
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "heartbeat"] + [("heartbeat", str(seconds))]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def check_props(got, user):
    """got: a dict with the same keys as PROPS (+ user_id), as the client decoded them."""
    want = dict(PROPS, user_id=user)
    for key, value in want.items():
        if key not in got:
            continue
        expect_equal(f"property {key}", got[key], value)


def emit(scenario, result, detail=""):
    print(json.dumps({"scenario": scenario, "result": result, "detail": detail}), flush=True)
    sys.stdout.flush()
    sys.exit(EXIT[result])


def scenarios_of(namespace):
    """A client module's scenario functions, found by name: scenario 'work-queue' is its
    work_queue(url, prefix), 'connect' its connect_ok (connect is usually a helper)."""
    found = {}
    for name in SCENARIOS:
        fn = namespace.get("connect_ok" if name == "connect" else name.replace("-", "_"))
        if callable(fn) and getattr(fn, "__module__", None) == namespace["__name__"]:
            found[name] = fn
    return found


def main(namespace, unsupported):
    """Run the scenario named on the command line with the client module's function for it
    (namespace: the module's globals()); unsupported: name -> reason."""
    scenarios = scenarios_of(namespace)
    url, scenario, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    if scenario in unsupported:
        emit(scenario, "n/a", "not supported by the library: " + unsupported[scenario])
    fn = scenarios.get(scenario)
    if fn is None:
        emit(scenario, "fail", f"scenario {scenario!r} not implemented by this client")
    try:
        # persist-publish and persist-check work on the same names
        name = "persist" if scenario.startswith("persist-") else scenario
        detail = fn(url, f"{prefix}.{name}")
    except Fail as exc:
        emit(scenario, "fail", str(exc))
    except BaseException as exc:  # report the library's own exception text
        traceback.print_exc(file=sys.stderr)
        emit(scenario, "fail", f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
    emit(scenario, "pass", detail or "")
