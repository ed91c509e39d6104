"""rabbitmq-diagnostics' health checks, as Docker health checks and CI scripts run them: ping,
check_running, check_port_connectivity, check_local_alarms (texts and exit codes of 3.10.8)."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.verb import Context, Verb
from amqpd.ctl.verbs.node import ALARM_TEXTS

GROUP = "Diagnostics"
PING_TIMEOUT = 60.0  # seconds, as rabbitmq-diagnostics ping's default


def ping(ctx: Context, args: argparse.Namespace) -> None:
    """Whether the broker's process answers (its app may be stopped): exit 0 or 69."""
    timeout = args.timeout or PING_TIMEOUT
    try:
        _ = ctx.broker  # connected first, so that the banner has the broker's own name
        failed = False
    except CtlError:
        failed = True
    ctx.out.banner(f"Will ping {ctx.node}. This only checks if the OS process is running and registered with "
                   f"epmd. Timeout: {int(timeout * 1000)} ms.")
    if failed:
        raise CtlError(Exit.UNAVAILABLE,
                       f"Error:\nFailed to connect and authenticate to {ctx.node} in {int(timeout * 1000)} ms")
    ctx.out.line("Ping succeeded")


def _status(ctx: Context) -> dict[str, Any]:
    report: dict[str, Any] = ctx.broker.get("/control/status")
    return report


def check_running(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Checking if RabbitMQ is running on node {ctx.node} ...")
    if not _status(ctx)["running"]:
        raise CtlError(Exit.UNAVAILABLE, f"Error:\nRabbitMQ on node {ctx.node} is not running or has not fully "
                                         "booted yet (check with is_booting)")
    ctx.out.line(f"RabbitMQ on node {ctx.node} is fully booted and running")


def check_port_connectivity(ctx: Context, args: argparse.Namespace) -> None:
    """Open a TCP connection to every listener the broker reports."""
    ctx.out.banner(f"Testing TCP connections to all active listeners on node {ctx.node} ...")
    listeners = _status(ctx)["listeners"]
    failed = []
    for item in listeners:
        host = item["interface"].strip("[]")
        host = {"::": "::1", "0.0.0.0": "127.0.0.1"}.get(host, host)
        try:
            socket.create_connection((host, item["port"]), timeout=args.timeout or 10).close()
        except OSError:
            failed.append(item)
    ports = ", ".join(str(item["port"]) for item in listeners)
    if failed:
        raise CtlError(Exit.UNAVAILABLE, "Error:\nConnection to ports " + ", ".join(
            str(item["port"]) for item in failed) + f" on node {ctx.node} has failed")
    ctx.out.line(f"Successfully connected to ports {ports} on node {ctx.node}.")


def check_local_alarms(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out.banner(f"Asking node {ctx.node} to report any local resource alarms ...")
    alarms = _status(ctx)["alarms"]
    if alarms:
        raise CtlError(Exit.UNAVAILABLE, "Error:\n" + "\n".join(
            ALARM_TEXTS.get(alarm["resource"], "{}").format(alarm["node"]) for alarm in alarms))
    ctx.out.line(f"Node {ctx.node} reported no local alarms")


VERBS = [
    Verb("ping", ping, "checks that the broker's process answers", group=GROUP, control=True, connect=False),
    Verb("check_running", check_running, "checks that the broker has booted and its app runs", group=GROUP,
         control=True),
    Verb("check_port_connectivity", check_port_connectivity, "connects to every listener the broker reports",
         group=GROUP, control=True),
    Verb("check_local_alarms", check_local_alarms, "fails when a resource alarm is in effect", group=GROUP,
         control=True),
]
