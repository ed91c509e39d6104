"""/api/overview, /api/whoami, /api/cluster-name, /api/nodes and /api/extensions.

The message and churn counts are the node's (broker/stats.py: summed when read), for a user
without the monitoring tag those of the vhosts it may use; rates come from the samples the
node's Rates keeps between reads.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sys
import time
from typing import Any

from starlette.responses import Response

from amqpd import __version__
from amqpd.broker import COMPATIBLE_VERSION, EXCHANGE_TYPES, PRODUCT, MessageStats, VirtualHost
from amqpd.management import objstats
from amqpd.management.api import Call, Endpoint, created, reply, text
from amqpd.management.history import GLOBAL, Range, added, details
from amqpd.management.listeners import Listener
from amqpd.management.auth import Need
from amqpd.management.errors import not_found

STARTED = time.monotonic()
DISK_FREE_LIMIT = 50_000_000  # RabbitMQ's default disk_free_limit


def exchange_types() -> list[dict[str, Any]]:
    return [{"name": kind, "description": f"AMQP {kind} exchange, as per the AMQP specification", "enabled": True}
            for kind in sorted(EXCHANGE_TYPES)]


def listeners(call: Call) -> list[dict[str, Any]]:
    return [{"node": call.node.name, "protocol": item.protocol, "ip_address": item.host, "port": item.port,
             "socket_opts": {}} for item in call.listeners]


def contexts(call: Call) -> list[dict[str, Any]]:
    return [{"node": call.node.name, "description": "RabbitMQ Management", "path": "/", "port": str(item.port),
             "ip": item.host} for item in call.listeners if item.protocol == "http"]


def overview(call: Call) -> Response:
    node, caller = call.node, call.caller
    vhosts = [v for name, v in node.vhosts.items() if caller.may_use(node, name) or caller.is_monitor]
    queues = [q for v in vhosts for q in v.queues.values()]
    connections = [c for c in node.connections if caller.is_monitor or c.user == caller.user.name]
    if caller.is_monitor:
        scope, stats = "", node.message_stats()
    else:  # the counts of the vhosts the user may use
        scope, stats = caller.user.name, MessageStats.total(node.message_stats(v) for v in vhosts)
    objstats.HISTORY.start(node)
    values = objstats.overview_values(node, vhosts, stats)  # churn: the node's for every user, as RabbitMQ's
    named = dict(zip(objstats.OVERVIEW_NAMES, values))
    message_stats = objstats.counters(call, ("overview", scope), {k: named[k] for k in objstats.OVERVIEW_MESSAGES})
    churn = objstats.counters(call, ("churn", scope), {k: named[k] for k in objstats.CHURN})
    totals = objstats.counters(call, ("queue_totals", scope), {k: named[k] for k in objstats.DEPTHS})
    parts = {"msg_rates": message_stats, "lengths": totals}
    if "msg_rates_age" in call.query:  # RabbitMQ 3.10.8 samples churn only then, with the lengths_ range
        parts["lengths"] = {**totals, **churn}
    _overview_samples(call, vhosts, values, parts)
    body: dict[str, Any] = {
        "management_version": COMPATIBLE_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]},
        "exchange_types": exchange_types(),
        "product_version": COMPATIBLE_VERSION,
        "product_name": PRODUCT,
        "rabbitmq_version": COMPATIBLE_VERSION,
        "cluster_name": node.cluster_name,
        "erlang_version": platform.python_version(),  # there is no Erlang: the Python that runs amqpd
        "erlang_full_version": f"amqpd {__version__} on Python {sys.version.split()[0]}",
        "release_series_support_status": "supported",
        "disable_stats": False,
        "enable_queue_totals": False,
        "message_stats": message_stats,
        "churn_rates": churn,
        "queue_totals": totals,
        "object_totals": {
            "channels": sum(len(c.channels) for c in connections),
            "connections": len(connections),
            "consumers": sum(q.consumer_count for q in queues),
            "exchanges": sum(len(v.exchanges) for v in vhosts),
            "queues": len(queues),
        },
        "statistics_db_event_queue": 0,
    }
    if caller.is_monitor:
        body.update(node=node.name, listeners=listeners(call), contexts=contexts(call))
    return reply(body, call)


# the overview's values a user's vhosts give (where each is among a vhost's); the rest is the node's
_FROM_VHOSTS = {name: objstats.VHOST_NAMES.index(name) for name in objstats.OVERVIEW_NAMES
                if name in objstats.VHOST_NAMES}


def _overview_samples(call: Call, vhosts: list[VirtualHost], values: tuple[int, ...],
                      parts: dict[str, dict[str, Any]]) -> None:
    """The node's history for a monitor; for another user, its vhosts' histories added up (the
    churn always the node's)."""
    if call.caller.is_monitor or not vhosts:
        objstats.samples(call, call.node, GLOBAL, objstats.OVERVIEW_NAMES, values, parts)
        return
    now = time.time()
    for prefix, counts in parts.items():
        span = Range.of(call.query, prefix, now)
        if span is None:
            continue
        mine = objstats.HISTORY.points(call.node, GLOBAL, span, values, now)
        theirs = added([objstats.HISTORY.points(v, GLOBAL, span, objstats.vhost_values(call.node, v), now)
                        for v in vhosts])
        points = [(moment, tuple(vhosts_values[_FROM_VHOSTS[name]] if name in _FROM_VHOSTS else node_values[position]
                                 for position, name in enumerate(objstats.OVERVIEW_NAMES)))
                  for (moment, node_values), (_, vhosts_values) in zip(mine, theirs)]
        details(counts, objstats.OVERVIEW_NAMES, points)


def whoami(call: Call) -> Response:
    return reply({"name": call.caller.user.name, "tags": call.caller.user.tags}, call)


def cluster_name(call: Call) -> Response:
    return reply({"name": call.node.cluster_name}, call)


def set_cluster_name(call: Call) -> Response:
    name = text(call.body(), "name")
    call.node.set_cluster_name(name)
    return created(False)


def node_object(call: Call) -> dict[str, Any]:
    node = call.node
    settings = node.settings
    try:
        disk_free = shutil.disk_usage(settings.data_dir).free
    except OSError:
        disk_free = 0
    try:
        fd_used = len(os.listdir("/proc/self/fd"))
    except OSError:
        fd_used = 0
    fd_total = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    alarms = call.alarms
    return {
        "name": node.name, "type": "disc", "running": True, "partitions": [], "cluster_links": [],
        "os_pid": str(os.getpid()), "uptime": int((time.monotonic() - STARTED) * 1000),
        "mem_used": node.memory.total, "mem_limit": settings.memory_limit, "mem_alarm": "memory" in alarms,
        "mem_calculation_strategy": "rss",
        "disk_free": disk_free, "disk_free_limit": DISK_FREE_LIMIT, "disk_free_alarm": "disk" in alarms,
        "fd_used": fd_used, "fd_total": fd_total, "sockets_used": len(node.connections), "sockets_total": fd_total,
        "proc_used": 0, "proc_total": 1048576, "run_queue": 0, "processors": os.cpu_count() or 1,
        "rates_mode": "basic", "net_ticktime": 60,
        "applications": [
            {"name": "amqpd", "description": "An AMQP 0-9-1 broker in Python", "version": __version__},
            {"name": "rabbitmq_management", "description": "RabbitMQ Management Console",
             "version": COMPATIBLE_VERSION},
        ],
        "exchange_types": exchange_types(),
        "auth_mechanisms": [{"name": name, "description": description, "enabled": True} for name, description in
                            (("AMQPLAIN", "QPid AMQPLAIN mechanism"),
                             ("PLAIN", "SASL PLAIN authentication mechanism"))],
        "enabled_plugins": ["rabbitmq_management"],
        "contexts": contexts(call),
        "config_files": settings.config_files(),
        "log_files": ["<stderr>"],
        "db_dir": settings.data_dir,
    }


def nodes(call: Call) -> Response:
    return reply([node_object(call)], call)


def one_node(call: Call) -> Response:
    if call.params["node"] != call.node.name:
        raise not_found()
    return reply(node_object(call), call)


def extensions(call: Call) -> Response:
    return reply([], call)  # the web UI's plugins; amqpd serves no UI


ENDPOINTS = [
    Endpoint("/api/overview", "GET", Need.MANAGEMENT, overview),
    Endpoint("/api/whoami", "GET", Need.MANAGEMENT, whoami),
    Endpoint("/api/cluster-name", "GET", Need.MANAGEMENT, cluster_name),
    Endpoint("/api/cluster-name", "PUT", Need.ADMIN, set_cluster_name),
    Endpoint("/api/nodes", "GET", Need.MONITOR, nodes),
    Endpoint("/api/nodes/{node}", "GET", Need.MONITOR, one_node),
    Endpoint("/api/extensions", "GET", Need.MANAGEMENT, extensions),
]
