"""RabbitMQ's Prometheus families (rabbitmq_prometheus 3.10) over the node, rendered with
prometheus_client: one custom Collector on a private CollectorRegistry per scrape, in text
format 0.0.4. Names, types, labels and help texts are RabbitMQ's (checked against a 3.10.8
broker); the values come from the counters of broker/stats.py and the objects' own state.

Three views, as RabbitMQ's endpoints: aggregated (each family one unlabelled sum), per-object
(a sample per queue / channel / connection) and detailed (the per-object samples of the
RabbitMQ "families" asked for, named rabbitmq_detailed_*, optionally of some vhosts only).
The connections and channels are the session's objects, read through their public attributes
as the node lists them (``node.connections``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import resource
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Iterator

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from amqpd.broker import COMPATIBLE_VERSION, PRODUCT, MessageStats, Node, QueueType

STARTED = time.monotonic()  # this module is imported when the broker starts serving metrics
DISK_FREE_LIMIT = 50_000_000  # RabbitMQ's default disk_free_limit
QUEUE_TYPES = ("rabbit_classic_queue", "rabbit_quorum_queue", "rabbit_stream_queue")
PROTOCOL = "amqp091"


@dataclass(frozen=True)
class Counted:
    """A queue or channel with its message counts, read once per scrape."""

    queue: Any = None
    channel: Any = None
    stats: MessageStats | None = None


@dataclass(frozen=True)
class Family:
    """One metric family: RabbitMQ's name (without the rabbitmq_ prefix), type and help text,
    the RabbitMQ family (``/metrics/detailed?family=``) it belongs to, and its value for one
    object."""

    group: str
    name: str
    kind: str  # gauge or counter
    help: str
    value: Callable[[Any], float]


def _unconfirmed(channel: Any) -> int:
    confirms = channel.confirms
    return confirms.seq - confirms.confirmed if confirms is not None else 0


QUEUE_FAMILIES = (
    Family("queue_coarse_metrics", "queue_messages_ready", "gauge",
           "Messages ready to be delivered to consumers", lambda q: q.queue.message_count),
    Family("queue_coarse_metrics", "queue_messages_unacked", "gauge",
           "Messages delivered to consumers but not yet acknowledged", lambda q: q.queue.unacked_count),
    Family("queue_coarse_metrics", "queue_messages", "gauge",
           "Sum of ready and unacknowledged messages - total queue depth", lambda q: q.queue.message_count + q.queue.unacked_count),
    Family("queue_consumer_count", "queue_consumers", "gauge", "Consumers on a queue", lambda q: q.queue.consumer_count),
    Family("queue_metrics", "queue_consumer_capacity", "gauge", "Consumer capacity",
           lambda q: 1.0 if q.queue.consumers else 0.0),
    Family("queue_metrics", "queue_consumer_utilisation", "gauge", "Same as consumer capacity",
           lambda q: 1.0 if q.queue.consumers else 0.0),
    Family("channel_queue_exchange_metrics", "queue_messages_published_total", "counter",
           "Total number of messages published to queues", lambda q: q.stats.publish),
)
CHANNEL_FAMILIES = (
    Family("channel_metrics", "channel_consumers", "gauge", "Consumers on a channel", lambda c: len(c.channel.consumers)),
    Family("channel_metrics", "channel_messages_unacked", "gauge", "Delivered but not yet acknowledged messages",
           lambda c: len(c.channel.unacked)),
    Family("channel_metrics", "channel_messages_unconfirmed", "gauge", "Published but not yet confirmed messages",
           lambda c: _unconfirmed(c.channel)),
    Family("channel_metrics", "channel_messages_uncommitted", "gauge",
           "Messages received in a transaction but not yet committed",
           lambda c: len(c.channel.tx.publishes) if c.channel.tx is not None else 0),
    Family("channel_metrics", "channel_acks_uncommitted", "gauge",
           "Message acknowledgements in a transaction not yet committed",
           lambda c: len(c.channel.tx.settled) if c.channel.tx is not None else 0),
    Family("channel_metrics", "consumer_prefetch", "gauge", "Limit of unacknowledged messages for each consumer",
           lambda c: c.channel.prefetch),
    Family("channel_metrics", "channel_prefetch", "gauge",
           "Total limit of unacknowledged messages for all consumers on a channel", lambda c: c.channel.global_prefetch),
    Family("channel_exchange_metrics", "channel_messages_published_total", "counter",
           "Total number of messages published into an exchange on a channel", lambda c: c.stats.publish),
    Family("channel_exchange_metrics", "channel_messages_confirmed_total", "counter",
           "Total number of messages published into an exchange and confirmed on the channel",
           lambda c: c.stats.confirm),
    Family("channel_exchange_metrics", "channel_messages_unroutable_returned_total", "counter",
           "Total number of messages published as mandatory into an exchange and returned to the publisher as "
           "unroutable", lambda c: c.stats.return_unroutable),
    Family("channel_exchange_metrics", "channel_messages_unroutable_dropped_total", "counter",
           "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
           lambda c: c.stats.drop_unroutable),
    Family("channel_queue_metrics", "channel_get_ack_total", "counter",
           "Total number of messages fetched with basic.get in manual acknowledgement mode", lambda c: c.stats.get),
    Family("channel_queue_metrics", "channel_get_total", "counter",
           "Total number of messages fetched with basic.get in automatic acknowledgement mode",
           lambda c: c.stats.get_no_ack),
    Family("channel_queue_metrics", "channel_messages_delivered_ack_total", "counter",
           "Total number of messages delivered to consumers in manual acknowledgement mode",
           lambda c: c.stats.deliver),
    Family("channel_queue_metrics", "channel_messages_delivered_total", "counter",
           "Total number of messages delivered to consumers in automatic acknowledgement mode",
           lambda c: c.stats.deliver_no_ack),
    Family("channel_queue_metrics", "channel_messages_redelivered_total", "counter",
           "Total number of messages redelivered to consumers", lambda c: c.stats.redeliver),
    Family("channel_queue_metrics", "channel_messages_acked_total", "counter",
           "Total number of messages acknowledged by consumers", lambda c: c.stats.ack),
    Family("channel_queue_metrics", "channel_get_empty_total", "counter",
           "Total number of times basic.get operations fetched no message", lambda c: c.stats.get_empty),
)
CONNECTION_FAMILIES = (
    Family("connection_coarse_metrics", "connection_incoming_bytes_total", "counter",
           "Total number of bytes received on a connection", lambda c: c.recv_oct),
    Family("connection_coarse_metrics", "connection_outgoing_bytes_total", "counter",
           "Total number of bytes sent on a connection", lambda c: c.send_oct),
    Family("connection_metrics", "connection_incoming_packets_total", "counter",
           "Total number of packets received on a connection", lambda c: c.recv_cnt),
    Family("connection_metrics", "connection_outgoing_packets_total", "counter",
           "Total number of packets sent on a connection", lambda c: c.send_cnt),
    Family("connection_metrics", "connection_pending_packets", "gauge",
           "Number of packets waiting to be sent on a connection", lambda c: 0),
    Family("connection_metrics", "connection_channels", "gauge", "Channels on a connection",
           lambda c: len(c.channels)),
)
CHURN_FAMILIES = (  # (name, help, Churn field)
    ("connections_opened_total", "Total number of connections opened", "connection_created"),
    ("connections_closed_total", "Total number of connections closed or terminated", "connection_closed"),
    ("channels_opened_total", "Total number of channels opened", "channel_created"),
    ("channels_closed_total", "Total number of channels closed", "channel_closed"),
    ("queues_declared_total", "Total number of queues declared", "queue_declared"),
    ("queues_created_total", "Total number of queues created", "queue_created"),
    ("queues_deleted_total", "Total number of queues deleted", "queue_deleted"),
)
# rabbit_global_counters: the node's totals by protocol, the delivery side also by queue type
GLOBAL_PUBLISH = (
    ("messages_received_total", "Total number of messages received from publishers", lambda s: s.publish),
    ("messages_confirmed_total", "Total number of messages confirmed to publishers", lambda s: s.confirm),
    ("messages_routed_total", "Total number of messages routed to queues or streams",
     lambda s: s.publish - s.drop_unroutable - s.return_unroutable),
    ("messages_unroutable_dropped_total",
     "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
     lambda s: s.drop_unroutable),
    ("messages_unroutable_returned_total",
     "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
     lambda s: s.return_unroutable),
)
GLOBAL_DELIVERY = (
    ("messages_delivered_total", "Total number of messages delivered to consumers", lambda s: s.deliver_get),
    ("messages_delivered_consume_auto_ack_total",
     "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
     lambda s: s.deliver_no_ack),
    ("messages_delivered_consume_manual_ack_total",
     "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
     lambda s: s.deliver),
    ("messages_delivered_get_auto_ack_total",
     "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
     lambda s: s.get_no_ack),
    ("messages_delivered_get_manual_ack_total",
     "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
     lambda s: s.get),
    ("messages_get_empty_total", "Total number of times basic.get operations fetched no message",
     lambda s: s.get_empty),
    ("messages_redelivered_total", "Total number of messages redelivered to consumers", lambda s: s.redeliver),
    ("messages_acknowledged_total", "Total number of messages acknowledged by consumers", lambda s: s.ack),
)
DETAILED_GROUPS = frozenset(f.group for f in (*QUEUE_FAMILIES, *CHANNEL_FAMILIES, *CONNECTION_FAMILIES)) | {
    "connection_churn_metrics", "node_coarse_metrics"}


def _family(kind: str, name: str, doc: str, labels: Iterable[str] = ()) -> Metric:
    if kind == "counter":
        return CounterMetricFamily(name, doc, labels=list(labels))
    if kind == "gauge":
        return GaugeMetricFamily(name, doc, labels=list(labels))
    return Metric(name, doc, "unknown")  # printed as RabbitMQ's "untyped"


def _gauge(name: str, doc: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _pid(connection: Any, channel: int = 0) -> str:
    """An Erlang-pid-like label for a connection or channel (RabbitMQ's label is the process id)."""
    return f"<0.{connection.id}.{channel}>"


def cluster_id(node: Node) -> str:
    """A stable stand-in for RabbitMQ's rabbitmq_cluster_permanent_id (made from the node name)."""
    digest = hashlib.sha256(node.name.encode()).digest()[:16]
    return "rabbitmq-cluster-id-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class NodeCollector(Collector):
    """Every family of one endpoint, read from the node at scrape time."""

    def __init__(self, node: Node, alarms: Collection[str], endpoint: str, groups: Collection[str] | None = None,
                 vhosts: Collection[str] | None = None) -> None:
        """endpoint: aggregated, per-object or detailed; groups/vhosts: detailed's family= and vhost=."""
        self.node = node
        self.alarms = alarms
        self.endpoint = endpoint
        self.per_object = endpoint != "aggregated"
        self.prefix = "rabbitmq_detailed_" if endpoint == "detailed" else "rabbitmq_"
        self.groups = groups
        self.vhosts = vhosts

    def _wanted(self, group: str) -> bool:
        return self.groups is None or group in self.groups

    def collect(self) -> Iterator[Metric]:
        node = self.node
        yield from self._info()
        if self.endpoint != "detailed":
            yield from self._node()
            yield from self._global()
        elif self._wanted("node_coarse_metrics"):
            yield from self._node_coarse()
        if self._wanted("connection_churn_metrics"):
            churn = node.churn()
            for name, doc, field in CHURN_FAMILIES:
                family = _family("counter", self.prefix + name, doc)
                family.add_metric([], getattr(churn, field))
                yield family
        in_scope = [v for name, v in node.vhosts.items() if self.vhosts is None or name in self.vhosts]
        queues = [q for v in in_scope for q in v.queues.values()]
        connections = [c for c in node.connections if c.vhost in in_scope]
        channels = [(c, ch) for c in connections for ch in c.channels.values()]
        yield from self._objects(QUEUE_FAMILIES, ("vhost", "queue"),
                                 [((q.vhost_name, q.name), Counted(queue=q, stats=q.message_stats())) for q in queues])
        yield from self._objects(CHANNEL_FAMILIES, ("channel",), [
            ((_pid(c, ch.number),), Counted(channel=ch, stats=ch.message_stats())) for c, ch in channels])
        yield from self._objects(CONNECTION_FAMILIES, ("channel",), [((_pid(c),), c) for c in connections])
        if self.endpoint == "per-object":
            info = _family("gauge", "rabbitmq_queue_info", "A metric with a constant '1' value and labels that "
                           "provide some queue details", ("vhost", "queue", "queue_type", "membership"))
            for q in queues:
                info.add_metric([q.vhost_name, q.name, f"rabbit_{q.kind}_queue", "leader"], 1)
            yield info
        if self.endpoint != "detailed":
            yield from self._totals(queues, connections, channels)

    def _info(self) -> Iterator[Metric]:
        node = self.node
        build = _family("untyped", "rabbitmq_build_info", "RabbitMQ & Erlang/OTP version info")
        build.add_sample("rabbitmq_build_info", {
            "rabbitmq_version": COMPATIBLE_VERSION, "prometheus_plugin_version": COMPATIBLE_VERSION,
            "prometheus_client_version": prometheus_client_version(), "erlang_version": platform.python_version(),
            "product_name": PRODUCT, "product_version": COMPATIBLE_VERSION}, 1)
        yield build
        identity = _family("untyped", "rabbitmq_identity_info", "RabbitMQ node & cluster identity info")
        identity.add_sample("rabbitmq_identity_info", {
            "rabbitmq_node": node.name, "rabbitmq_cluster": node.cluster_name,
            "rabbitmq_cluster_permanent_id": cluster_id(node), "rabbitmq_endpoint": self.endpoint}, 1)
        yield identity

    def _node_coarse(self) -> Iterator[Metric]:
        p = self.prefix
        yield _gauge(p + "process_open_fds", "Open file descriptors", _open_fds())
        yield _gauge(p + "process_resident_memory_bytes", "Memory used in bytes", _rss())
        yield _gauge(p + "disk_space_available_bytes", "Disk space available in bytes", self._disk_free())

    def _disk_free(self) -> int:
        try:
            return shutil.disk_usage(self.node.settings.data_dir).free
        except OSError:
            return 0

    def _node(self) -> Iterator[Metric]:
        alarms = self.alarms
        for name, doc, alarm in () if self.per_object else (  # RabbitMQ's per-object endpoint has none
                ("alarms_file_descriptor_limit", "is 1 if file descriptor limit alarm is in effect", "fd"),
                ("alarms_free_disk_space_watermark", "is 1 if free disk space watermark alarm is in effect", "disk"),
                ("alarms_memory_used_watermark", "is 1 if VM memory watermark alarm is in effect", "memory")):
            family = _family("untyped", "rabbitmq_" + name, doc)
            family.add_sample("rabbitmq_" + name, {}, 1 if alarm in alarms else 0)
            yield family
        yield from self._node_coarse()
        yield _gauge("rabbitmq_process_max_fds", "Open file descriptors limit",
                     resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        yield _gauge("rabbitmq_resident_memory_limit_bytes", "Memory high watermark in bytes",
                     self.node.settings.memory_limit)
        yield _gauge("rabbitmq_disk_space_available_limit_bytes", "Free disk space low watermark in bytes",
                     DISK_FREE_LIMIT)
        yield _gauge("rabbitmq_erlang_uptime_seconds", "Node uptime", round(time.monotonic() - STARTED, 3))

    def _global(self) -> Iterator[Metric]:
        node = self.node
        stats = node.message_stats()
        received_confirm = _family("counter", "rabbitmq_global_messages_received_confirm_total",
                                   "Total number of messages received from publishers expecting confirmations",
                                   ("protocol",))
        # confirmed so far plus those awaiting their confirm
        pending = sum(_unconfirmed(ch) for c in node.connections for ch in c.channels.values())
        received_confirm.add_metric([PROTOCOL], stats.confirm + pending)
        yield received_confirm
        for name, doc, value in GLOBAL_PUBLISH:
            family = _family("counter", "rabbitmq_global_" + name, doc, ("protocol",))
            family.add_metric([PROTOCOL], value(stats))
            yield family
        by_type = node.queue_stats_by_type()
        empty = MessageStats()
        for name, doc, value in GLOBAL_DELIVERY:
            family = _family("counter", "rabbitmq_global_" + name, doc, ("protocol", "queue_type"))
            # quorum and stream from their queues' counts; classic the rest of the channels' total
            quorum = value(by_type.get("quorum", empty))
            stream = value(by_type.get("stream", empty))
            for queue_type, counted in zip(QUEUE_TYPES, (max(value(stats) - quorum - stream, 0), quorum, stream)):
                family.add_metric([PROTOCOL, queue_type], counted)
            yield family
        channels = [ch for c in node.connections for ch in c.channels.values()]
        publishers = _family("gauge", "rabbitmq_global_publishers", "Current number of publishers", ("protocol",))
        publishers.add_metric([PROTOCOL], sum(1 for ch in channels if ch.stats.publish))
        yield publishers
        consumers = _family("gauge", "rabbitmq_global_consumers", "Current number of consumers", ("protocol",))
        consumers.add_metric([PROTOCOL], sum(len(ch.consumers) for ch in channels))
        yield consumers

    def _objects(self, families: tuple[Family, ...], labels: tuple[str, ...],
                 objects: list[tuple[tuple[str, ...], Any]]) -> Iterator[Metric]:
        """One family per definition: a sample per object (per-object, detailed) or their sum."""
        for definition in families:
            if not self._wanted(definition.group):
                continue
            if self.per_object:
                family = _family(definition.kind, self.prefix + definition.name, definition.help, labels)
                for label_values, item in objects:
                    family.add_metric(list(label_values), definition.value(item))
            else:
                family = _family(definition.kind, self.prefix + definition.name, definition.help)
                family.add_metric([], sum(definition.value(item) for _, item in objects))
            yield family

    def _totals(self, queues: list[QueueType], connections: list[Any], channels: list[Any]) -> Iterator[Metric]:
        yield _gauge("rabbitmq_connections", "Connections currently open", len(connections))
        yield _gauge("rabbitmq_channels", "Channels currently open", len(channels))
        yield _gauge("rabbitmq_consumers", "Consumers currently connected", sum(q.consumer_count for q in queues))
        yield _gauge("rabbitmq_queues", "Queues available", len(queues))


def prometheus_client_version() -> str:
    from importlib.metadata import version
    try:
        return version("prometheus-client")
    except Exception:
        return getattr(prometheus_client, "__version__", "")


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def render(node: Node, alarms: Collection[str], endpoint: str, groups: Collection[str] | None = None,
           vhosts: Collection[str] | None = None) -> bytes:
    """One scrape of an endpoint in text format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node, alarms, endpoint, groups, vhosts))
    return generate_latest(registry)

