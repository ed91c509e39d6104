"""What a connection's user may do in its vhost: RabbitMQ's resource and topic checks.

Every declare, delete, bind, consume, get and purge asks ``check``; a publish looks its
exchange up in ``published`` and asks ``check_publish`` only when it is not there (the decisions
are kept per exchange name and dropped when any permission changes, so the per-message cost is
a dict lookup) and, on a topic exchange the user has a topic
permission for, ``check_topic``. A refusal is RabbitMQ's channel error 403 ACCESS_REFUSED.
"""

from __future__ import annotations

from amqpd.auth import Access, TopicRule
from amqpd.broker import Exchange, Node
from amqpd.protocol import ChannelError, errors

DEFAULT_EXCHANGE = "amq.default"  # the name "" goes by in permission checks, as in RabbitMQ
IMPERSONATOR = "impersonator"  # the tag that lets a user publish with another user's user_id


class AccessControl:
    """One connection's user on its vhost (fixed at Connection.Open, as in RabbitMQ)."""

    def __init__(self, node: Node, user: str, vhost: str) -> None:
        self.user = user
        self.vhost = vhost
        record = node.users.users.get(user)
        self.impersonator = record is not None and IMPERSONATOR in record.tags
        self._permissions = node.permissions
        self._topics = node.topic_permissions
        # exchange name -> its topic rule (None: none), write granted; shared by the user's
        # connections to the vhost and emptied by the table at any permission change
        self.published: dict[str, TopicRule | None] = node.permissions.decisions(user, vhost)

    def check(self, access: Access, kind: str, name: str) -> None:
        """Refuse (403) unless the user may do `access` to the queue or exchange `name`."""
        if kind == "exchange" and not name:
            name = DEFAULT_EXCHANGE
        permission = self._permissions.get(self.user, self.vhost)
        if permission is None or not permission.allows(access, name):
            raise ChannelError(errors.ACCESS_REFUSED, f"access to {kind} '{name}' in vhost '{self.vhost}' "
                                                      f"refused for user '{self.user}'")

    def check_publish(self, exchange: str) -> TopicRule | None:
        """Refuse unless the user may write to the exchange; its topic rule, if any. The caller
        looks in ``published`` first: this runs once per exchange until a permission changes."""
        self.check(Access.WRITE, "exchange", exchange)
        rule = self.published[exchange] = self._topics.rule(self.user, self.vhost, exchange)
        return rule

    def check_topic(self, access: Access, exchange: Exchange, routing_key: str,
                    rule: TopicRule | None = None) -> None:
        """Refuse a routing key the user's topic permission on a topic exchange does not match."""
        if exchange.kind != "topic":
            return
        if rule is None:
            rule = self._topics.rule(self.user, self.vhost, exchange.name)
        if rule is not None and not rule.allows(access, routing_key):
            raise ChannelError(errors.ACCESS_REFUSED, f"access to topic '{routing_key}' in exchange "
                               f"'{exchange.name}' in vhost '{self.vhost}' refused for user '{self.user}'")
