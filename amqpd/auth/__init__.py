"""Who may connect: users, passwords, permissions and SASL, taking plain values, never broker objects.

The face the layers above use: ``UserTable`` and ``PermissionTable`` (held by the node),
``is_loopback`` (for users limited to loopback addresses) and ``sasl`` (a mechanism's response
parsed into credentials, or the error RabbitMQ replies with).
"""

from amqpd.auth import sasl
from amqpd.auth.permissions import PermissionTable
from amqpd.auth.users import UserTable, is_loopback

__all__ = ["sasl", "PermissionTable", "UserTable", "is_loopback"]
