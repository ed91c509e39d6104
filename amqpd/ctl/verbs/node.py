"""The node's own operator verbs, over the control socket's /control routes: status, stop,
stop_app / start_app, await_startup, wait, set_vm_memory_high_watermark, eval (the literal
expressions test suites send), trace_on / trace_off, authenticate_user, enable_feature_flag."""

from __future__ import annotations

import argparse
import os
import re
import time
from typing import Any, Callable

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.transport import ApiFailure, NotFound, segment
from amqpd.ctl.verb import Context, Verb

GROUP = "Nodes"
POLL = 0.1  # seconds between looks at a broker that is starting or stopping
BOOT_TIMEOUT = 300.0  # await_startup's and wait's default, as rabbitmqctl's


# -- status ------------------------------------------------------------------------------------


def status(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Status of node {ctx.node} ...")
    report = ctx.broker.get("/control/status")
    if not report["running"]:
        raise CtlError(Exit.USAGE, "Error: this command requires the 'rabbit' app to be running on the target "
                                   "node. Start it with 'rabbitmqctl start_app'.")
    if ctx.out.formatter.machine:
        ctx.out.document({key: value for key, value in report.items() if key in JSON_KEYS})
        return
    for line in status_text(report):
        ctx.out.line(line)


JSON_KEYS = ("active_plugins", "alarms", "config_files", "crypto_lib_version", "data_directory", "disk_free",
             "disk_free_limit", "enabled_plugin_file", "erlang_version", "file_descriptors",
             "is_under_maintenance", "listeners", "log_files", "memory", "os", "pid", "product_name",
             "product_version", "rabbitmq_version", "totals", "uptime", "vm_memory_calculation_strategy",
             "vm_memory_high_watermark_limit", "vm_memory_high_watermark_setting")
ALARM_TEXTS = {"memory": "Memory alarm on node {}", "disk": "Free disk space alarm on node {}"}


def _gb(value: int) -> str:
    return f"{round(value / 1e9, 4)} gb"


def _title(title: str) -> str:
    """A section title, in bold as rabbitmqctl prints it (on a pipe too)."""
    return f"\x1b[1m{title}\x1b[0m"


def _section(title: str, lines: list[str]) -> list[str]:
    return [_title(title), "", *lines, ""]


def status_text(report: dict[str, Any]) -> list[str]:
    """rabbitmqctl 3.10's status text, section by section, with amqpd's values."""
    node = report["node_name"]
    setting = report["vm_memory_high_watermark_setting"]
    limit = report["vm_memory_high_watermark_limit"]
    if "relative" in setting:
        watermark = f"{setting['relative']} of available memory, computed to: {_gb(limit)}"
    else:
        watermark = f"{_gb(setting['absolute'])}, computed to: {_gb(limit)}"
    fds = report["file_descriptors"]
    totals = report["totals"]
    alarms = [ALARM_TEXTS.get(alarm["resource"], "{}").format(alarm["node"]) for alarm in report["alarms"]]
    lines = _section("Runtime", [
        f"OS PID: {report['pid']}",
        f"OS: {report['os']}",
        f"Uptime (seconds): {report['uptime']}",
        f"Is under maintenance?: {str(report['is_under_maintenance']).lower()}",
        f"RabbitMQ version: {report['rabbitmq_version']}",
        f"amqpd version: {report['amqpd_version']}",
        f"Node name: {node}",
        f"Erlang configuration: {report['erlang_version']}",
        f"Crypto library: {report['crypto_lib_version']}",
    ])
    lines += _section("Plugins", ["Enabled plugin file: " + (report["enabled_plugin_file"] or "(none)"),
                                  "Enabled plugins:", "", *[f" * {name}" for name in report["active_plugins"]]])
    lines += _section("Data directory", [f"Node data directory: {report['data_directory']}"])
    lines += _section("Config files", [f" * {path}" for path in report["config_files"]] or ["(none)"])
    lines += _section("Log file(s)", [f" * {path}" for path in report["log_files"]])
    lines += _section("Alarms", alarms or ["(none)"])
    lines += _section("Memory", [
        f"Total memory used: {_gb(report['memory']['total']['rss'])}",
        f"Calculation strategy: {report['vm_memory_calculation_strategy']}",
        f"Memory high watermark setting: {watermark}",
    ])
    lines += _section("File Descriptors", [f"Total: {fds['total_used']}, limit: {fds['total_limit']}",
                                           f"Sockets: {fds['sockets_used']}, limit: {fds['sockets_limit']}"])
    lines += _section("Free Disk Space", [f"Low free disk space watermark: {_gb(report['disk_free_limit'])}",
                                          f"Free disk space: {_gb(report['disk_free'])}"])
    lines += _section("Totals", [f"Connection count: {totals['connection_count']}",
                                 f"Queue count: {totals['queue_count']}",
                                 f"Virtual host count: {totals['virtual_host_count']}"])
    lines += [_title("Listeners"), "", *[f"Interface: {item['interface']}, port: {item['port']}, protocol: "
                                 f"{item['protocol']}, purpose: {item['purpose']}" for item in report["listeners"]]]
    return lines


# -- stopping and starting ---------------------------------------------------------------------


def stop(ctx: Context, args: argparse.Namespace) -> None:
    """Stop the broker and return once it has (with a pid file: once that process has exited), as
    rabbitmqctl's."""
    monitor = f" (will monitor pid file {args.pid_file})" if args.pid_file else ""
    ctx.out.banner(f"Stopping and halting node {ctx.node}{monitor} ...")
    pid = _read_pid(args.pid_file) if args.pid_file else None
    ctx.broker.post("/control/stop")
    timeout = args.timeout or BOOT_TIMEOUT
    if pid is not None:
        _until(lambda: not _alive(pid), timeout, ctx)
        ctx.out.line(f"process {pid} (take from pid file {args.pid_file}) is no longer running")
    elif ctx.target.socket is not None:  # the broker removes its control socket once it has stopped serving
        socket = ctx.target.socket
        _until(lambda: not os.path.exists(socket), timeout, ctx)


def stop_app(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Stopping rabbit application on node {ctx.node} ...")
    ctx.broker.post("/control/stop_app")


def start_app(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Starting node {ctx.node} ...")
    ctx.broker.post("/control/start_app")


def _running(ctx: Context) -> bool | None:
    """Whether the app runs (None: the broker cannot be reached yet)."""
    try:
        return bool(ctx.broker.get("/control/status")["running"])
    except CtlError:  # not there (yet): the next use of ctx.broker tries again
        return None


def await_startup(ctx: Context, args: argparse.Namespace) -> None:
    """Wait until the broker has booted (its app running); a broker that answers with its app
    stopped is rabbitmqctl's rabbit_is_not_running."""
    timeout = args.timeout or BOOT_TIMEOUT
    deadline = time.monotonic() + timeout
    while (running := _running(ctx)) is None:
        if time.monotonic() >= deadline:
            raise CtlError(Exit.UNAVAILABLE, f"Error:\nnode {ctx.node} did not start within {timeout} seconds")
        time.sleep(POLL)
    if not running:
        raise CtlError(Exit.UNAVAILABLE, "Error:\nrabbit_is_not_running")


def wait(ctx: Context, args: argparse.Namespace) -> None:
    """rabbitmqctl wait PIDFILE: the pid file appears, then the broker boots (its process alive)."""
    timeout = args.timeout or BOOT_TIMEOUT
    deadline = time.monotonic() + timeout
    node = ctx.node
    if args.pid:
        pid = int(args.pid_file)
    else:
        ctx.out.banner(f"Waiting for pid file '{args.pid_file}' to appear")
        while (pid := _read_pid(args.pid_file)) is None:
            _check_deadline(deadline, timeout, node)
            time.sleep(POLL)
    ctx.out.banner(f"pid is {pid}")
    _running(ctx)  # the broker's own name, once it answers
    node = ctx.node
    ctx.out.banner(f"Waiting for erlang distribution on node '{node}' while OS process '{pid}' is running")
    ctx.out.banner(f"Waiting for applications 'rabbit_and_plugins' to start on node '{node}'")
    while not _running(ctx):
        if not _alive(pid):
            raise CtlError(Exit.UNAVAILABLE, f"Error:\nprocess_not_running (OS process {pid} is not running)")
        _check_deadline(deadline, timeout, node)
        time.sleep(POLL)
    ctx.out.banner(f"Applications 'rabbit_and_plugins' are running on node '{ctx.node}'")


def _check_deadline(deadline: float, timeout: float, node: str) -> None:
    if time.monotonic() >= deadline:
        raise CtlError(Exit.TIMEOUT, f"Error: operation wait on node {node} timed out. Timeout value used: "
                                     f"{timeout}")


def _until(done: Callable[[], bool], timeout: float, ctx: Context) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        _check_deadline(deadline, timeout, ctx.node)
        time.sleep(POLL)


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    """Whether the process runs (an exited one its parent has not reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


# -- memory, eval, tracing, users, feature flags --------------------------------------------------

UNITS = {"": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024 ** 2, "mib": 1024 ** 2, "mb": 1000 ** 2,
         "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3}


def set_vm_memory_high_watermark(ctx: Context, args: argparse.Namespace) -> None:
    words = args.value
    if len(words) == 2 and words[0] == "absolute":
        ctx.out.banner(f"Setting memory threshold on {ctx.node} to {words[1]} bytes ...")
        ctx.broker.put("/control/memory-high-watermark", {"absolute": _bytes(words[1])})
    elif len(words) == 1:
        try:
            fraction = float(words[0])
        except ValueError:
            fraction = -1.0
        if not 0 <= fraction:
            raise CtlError(Exit.USAGE, "Error (argument validation): The threshold should be a fraction between "
                                       "0.0 and 1.0")
        ctx.out.banner(f"Setting memory threshold on {ctx.node} to {words[0]} ...")
        ctx.broker.put("/control/memory-high-watermark", {"fraction": fraction})
    else:
        raise CtlError(Exit.USAGE, "Error (argument validation): expected a fraction, or absolute and a number "
                                   "of bytes")


def _bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", text)
    if match is None or match.group(2).lower() not in UNITS:
        raise CtlError(Exit.USAGE, f"Error (argument validation): {text} is not a valid memory amount")
    return int(match.group(1)) * UNITS[match.group(2).lower()]


# eval: the literal Erlang expressions test suites send, each mapped to a control route
_EVALS: list[tuple[re.Pattern[str], Callable[[Context, re.Match[str]], None]]] = [
    (re.compile(r"rabbit_alarm:set_alarm\(\{\{resource_limit,(memory|disk),node\(\)\},\[\]\}\)\.?"),
     lambda ctx, m: ctx.broker.put(f"/control/alarms/{m.group(1)}", {"on": True})),
    (re.compile(r"rabbit_alarm:clear_alarm\(\{resource_limit,(memory|disk),node\(\)\}\)\.?"),
     lambda ctx, m: ctx.broker.put(f"/control/alarms/{m.group(1)}", {"on": False})),
    (re.compile(r"application:set_env\(rabbit,channel_max,(\d+)\)\.?"),
     lambda ctx, m: ctx.broker.put("/control/env/channel_max", {"value": int(m.group(1))})),
    (re.compile(r"application:set_env\(rabbit,loopback_users,\[((?:<<\"[^\"]*\">>,?)*)\]\)\.?"),
     lambda ctx, m: ctx.broker.put("/control/env/loopback_users",
                                   {"value": re.findall(r'<<"([^"]*)">>', m.group(1))})),
]


def eval_(ctx: Context, args: argparse.Namespace) -> None:
    expression = re.sub(r"\s+", "", " ".join(args.expression))
    for pattern, action in _EVALS:
        match = pattern.fullmatch(expression)
        if match is not None:
            action(ctx, match)
            ctx.out.line("ok")
            return
    raise CtlError(Exit.UNAVAILABLE, "Error:\namqpctl eval runs only the expressions test suites send "
                                     "(rabbit_alarm:set_alarm / clear_alarm of memory or disk, "
                                     "application:set_env(rabbit, channel_max | loopback_users, ...)); "
                                     f"not {' '.join(args.expression)!r}")


def trace_on(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Starting tracing for vhost "{ctx.vhost}" ...')
    _trace(ctx, True)
    ctx.out.line(f"Trace enabled for vhost {ctx.vhost}")


def trace_off(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Stopping tracing for vhost "{ctx.vhost}" ...')
    _trace(ctx, False)
    ctx.out.line(f"Trace disabled for vhost {ctx.vhost}")


def _trace(ctx: Context, on: bool) -> None:
    try:
        ctx.broker.put(f"/control/trace/{segment(ctx.vhost)}", {"on": on})
    except NotFound:
        raise CtlError(Exit.DATA_ERROR, f"Error:\nVirtual host '{ctx.vhost}' does not exist") from None


def authenticate_user(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f'Authenticating user "{args.user}" ...')
    try:
        ctx.broker.post("/control/authenticate", {"user": args.user, "password": args.password})
    except ApiFailure as failure:
        if failure.status == 401:
            raise CtlError(Exit.DATA_ERROR, f'Error: failed to authenticate user "{args.user}"\n'
                                            f"{failure.reason}") from None
        raise
    ctx.out.line("Success")


def enable_feature_flag(ctx: Context, args: argparse.Namespace) -> None:
    if args.name == "all":
        ctx.out.banner("Enabling all feature flags ...")
        return
    ctx.out.banner(f'Enabling feature flag "{args.name}" ...')
    try:
        ctx.broker.put(f"/api/feature-flags/{segment(args.name)}/enable", {})
    except ApiFailure as failure:
        if failure.status == 400:
            raise CtlError(Exit.USAGE, f"Error:\nThis feature flag is not supported by node {ctx.node}") from None
        raise


def _pid_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid_file", metavar="PIDFILE", help="the broker's pid file (amqpd --pid-file)")
    parser.add_argument("--pid", "--system-pid", action="store_true", dest="pid",
                        help="PIDFILE is a process id")


VERBS = [
    Verb("status", status, "the node's status: runtime, plugins, alarms, memory, listeners ...", group=GROUP,
         control=True),
    Verb("stop", stop, "stops the broker (with a pid file: waits until its process has exited)",
         lambda p: p.add_argument("pid_file", metavar="PIDFILE", nargs="?"), group=GROUP, control=True),
    Verb("stop_app", stop_app, "closes every client (320), stops listening and drops transient state",
         group=GROUP, control=True),
    Verb("start_app", start_app, "recovers the durable state as start-up does and listens again", group=GROUP,
         control=True),
    Verb("await_startup", await_startup, "waits until the broker has booted (--timeout, default 300 s)",
         group=GROUP, control=True, connect=False),
    Verb("wait", wait, "waits for the pid file to appear and the broker to boot", _pid_file_argument,
         group=GROUP, control=True, connect=False),
    Verb("set_vm_memory_high_watermark", set_vm_memory_high_watermark,
         "the memory alarm's threshold: a fraction of RAM, or `absolute` and bytes (units k, MiB, GB ...)",
         lambda p: p.add_argument("value", nargs="+"), group=GROUP, control=True),
    Verb("eval", eval_, "runs one of the literal Erlang expressions test suites send (alarms, set_env)",
         lambda p: p.add_argument("expression", nargs="+"), group=GROUP, control=True),
    Verb("trace_on", trace_on, "starts the firehose (amq.rabbitmq.trace) in a vhost", group=GROUP, control=True),
    Verb("trace_off", trace_off, "stops the firehose in a vhost", group=GROUP, control=True),
    Verb("authenticate_user", authenticate_user, "checks a user's password",
         lambda p: (p.add_argument("user"), p.add_argument("password")), group=GROUP, control=True),
    Verb("enable_feature_flag", enable_feature_flag, "enables a feature flag (all are on in amqpd)",
         lambda p: p.add_argument("name"), group=GROUP),
]
