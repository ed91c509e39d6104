"""Start-up: rebuild durable exchanges, queues, bindings and queued messages from the store.

It sits in the broker, above the store: it reads the store's plain records (store/records.py)
and makes broker objects of them, so the store never needs to know those objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from amqpd.broker.exchange import EXCHANGE_TYPES
from amqpd.broker.message import reserve_ids
from amqpd.store import Recovered, decode_table

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
    for exchange in recovered.exchanges:
        cls = EXCHANGE_TYPES.get(exchange.kind)
        if cls is None:
            log.warning("skipped stored exchange of unknown type", vhost=exchange.vhost, exchange=exchange.name,
                        type=exchange.kind)
            continue
        node.add_vhost(exchange.vhost).exchanges[exchange.name] = cls(
            exchange.name, True, exchange.auto_delete, exchange.internal, decode_table(exchange.arguments))
    messages = 0
    for stored in recovered.queues:
        vhost = node.add_vhost(stored.vhost)
        queue = vhost.new_queue(stored.name, True, None, stored.auto_delete, decode_table(stored.arguments))
        queue.store_id = stored.id
        queue.restore(stored.messages)
        messages += len(stored.messages)
    bindings = 0
    for binding in recovered.bindings:
        vhost = node.vhosts.get(binding.vhost)
        source = vhost.exchanges.get(binding.source) if vhost else None
        destination = (vhost.queues if binding.to_queue else vhost.exchanges).get(binding.destination) if vhost else None
        if source is not None and destination is not None:
            source.bind(destination, binding.routing_key, decode_table(binding.arguments))
            bindings += 1
    log.info("recovered durable state", exchanges=len(recovered.exchanges), queues=len(recovered.queues),
             bindings=bindings, messages=messages)
