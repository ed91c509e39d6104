"""Stream queues: an append-only log per stream (log.py), offsets (offsets.py), the queue type (queue.py)."""

from amqpd.broker.stream.queue import StreamQueue

__all__ = ["StreamQueue"]
