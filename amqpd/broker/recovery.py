"""Start-up: rebuild durable exchanges, queues, bindings and queued messages from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from amqpd.broker.exchange import EXCHANGE_TYPES
from amqpd.broker.message import reserve_ids
from amqpd.store.sqlite import Recovered
from amqpd.store.writer import decode_table

if TYPE_CHECKING:
    from amqpd.broker.node import Node

log = structlog.get_logger("amqpd.recovery")


def restore(node: "Node", recovered: Recovered) -> None:
    """Put the recovered state into the node without writing it back to the store.

    Messages stay on disk as ids until their queue reaches them; those that had been delivered
    before the restart come back marked redelivered.
    """
    for problem in recovered.problems:
        log.warning("store damaged; recovered every intact record", problem=problem)
    reserve_ids(recovered.next_message_id)
    for vhost_name, name, kind, auto_delete, internal, args in recovered.exchanges:
        cls = EXCHANGE_TYPES.get(kind)
        if cls is None:
            log.warning("skipped stored exchange of unknown type", vhost=vhost_name, exchange=name, type=kind)
            continue
        node.add_vhost(vhost_name).exchanges[name] = cls(name, True, auto_delete, internal, decode_table(args))
    messages = 0
    for stored in recovered.queues:
        vhost = node.add_vhost(stored.vhost)
        queue = vhost.new_queue(stored.name, True, None, stored.auto_delete, decode_table(stored.arguments))
        queue.store_id = stored.id
        queue.restore(stored.messages)
        messages += len(stored.messages)
    bindings = 0
    for vhost_name, source_name, to_queue, destination_name, routing_key, args in recovered.bindings:
        vhost = node.vhosts[vhost_name] if vhost_name in node.vhosts else None
        source = vhost.exchanges.get(source_name) if vhost else None
        destination = (vhost.queues if to_queue else vhost.exchanges).get(destination_name) if vhost else None
        if source is not None and destination is not None:
            source.bind(destination, routing_key, decode_table(args))
            bindings += 1
    log.info("recovered durable state", exchanges=len(recovered.exchanges), queues=len(recovered.queues),
             bindings=bindings, messages=messages)
