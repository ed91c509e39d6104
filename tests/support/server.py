"""A real amqpd in a background thread on an ephemeral port, for tests that use sockets."""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Any

import trio

from amqpd.broker.node import Node
from amqpd.server import tls
from amqpd.server.listener import Server
from amqpd.settings import Settings
from amqpd.store.writer import Store


class BrokerThread:
    """Runs Server.serve in its own trio loop; stop() cancels it and joins the thread.

    Without a data_dir it gets a temporary one, removed at stop(); pass one to restart a broker
    on the state an earlier one left.
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("port", 0)
        settings.setdefault("management_port", 0)  # never 15672; management=False turns the API off
        settings.setdefault("prometheus_port", 0)  # never 15692
        self._temp_dir = None if "data_dir" in settings else tempfile.mkdtemp(prefix="amqpd-test-")
        settings.setdefault("data_dir", self._temp_dir)
        self.settings = Settings(**settings)
        self.node = Node(self.settings, Store.open(self.settings.data_dir))
        self.node.recover()
        self.server = Server(self.node, tls.context_for(self.settings))
        self.port = 0
        self.management_port = 0
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="amqpd-test-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def api(self) -> str:
        """The management API's base URL."""
        return f"http://127.0.0.1:{self.management_port}"

    def start(self) -> "BrokerThread":
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("broker did not start within 10 s")
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                self.port = await nursery.start(self.server.serve)
                self.management_port = self.server.management_port or 0
                self._started.set()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) in the broker's thread (state is only touched there)."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        if self._scope is not None and self._thread.is_alive():
            self.call(self._scope.cancel)
        self._thread.join(10)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
