"""Broker: a real amqpd inside the calling process, its trio loop on a background thread, on
ephemeral ports with a temporary data directory, for tests and scripts that need a broker."""

from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent.futures import Future
import urllib.parse
from types import TracebackType
from typing import Any, Awaitable, Callable, TypeVar

import trio

from amqpd.auth import FULL
from amqpd.broker import Node, VhostMetadata
from amqpd.server import Server, tls
from amqpd.settings import Settings
from amqpd.store import Store
from amqpd.testing.clock import BrokerClock
from amqpd.testing.handle import VirtualHostHandle

T = TypeVar("T")
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_GRACE = 1.0  # seconds clients get to answer Connection.Close 320 before the loop is cancelled


class Broker:
    """``with Broker() as broker:`` serves until the block ends: AMQP and the management API on
    ports the system picks (never 5672 / 15672), Prometheus off, guest/guest on vhost ``/``.

    Settings may be overridden by keyword (``Broker(prometheus=True, prometheus_port=0)``).
    Without a ``data_dir`` a temporary one is made and removed at stop(); pass one to start a
    broker on the state an earlier one left. Broker state is only touched in the broker's own
    thread (call() takes a function there).
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("port", 0)
        settings.setdefault("management_port", 0)
        settings.setdefault("prometheus", False)
        self._temp_dir = None if "data_dir" in settings else tempfile.mkdtemp(prefix="amqpd-testing-")
        settings.setdefault("data_dir", self._temp_dir)
        self.settings = Settings(**settings)
        self.node = Node(self.settings, Store.open(self.settings.data_dir))
        self.server = Server(self.node, tls.context_for(self.settings))
        self.server.recover()
        self.host = HOST
        self.port = 0
        self.management_port = 0
        self._started = threading.Event()
        self._stop = threading.Event()  # set once stop() began, so a second stop() is a no-op
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopping: trio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="amqpd-broker", daemon=True)
        self._handles: dict[str, VirtualHostHandle] = {}
        self.clock = BrokerClock(self)

    @property
    def url(self) -> str:
        """The amqp URL of the default vhost for the default user."""
        return self.url_for(self.settings.default_vhost)

    def url_for(self, vhost: str) -> str:
        """The amqp URL of a vhost for the default user, the vhost percent-encoded (``/`` is %2F)."""
        user = urllib.parse.quote(self.settings.default_user, safe="")
        password = urllib.parse.quote(self.settings.default_pass, safe="")
        path = "" if vhost == "/" else urllib.parse.quote(vhost, safe="")
        return f"amqp://{user}:{password}@{self.host}:{self.port}/{path}"

    @property
    def management_url(self) -> str:
        """The management API's root."""
        return f"http://{self.host}:{self.management_port}"

    def start(self) -> Broker:
        """Start the loop thread and return once the broker accepts clients."""
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError(f"broker did not start within {START_TIMEOUT:g} s")
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        """Close every client with 320 CONNECTION_FORCED, stop the loop, join the thread and remove
        the temporary data directory."""
        if not self._stop.is_set():
            self._stop.set()
            if self._stopping is not None and self._thread.is_alive():
                self.call(self._stopping.set)
            if self._thread.ident is not None:
                self._thread.join(START_TIMEOUT + STOP_GRACE)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(self.server.serve)
            self.management_port = self.server.management_port or 0
            self._started.set()
            await self._stopping.wait()
            await self.server.shutdown(STOP_GRACE)
            nursery.cancel_scope.cancel()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in the broker's thread (state is only touched there) and return its
        result. Callable from any thread, including one running its own trio or asyncio loop
        (trio.from_thread refuses a thread inside trio.run, which a pytest-trio test is)."""
        done: Future[T] = Future()

        def job() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self._send(job)
        return done.result()

    def call_async(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run the coroutine function fn(*args) in the broker's loop and return its result."""
        done: Future[T] = Future()

        async def task() -> None:
            try:
                done.set_result(await fn(*args))
            except BaseException as exc:
                done.set_exception(exc)
                if isinstance(exc, trio.Cancelled):
                    raise

        self._send(lambda: trio.lowlevel.spawn_system_task(task))
        return done.result()

    def _send(self, job: Callable[[], object]) -> None:
        if self._token is None or self._stop.is_set() and not self._thread.is_alive():
            raise RuntimeError("the broker is not running")
        self._token.run_sync_soon(job)

    # -- what the handle and the pytest plugin do, each run in the broker's thread ---------------------

    def vhost(self, name: str = "/") -> VirtualHostHandle:
        """The handle on one vhost (which need not exist yet); the same one each time."""
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = VirtualHostHandle(self, name)
        return handle

    def add_vhost(self, name: str) -> VirtualHostHandle:
        """Create a vhost on which the default user has full permissions (stored, so it survives
        restart()), and return its handle."""
        def create() -> None:
            self.node.put_vhost(name, VhostMetadata())
            self.node.set_permission(self.settings.default_user, name, FULL)

        self.call(create)
        return self.vhost(name)

    def delete_vhost(self, name: str) -> bool:
        """Delete a vhost with everything in it; its connections are closed with 320."""
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.forget()
        return self.call(self.node.delete_vhost, name)
