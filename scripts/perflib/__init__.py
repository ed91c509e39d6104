"""Benchmark tooling for amqpd: a compact AMQP 0-9-1 load generator and the helpers around it.

Modules:
  amqp     a hand-written asyncio AMQP client (pamqp only for the handshake and rare methods)
  hist     a log-linear latency histogram (1.6 % resolution)
  engine   scenario description, publisher / consumer worker processes, aggregation
  brokers  starting amqpd, finding a broker's PID from its port, reading RSS from /proc
  resources  a broker's RSS idle and with many connections open
  streams  stream queues: telling a stream from a queue that only took the argument, replay from first
"""
