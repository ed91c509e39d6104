"""Durability: durable topology and persistent messages, behind one small interface.

The face the broker and the command use: ``Store`` (named operations taking plain values;
``Store.open`` raises ``StoreError``), ``Recovered`` (the plain records read back at start-up),
``RecoveredAccess`` (what the management API stored: users, vhosts, permissions, parameters)
and ``decode_table``, which turns the argument-table bytes those records carry back into a dict.
"""

from amqpd.store.records import Recovered, RecoveredAccess
from amqpd.store.sqlite import StoreError
from amqpd.store.writer import Store, decode_table

__all__ = ["Store", "StoreError", "Recovered", "RecoveredAccess", "decode_table"]
