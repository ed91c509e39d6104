"""Interop client: Celery, with real worker processes (`celery worker`, solo pool) consuming
the tasks and the rpc:// result backend sending results back.

Usage: celery_client.py URL SCENARIO PREFIX

This module is also the Celery app the workers load (`celery -A celery_client:app worker`);
the worker learns the broker URL and its queue from INTEROP_* environment variables."""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery
from celery.exceptions import Reject
from kombu import Exchange, Queue

app = Celery("interop")


def configure(url, queue, topic=False, heartbeat=None, confirms=False):
    """Same settings in the client and (through the environment) in its workers."""
    os.environ.update(INTEROP_URL=url, INTEROP_QUEUE=queue, INTEROP_TOPIC="1" if topic else "",
                      INTEROP_HEARTBEAT=str(heartbeat or ""), INTEROP_CONFIRMS="1" if confirms else "")
    conf = dict(
        broker_url=url,
        result_backend="rpc://",
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=False,     # no pidbox exchanges on a shared broker
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    if topic:
        conf["task_queues"] = [Queue(queue, Exchange(f"{queue}.topic", type="topic"), routing_key="orders.*.eu")]
    if heartbeat:
        conf["broker_heartbeat"] = heartbeat
    if confirms:
        conf["broker_transport_options"] = {"confirm_publish": True}
    app.conf.update(conf)


if os.environ.get("INTEROP_QUEUE"):          # we are a worker
    configure(os.environ["INTEROP_URL"], os.environ["INTEROP_QUEUE"], topic=bool(os.environ.get("INTEROP_TOPIC")),
              heartbeat=int(os.environ["INTEROP_HEARTBEAT"]) if os.environ.get("INTEROP_HEARTBEAT") else None,
              confirms=bool(os.environ.get("INTEROP_CONFIRMS")))


@app.task(name="interop.echo")
def echo(x):
    return x


@app.task(name="interop.upper")
def upper(s):
    return s.upper()


@app.task(name="interop.whoami", bind=True)
def whoami(self, i):
    time.sleep(0.1)
    return [self.request.hostname, i]


@app.task(name="interop.digest")
def digest(data):
    return [len(data), hashlib.sha256(data.encode()).hexdigest()]


@app.task(name="interop.requeue_once", bind=True, acks_late=True)
def requeue_once(self):
    if not self.request.delivery_info.get("redelivered"):
        raise Reject("first delivery: requeue", requeue=True)
    return "redelivered"


@app.task(name="interop.touch")
def touch(path):
    Path(path).write_text("done")
    return path


# ---------------------------------------------------------------------------------------------
# the client side

from common import LARGE_SIZE, Fail, check, expect_equal, main, wait_until, wrong_password_url  # noqa: E402


class Workers:
    """`celery worker` subprocesses on the scenario's queue; stopped and cleaned up on exit."""

    def __init__(self, url, queue, names=("w1",), **options):
        self.url, self.queue, self.names, self.options = url, queue, names, options
        self.procs, self.logs = [], []

    def __enter__(self):
        configure(self.url, self.queue, **self.options)
        for name in self.names:
            log = tempfile.NamedTemporaryFile("w+", prefix=f"celery-{name}-", suffix=".log", delete=False)
            cmd = [sys.executable, "-m", "celery", "-A", "celery_client:app", "worker", "-P", "solo",
                   "-n", f"{name}@interop", "-Q", self.queue, "--without-gossip", "--without-mingle",
                   "--without-heartbeat", "--loglevel", "INFO"]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               cwd=Path(__file__).parent, env=os.environ.copy()))
            self.logs.append(log)
        try:
            wait_until(lambda: all("ready." in self.log(i) for i in range(len(self.names))) or self._died(),
                       timeout=30, what="celery workers ready", poll=lambda: time.sleep(0.1))
            if self._died():
                raise Fail(f"celery worker exited: {self.log(0)[-800:]}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _died(self):
        return any(p.poll() is not None for p in self.procs)

    def log(self, i):
        return Path(self.logs[i].name).read_text(errors="replace")

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            os.unlink(log.name)
        cleanup(self.url, self.queue, topic=self.options.get("topic", False))


def cleanup(url, queue, topic=False):
    with app.connection_for_write(url) as conn:
        ch = conn.default_channel
        ch.queue_delete(queue)
        ch.exchange_delete(queue)
        if topic:
            ch.exchange_delete(f"{queue}.topic")


def connect_ok(url, p):
    configure(url, p)
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        sp = conn.connection.server_properties
        return f"server {sp.get('product')!r} {sp.get('version')!r}"


def bad_password(url, p):
    configure(wrong_password_url(url), p)
    with app.connection_for_write() as conn:
        try:
            conn.ensure_connection(max_retries=1)
        except Exception as exc:       # kombu re-raises amqp's AccessRefused
            check("ACCESS_REFUSED" in str(exc) or "403" in str(exc), f"unexpected error {exc!r}")
            return f"refused: {type(exc).__name__}: {exc}"
    raise Fail("connection with a wrong password was accepted")


def rpc(url, p):
    with Workers(url, p):
        results = [upper.delay(w) for w in ("alpha", "beta", "gamma")]
        expect_equal("results", [r.get(timeout=20) for r in results], ["ALPHA", "BETA", "GAMMA"])
        nested = {"list": [1, "two", {"three": 3.5}], "none": None, "bool": True, "text": "héllo"}
        expect_equal("nested arguments", echo.delay(nested).get(timeout=20), nested)
    return "tasks executed by a worker, results back through rpc:// (reply_to + correlation_id)"


def topic(url, p):
    with Workers(url, p, topic=True):
        r = echo.apply_async(["routed"], exchange=f"{p}.topic", routing_key="orders.new.eu")
        expect_equal("result", r.get(timeout=20), "routed")
    return "task published to a topic exchange with key orders.new.eu reached the queue bound orders.*.eu"


def work_queue(url, p):
    with Workers(url, p, names=("w1", "w2")):
        results = [whoami.delay(i) for i in range(10)]
        got = [r.get(timeout=30) for r in results]
        expect_equal("task results", sorted(i for _, i in got), list(range(10)))
        hosts = {h for h, _ in got}
        expect_equal("workers that executed tasks", hosts, {"w1@interop", "w2@interop"})
        return "10 tasks over 2 workers (prefetch multiplier 1): " + \
            ", ".join(f"{h} {sum(1 for x, _ in got if x == h)}" for h in sorted(hosts))


def ack_nack_reject(url, p):
    with Workers(url, p):
        expect_equal("acks_late task rejected with requeue, then run again",
                     requeue_once.delay().get(timeout=20), "redelivered")
        expect_equal("normal ack", echo.delay(1).get(timeout=20), 1)
    return "partial: acks_late + Reject(requeue=True) seen redelivered, and ack; no nack API in Celery"


def confirms(url, p):
    with Workers(url, p, confirms=True):
        results = [echo.delay(i) for i in range(20)]   # each publish waits for the broker's ack
        expect_equal("results", [r.get(timeout=20) for r in results], list(range(20)))
    return "20 tasks published with confirm_publish, all executed"


def large_message(url, p):
    data = "".join(chr(ord("a") + i % 26) for i in range(LARGE_SIZE))
    with Workers(url, p):
        n, h = digest.delay(data).get(timeout=60)
        expect_equal("size seen by the worker", n, LARGE_SIZE)
        expect_equal("sha256 seen by the worker", h, hashlib.sha256(data.encode()).hexdigest())
    return "5 MiB task argument"


def heartbeat(url, p):
    with Workers(url, p, heartbeat=1) as workers:
        time.sleep(3.0)
        expect_equal("after idle", echo.delay("still alive").get(timeout=20), "still alive")
        log = workers.log(0)
        check("Connection to broker lost" not in log and "missed heartbeats" not in log.lower(),
              f"worker lost its broker connection: {log[-600:]}")
    return "worker with broker_heartbeat=1 idle 3 s kept its connection"


def marker(p):
    return Path(tempfile.gettempdir()) / f"{p}.marker"


def persist_publish(url, p):
    configure(url, p, confirms=True)
    marker(p).unlink(missing_ok=True)
    touch.delay(str(marker(p)))          # durable queue, persistent message: Celery's defaults
    return "task published with no worker running"


def persist_check(url, p):
    try:
        with Workers(url, p):
            wait_until(lambda: marker(p).exists(), timeout=30, what="the task published before the restart",
                       poll=lambda: time.sleep(0.1))
    finally:
        marker(p).unlink(missing_ok=True)
    return "a worker started after the restart ran the task published before it"


NA = "Celery is a task queue: it has no API for this; its AMQP layer is kombu/py-amqp (covered by those clients)"

if __name__ == "__main__":
    main(globals(), {
        "declare": NA, "roundtrip": "Celery sets the message properties itself (task protocol 2); "
                                    "the arguments round trip is in 'rpc'",
        "fanout": "broadcast queues exist, but results of a broadcast task cannot be collected; "
                  "fanout itself is kombu's",
        "basic-get": NA, "mandatory-return": NA, "tx": NA,
        "consumer-cancel": NA, "channel-error": NA,
        "stream": "Celery consumes its task queues itself; it sets no consumer arguments (x-stream-offset)",
        "quorum": "Celery acks or rejects tasks itself; a task cannot be rejected with requeue on purpose "
                  "(quorum queues' delivery limit is kombu's, covered by that client)",
    })
