"""Who may connect: users, passwords, permissions and SASL, taking plain values, never broker objects.

The face the layers above use: ``UserTable`` and ``PermissionTable`` (held by the node) and
the records they hold (``User``, ``Permission``, ``FULL`` rights), ``Access`` (configure / write /
read, what ``Permission.allows`` checks), ``TopicPermissionTable`` with its ``TopicPermission``
entries and compiled ``TopicRule``s, password hashing as RabbitMQ
does it (``hash_password``, ``check_password``, ``HASHING_ALGORITHM(S)``), the tags that open the
management API (``MANAGEMENT_TAGS``),
``is_loopback`` (for users limited to loopback addresses) and ``sasl`` (a mechanism's response
parsed into credentials, or the error RabbitMQ replies with).
"""

from amqpd.auth import sasl
from amqpd.auth.permissions import FULL, Access, Permission, PermissionTable
from amqpd.auth.topic_permissions import TopicPermission, TopicPermissionTable, TopicRule
from amqpd.auth.users import (HASHING_ALGORITHM, HASHING_ALGORITHMS, MANAGEMENT_TAGS, User, UserTable, check_password,
                              hash_password, is_loopback)

__all__ = ["sasl", "FULL", "Access", "Permission", "PermissionTable", "TopicPermission", "TopicPermissionTable",
           "TopicRule", "User", "UserTable", "is_loopback",
           "HASHING_ALGORITHM", "HASHING_ALGORITHMS", "MANAGEMENT_TAGS", "check_password", "hash_password"]
