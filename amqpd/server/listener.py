"""The TCP and TLS listeners: accept sockets, run a ClientSession for each, shut down gracefully."""

from __future__ import annotations

import errno
import functools
import math
import ssl
from typing import TYPE_CHECKING, Callable, Sequence

import structlog
import trio

from amqpd.broker import Node, clock
from amqpd.protocol import errors
from amqpd.server import tls
from amqpd.server.alarms import ResourceAlarms
from amqpd.server.client import Backlog, ClientSession, Stream, peer_address
from amqpd.server.control import ControlSocket, Operator
from amqpd.session import PLAIN_TCP, Transport
from amqpd.settings import LOOPBACK_HOSTS

if TYPE_CHECKING:
    from amqpd.management import Listener

log = structlog.get_logger("amqpd.server")

_PORT_ATTEMPTS = 5  # port 0 on several hosts: tries to find one port free on all
_NO_IPV6 = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)  # binding ::1 where the machine has no IPv6 loopback


class Server:
    """One node served on its AMQP port and, with a TLS context, on its amqps port."""

    def __init__(self, node: Node, tls_context: ssl.SSLContext | None = None,
                 on_recovered: Callable[[Node], None] | None = None) -> None:
        """With a TLS context the node is served over amqps on settings.tls_port as well;
        on_recovered is what start-up adds after recovery (the definitions file), run again by start_app."""
        self.node = node
        self._on_recovered = on_recovered
        self.alarm = ResourceAlarms(node)
        self.port: int | None = None
        self.tls_port: int | None = None
        self.management_port: int | None = None  # the management HTTP API's, when it is on
        self.management_tls_port: int | None = None  # and its https port, when that is on
        self._http: list[trio.SocketListener] = []
        self._https: list[trio.SocketListener] = []  # plain TCP: hypercorn does the TLS
        self.prometheus_port: int | None = None  # the Prometheus endpoint's, when it is on
        self._metrics: list[trio.SocketListener] = []
        self._control: ControlSocket | None = None  # amqpctl's way in (server/control.py)
        self.stop_requested = trio.Event()  # set by `amqpctl stop`; the command shuts the server down
        self._tls_context = tls_context
        self._listeners: list[trio.SocketListener | trio.SSLListener[trio.SocketStream]] | None = None
        self._accepting = trio.CancelScope()
        self._sessions: set[ClientSession] = set()
        self._session_ended = trio.Event()
        self.running = False  # the app (AMQP, management and Prometheus listeners) is up: stop_app / start_app
        self._app = trio.CancelScope()
        self._app_stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._lifecycle = trio.Lock()  # one stop_app / start_app at a time

    async def _handle(self, stream: Stream) -> None:
        transport = PLAIN_TCP
        if isinstance(stream, trio.SSLStream):
            try:
                cn = await tls.handshake(stream, self.node.settings.handshake_timeout)
            except tls.HandshakeFailed as exc:
                peer = peer_address(stream)
                log.warning("TLS handshake failed", peer=f"{peer[0]}:{peer[1]}" if peer else None, reason=str(exc))
                await trio.aclose_forcefully(stream)
                return
            transport = Transport(tls=True, peer_cert_cn=cn)
        session = ClientSession(self.node, stream, self.alarm, transport)
        self._sessions.add(session)
        try:
            await session.run()
        except Exception as exc:  # a bug in one connection's tasks costs that connection, never the listener
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:  # the session's nursery wraps it
                exc = exc.exceptions[0]
            self.node.log_limiter.log(log.error, "internal error in a connection's tasks", conn=session.conn.id,
                                      exc_info=exc)
        finally:
            self._sessions.discard(session)
            self._session_ended.set()

    def backlogs(self, vhost: str) -> list[Backlog]:
        """The traffic of the vhost's client connections not yet read or written (amqpd.testing's
        wait_until_idle)."""
        return [session.backlog() for session in self._sessions
                if session.conn.vhost is not None and session.conn.vhost.name == vhost]

    async def listen(self) -> int:
        """Bind the listening socket and return its port.

        Called on its own (as the CLI does) a bind failure such as EADDRINUSE surfaces as a plain
        OSError, not wrapped in a nursery's ExceptionGroup, so it can be reported in one line.
        """
        await self._bind_app()
        if self.node.store is not None:  # a broker with a data directory has a control socket in it
            self._control = await ControlSocket.bind(self.node.settings.control_socket())
        return self.port

    async def _bind_app(self) -> None:
        """Bind the app's ports: the settings' at start-up, the same ones again at start_app."""
        settings = self.node.settings
        self._listeners = [*await self._bind(_again(self.port, settings.port), None, settings.amqp_hosts())]
        self.port = _port(self._listeners[0])
        if self._tls_context is not None and settings.tls_port is not None:
            amqps = await self._bind(_again(self.tls_port, settings.tls_port), self._tls_context, settings.amqp_hosts())
            self.tls_port = _port(amqps[0])
            self._listeners += amqps
        if settings.management:
            self._http = await self._bind(_again(self.management_port, settings.management_port), None,
                                          settings.http_hosts())
            self.management_port = _port(self._http[0])
            if self._tls_context is not None and settings.management_tls_port is not None:
                self._https = await self._bind(_again(self.management_tls_port, settings.management_tls_port), None,
                                               settings.http_hosts())
                self.management_tls_port = _port(self._https[0])
        if settings.prometheus:
            self._metrics = await self._bind(_again(self.prometheus_port, settings.prometheus_port), None,
                                             settings.prometheus_hosts())
            self.prometheus_port = _port(self._metrics[0])

    async def _bind(self, port: int, context: ssl.SSLContext | None, hosts: tuple[str, ...]
                    ) -> list[trio.SocketListener] | list[trio.SSLListener[trio.SocketStream]]:
        """The listeners on one port, one per host; a failure is an OSError whose filename is the address."""
        tcp = await _bind_hosts(hosts, port)
        if context is None:
            return tcp
        return [trio.SSLListener(listener, context, https_compatible=False) for listener in tcp]

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen (unless listen() was called) and serve until cancelled; reports the port through task_status."""
        if self._listeners is None:
            await self.listen()
        store = self.node.store
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self.alarm.run)
                if store is not None:
                    store.on_failing = lambda failing: self.alarm.set("disk", failing)
                    nursery.start_soon(store.run)
                if self._control is not None:  # up while the app is stopped, as Erlang distribution is
                    from amqpd import management

                    await nursery.start(functools.partial(management.serve, control=Operator(self)), self.node,
                                        [self._control.sock], self.management_listeners(), lambda: self.alarm.raised)
                await nursery.start(self._run_app)
                task_status.started(self.port)
        finally:
            if self._control is not None:
                self._control.remove()
            if store is not None:
                store.close()  # graceful: what is still pending is written before the process ends

    async def _run_app(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """What stop_app stops: the AMQP and amqps listeners and their clients, the management API
        and Prometheus on TCP, the timer task (the control socket and the store stay)."""
        self._app = trio.CancelScope()
        self._app_stopped = trio.Event()
        self._accepting = trio.CancelScope()
        # named before the servers take the sockets over
        http, https, metrics = _urls("http", self._http), _urls("https", self._https), _urls("http", self._metrics)
        try:
            with self._app:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._run_timers)
                    await nursery.start(self._accept, nursery)
                    if self._http:
                        from amqpd import management  # only when on: hypercorn and Starlette take 0.1 s to import

                        serve = functools.partial(management.serve, tls_sockets=[_socket(lst) for lst in self._https],
                                                  tls_context=self._tls_context)
                        await nursery.start(serve, self.node, [_socket(lst) for lst in self._http],
                                            self.management_listeners(), lambda: self.alarm.raised)
                        log.info(f"started management listener on {http}", port=self.management_port)
                        if self._https:
                            log.info(f"started management listener on {https}", port=self.management_tls_port)
                    if self._metrics:
                        from amqpd.management import prometheus

                        await nursery.start(prometheus.serve, self.node, [_socket(lst) for lst in self._metrics],
                                            lambda: self.alarm.raised)
                        log.info(f"started prometheus listener on {metrics}", port=self.prometheus_port)
                    amqps = [lst for lst in self._listeners if isinstance(lst, trio.SSLListener)]
                    if amqps:
                        log.info(f"started TLS listener on {_urls('amqps', amqps)}", port=self.tls_port)
                    amqp = [lst for lst in self._listeners if not isinstance(lst, trio.SSLListener)]
                    log.info(f"Server startup complete; listening on {_urls('amqp', amqp)}", port=self.port,
                             hosts=[_socket(lst).getsockname()[0] for lst in amqp])
                    self.running = True
                    task_status.started()
        finally:
            self.running = False
            for listener in [*self._http, *self._https, *self._metrics]:
                _socket(listener).close()  # those hypercorn had not taken yet
            self._app_stopped.set()

    async def stop_app(self, grace: float) -> None:
        """rabbitmqctl stop_app: stop listening (new clients are refused), close every client with
        320, stop the management API and Prometheus, write what the store has pending, and drop
        the node's state (transient queues, exchanges, bindings and messages go with it)."""
        async with self._lifecycle:
            if not self.running:
                return
            log.info("stopping the app", requested_by="amqpctl")
            await self.shutdown(grace)
            self._app.cancel()
            await self._app_stopped.wait()
            if self.node.store is not None:
                await self.node.store.drained()
            self.node.reset()
            log.info("app stopped; the node is still running")

    async def start_app(self) -> None:
        """rabbitmqctl start_app: rebuild the node from the store as start-up does and listen again
        on the same ports."""
        async with self._lifecycle:
            if self.running:
                return
            assert self._nursery is not None
            self.node.reset()
            self.recover()
            await self._bind_app()
            await self._nursery.start(self._run_app)

    def recover(self) -> None:
        """The node's durable state from the store, then what start-up adds (the definitions file):
        run at start-up and by start_app."""
        self.node.recover()
        if self._on_recovered is not None:
            self._on_recovered(self.node)

    def management_listeners(self) -> list[Listener]:
        """The ports the node serves, as the management API reports them: each port once, under
        its first address (the default loopback pair shows as 127.0.0.1)."""
        from amqpd.management import Listener

        settings = self.node.settings
        amqp, http = settings.amqp_hosts()[0], settings.http_hosts()[0]  # one entry a port, as for RabbitMQ's '::'
        found = [Listener("amqp", amqp, self.port or 0)]
        if self.tls_port is not None:
            found.append(Listener("amqp/ssl", amqp, self.tls_port))
        if self.management_port is not None:
            found.append(Listener("http", http, self.management_port))
        if self.management_tls_port is not None:
            found.append(Listener("https", http, self.management_tls_port))
        if self.prometheus_port is not None:  # as rabbitmq_prometheus lists its port
            found.append(Listener("http/prometheus", settings.prometheus_hosts()[0], self.prometheus_port))
        return found

    async def _run_timers(self) -> None:
        """Run the node's timers as they fall due, sleeping until the next deadline or until an
        earlier one is scheduled."""
        timers = self.node.timers
        wake = trio.Event()

        def earlier() -> None:
            wake.set()

        timers.on_earlier = earlier
        while True:
            wake = trio.Event()
            timers.run_due(clock.now())
            deadline = timers.next_deadline()
            with trio.move_on_after(math.inf if deadline is None else max(deadline - clock.now(), 0)):
                await wake.wait()

    async def _accept(self, handler_nursery: trio.Nursery, *,
                      task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept until shutdown() stops it, then close the listening sockets (new clients are refused)."""
        assert self._listeners is not None
        with self._accepting:
            await trio.serve_listeners(self._handle, self._listeners, handler_nursery=handler_nursery,
                                       task_status=task_status)
        for listener in self._listeners:
            _socket(listener).close()  # synchronous, so it happens even when the nursery is being cancelled

    def request_stop(self, **why: str) -> None:
        """Ask whoever runs the server to shut it down gracefully (a signal, `amqpctl stop`)."""
        if not self.stop_requested.is_set():
            log.info("shutting down", **why)
        self.stop_requested.set()

    def close_all(self, reason: str = "shutdown") -> None:
        """Tell every client the broker is going away (320 CONNECTION_FORCED), like RabbitMQ."""
        for conn in list(self.node.connections):
            conn.close_with(errors.ConnectionError(
                errors.CONNECTION_FORCED, f"broker forced connection closure with reason '{reason}'"))

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, send every client Connection.Close 320 and give the sessions `grace` seconds to end.

        The Close frames are written by each session's writer task, so this waits for the sessions
        (not just for the connections to be released) before the caller cancels everything.
        """
        self._accepting.cancel()
        self.close_all()
        with trio.move_on_after(grace):
            while self._sessions:
                self._session_ended = trio.Event()
                await self._session_ended.wait()


def _again(bound: int | None, configured: int) -> int:
    """The port to bind: the one bound before (start_app), else the configured one (0: any)."""
    return configured if bound is None else bound


def _urls(scheme: str, listeners: Sequence[trio.SocketListener | trio.SSLListener[trio.SocketStream]]) -> str:
    """'amqp://127.0.0.1:5672 and amqp://[::1]:5672': what the start-up lines say is bound,
    as the sockets have it."""
    names = (_socket(listener).getsockname() for listener in listeners)
    return " and ".join(f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}" for host, port, *_ in names)


def _socket(listener: trio.SocketListener | trio.SSLListener[trio.SocketStream]) -> trio.socket.SocketType:
    return listener.transport_listener.socket if isinstance(listener, trio.SSLListener) else listener.socket


def _port(listener: trio.SocketListener | trio.SSLListener[trio.SocketStream]) -> int:
    port: int = _socket(listener).getsockname()[1]
    return port


async def _listen_on(host: str, port: int) -> list[trio.SocketListener]:
    """The listeners on one address; a failure is an OSError whose filename is the address."""
    try:
        if host == "::":
            return [await _dual_stack_listener(port)]
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, f"{host}:{port}") from None


async def _bind_hosts(hosts: tuple[str, ...], port: int) -> list[trio.SocketListener]:
    """One port on every host: the first host's listener picks it when port is 0 and the others
    take the same (picked again, a few times, when another host has it taken). The default
    loopback pair does without ::1 on a machine that has no IPv6 (logged)."""
    attempts = _PORT_ATTEMPTS
    while True:
        bound: list[trio.SocketListener] = []
        try:
            for host in hosts:
                try:
                    bound += await _listen_on(host, _port(bound[0]) if bound else port)
                except OSError as exc:
                    if not (hosts == LOOPBACK_HOSTS and host == "::1" and exc.errno in _NO_IPV6):
                        raise
                    log.warning("no IPv6 loopback: listening on 127.0.0.1 only", port=_port(bound[0]))
            return bound
        except OSError as exc:
            for listener in bound:
                listener.socket.close()
            attempts -= 1
            if port or not bound or exc.errno != errno.EADDRINUSE or not attempts:
                raise


async def _dual_stack_listener(port: int) -> trio.SocketListener:
    """The '::' listener as RabbitMQ has it: one IPv6 socket that IPv4 clients reach too (as
    ::ffff:a.b.c.d). trio's own listeners set IPV6_V6ONLY, which would leave IPv4 out."""
    sock = trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_STREAM)
    try:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        sock.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, 0)
        await sock.bind(("::", port))
        sock.listen(trio.socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)
