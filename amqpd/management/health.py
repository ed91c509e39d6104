"""/api/aliveness-test and the health checks, with RabbitMQ 3.10.8's bodies and 503s."""

from __future__ import annotations

import datetime
import re
from typing import Any

from starlette.responses import Response

from amqpd.broker import Message
from amqpd.management.api import Call, Endpoint, reply
from amqpd.management.certificates import CertificateError, validities
from amqpd.management.auth import Need
from amqpd.management.errors import bad_request, not_found

ALIVENESS_QUEUE = "aliveness-test"
ALIVENESS_BODY = b"test_message"
NO_PROPERTIES = b"\x00\x00"  # a content header's property flags with no property set
PROTOCOL_NAMES = {"amqp091": "amqp", "amqp": "amqp", "amqp/ssl": "amqp/ssl", "amqps": "amqp/ssl", "http": "http"}


def ok(call: Call, **extra: Any) -> Response:
    return reply({"status": "ok", **extra}, call)


def failed(call: Call, reason: str, **extra: Any) -> Response:
    return reply({"status": "failed", "reason": reason, **extra}, call, status=503)


def aliveness(call: Call) -> Response:
    """Declare the aliveness-test queue, publish a message to it and get it back (as RabbitMQ
    does through its own AMQP channel); the queue stays, as on RabbitMQ."""
    vhost = call.node.vhosts.get(call.params["vhost"])
    if vhost is None:
        raise not_found()
    queue = vhost.declare_queue(ALIVENESS_QUEUE, None)
    queue.enqueue(Message("", ALIVENESS_QUEUE, NO_PROPERTIES, ALIVENESS_BODY))
    entry = queue.take()
    if entry is None:
        return failed(call, "aliveness-test message was not delivered")
    queue.forget(entry)
    if entry.message.body != ALIVENESS_BODY:
        return failed(call, "aliveness-test queue held another message")
    return ok(call)


def node_check(call: Call) -> Response:
    if "node" in call.params and call.params["node"] != call.node.name:
        raise not_found()
    return ok(call)


def _alarms(call: Call) -> list[dict[str, str]]:
    return [{"node": call.node.name, "resource": resource} for resource in sorted(call.alarms)]


def alarms(call: Call) -> Response:
    if call.alarms:
        return failed(call, "There are alarms in effect in the cluster", alarms=_alarms(call))
    return ok(call)


def local_alarms(call: Call) -> Response:
    if call.alarms:
        return failed(call, "There are alarms in effect on the node", alarms=_alarms(call))
    return ok(call)


def virtual_hosts(call: Call) -> Response:
    return ok(call)  # a vhost of amqpd cannot be down on its own


def single_node(call: Call) -> Response:
    """node-is-quorum-critical / node-is-mirror-sync-critical: never, on a node that is alone."""
    return ok(call, reason="single node cluster")


# RabbitMQ 3.10.8's feature flags (name, description, documentation); all enabled, as amqpd
# behaves as a node with each of them on (it counts unroutable drops and empty gets, too).
FEATURE_FLAGS = (
    ("classic_mirrored_queue_version", "Support setting version for classic mirrored queues", "", "rabbit"),
    ("drop_unroutable_metric", "Count unroutable publishes to be dropped in stats", "", "rabbitmq_management_agent"),
    ("empty_basic_get_metric", "Count AMQP `basic.get` on empty queues in stats", "", "rabbitmq_management_agent"),
    ("implicit_default_bindings", "Default bindings are now implicit, instead of being stored in the database", "",
     "rabbit"),
    ("maintenance_mode_status", "Maintenance mode status", "", "rabbit"),
    ("quorum_queue", "Support queues of type `quorum`", "https://www.rabbitmq.com/quorum-queues.html", "rabbit"),
    ("stream_queue", "Support queues of type `stream`", "https://www.rabbitmq.com/stream.html", "rabbit"),
    ("user_limits", "Configure connection and channel limits for a user", "", "rabbit"),
    ("virtual_host_metadata", "Virtual host metadata (description, tags, etc)", "", "rabbit"),
)


def feature_flags(call: Call) -> Response:
    return reply([{"name": name, "desc": desc, "doc_url": doc_url, "state": "enabled", "stability": "stable",
                   "provided_by": provided_by} for name, desc, doc_url, provided_by in FEATURE_FLAGS], call)


def enable_feature_flag(call: Call) -> Response:
    """Every known flag is on already; an unknown one is RabbitMQ's 400 "unsupported"."""
    if call.params["name"] not in {flag[0] for flag in FEATURE_FLAGS}:
        raise bad_request("unsupported")
    return Response(b"", 204)


def port_listener(call: Call) -> Response:
    text = call.params["port"]
    if not (text.isascii() and text.isdigit()):
        raise bad_request("Invalid port")
    port = int(text)
    ports = [item.port for item in call.listeners]
    if port not in ports:
        return failed(call, "No active listener", missing=port, ports=ports)
    return ok(call, port=port)


def protocol_listener(call: Call) -> Response:
    wanted = call.params["protocol"]
    protocols = [item.protocol for item in call.listeners]
    protocol = PROTOCOL_NAMES.get(wanted.lower())
    if protocol not in protocols:
        return failed(call, "No active listener", missing=wanted, protocols=protocols)
    return ok(call, protocol=protocol)


# RabbitMQ's units of the certificate-expiration check, in seconds (a month is a twelfth of a year)
EXPIRY_UNITS = {"days": 86400, "weeks": 7 * 86400, "months": 365 * 86400 / 12, "years": 365 * 86400}
TLS_PROTOCOLS = ("amqp/ssl", "https")  # the listeners with a certificate: amqps, and the API's https
_INTEGER = re.compile(r"[+-]?[0-9]+")


def certificate_expiration(call: Call) -> Response:
    """503 when a TLS listener's certificate or CA file holds a certificate whose notAfter comes
    before now + within, as RabbitMQ 3.10.8's check answers (checked on it with a trustme
    certificate valid for 10 days)."""
    within, unit = call.params["within"], call.params["unit"].lower()
    if not (within.isascii() and _INTEGER.fullmatch(within)):
        raise bad_request("Invalid expiration value.")
    if unit not in EXPIRY_UNITS:
        raise bad_request("Time unit not recognised. Supported units: days, weeks, months, years.")
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        deadline = now + datetime.timedelta(seconds=int(within) * EXPIRY_UNITS[unit])
    except OverflowError:  # beyond year 9999 either way
        deadline = (datetime.datetime.max if int(within) > 0 else datetime.datetime.min).replace(tzinfo=now.tzinfo)
    settings = call.node.settings
    expiring = []
    for listener in call.listeners:
        if listener.protocol not in TLS_PROTOCOLS:
            continue
        certfile, cacertfile = _expiring(settings.tls_cert, deadline), _expiring(settings.tls_ca, deadline)
        if certfile or cacertfile:
            expiring.append({"cacertfile": settings.tls_ca, "cacertfile_expires_on": cacertfile,
                             "certfile": settings.tls_cert, "certfile_expires_on": certfile,
                             "interface": listener.host, "node": call.node.name, "port": listener.port,
                             "protocol": listener.protocol})
    if expiring:
        return failed(call, "Certificates expiring", expired=expiring)
    return ok(call)


def _expiring(path: str | None, deadline: datetime.datetime) -> list[str]:
    """The notAfter of each certificate in the file that comes before the deadline, in RabbitMQ's
    form ("2026-12-13 15:19:06", the hour unpadded), or what makes the file unreadable."""
    if path is None:
        return []
    try:
        found = validities(path)
    except CertificateError as exc:
        return [str(exc)]
    now = datetime.datetime.now(datetime.timezone.utc)
    return ["Certificate is not yet valid" if item.not_before > now else
            f"{item.not_after:%Y-%m-%d} {item.not_after.hour}:{item.not_after:%M:%S}"
            for item in found if item.not_before > now or item.not_after < deadline]


ENDPOINTS = [
    Endpoint("/api/aliveness-test/{vhost}", "GET", Need.VHOST, aliveness),
    Endpoint("/api/healthchecks/node", "GET", Need.MANAGEMENT, node_check),
    Endpoint("/api/healthchecks/node/{node}", "GET", Need.MANAGEMENT, node_check),
    Endpoint("/api/health/checks/alarms", "GET", Need.MANAGEMENT, alarms),
    Endpoint("/api/health/checks/local-alarms", "GET", Need.MANAGEMENT, local_alarms),
    Endpoint("/api/health/checks/virtual-hosts", "GET", Need.MANAGEMENT, virtual_hosts),
    Endpoint("/api/health/checks/port-listener/{port}", "GET", Need.MANAGEMENT, port_listener),
    Endpoint("/api/health/checks/protocol-listener/{protocol}", "GET", Need.MANAGEMENT, protocol_listener),
    Endpoint("/api/health/checks/node-is-quorum-critical", "GET", Need.MANAGEMENT, single_node),
    Endpoint("/api/health/checks/node-is-mirror-sync-critical", "GET", Need.MANAGEMENT, single_node),
    Endpoint("/api/health/checks/certificate-expiration/{within}/{unit}", "GET", Need.MANAGEMENT,
             certificate_expiration),
    Endpoint("/api/feature-flags", "GET", Need.ADMIN, feature_flags),
    Endpoint("/api/feature-flags/{name}/enable", "PUT", Need.ADMIN, enable_feature_flag),
]
