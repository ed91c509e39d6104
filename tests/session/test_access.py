"""session/access.py: a publish's write check is made once per exchange name and made again
after any permission change (counted through Permission.allows, not timed)."""

from __future__ import annotations

import pytest

from amqpd.auth import Access, Permission, TopicPermission
from amqpd.broker.node import Node
from amqpd.protocol import ChannelError
from amqpd.session.access import AccessControl
from amqpd.settings import Settings


@pytest.fixture
def counted(monkeypatch) -> list[tuple[Access, str]]:
    calls: list[tuple[Access, str]] = []
    real = Permission.allows

    def allows(self: Permission, access: Access, name: str) -> bool:
        calls.append((access, name))
        return real(self, access, name)

    monkeypatch.setattr(Permission, "allows", allows)
    return calls


def test_publish_decisions_are_cached_per_exchange_until_a_permission_changes(counted):
    node = Node(Settings())
    access = AccessControl(node, "guest", "/")
    for _ in range(1000):
        for exchange in ("amq.direct", ""):
            if exchange not in access.published:  # as publishing.publish does
                access.check_publish(exchange)
    assert counted == [(Access.WRITE, "amq.direct"), (Access.WRITE, "amq.default")]
    node.set_permission("guest", "/", Permission(write="^amq\\.default$"))
    assert access.published == {}
    access.check_publish("")
    with pytest.raises(ChannelError) as info:
        access.check_publish("amq.direct")
    assert info.value.text == ("ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' "
                               "refused for user 'guest'")


def test_a_topic_permission_change_drops_the_cached_rule():
    node = Node(Settings())
    access = AccessControl(node, "guest", "/")
    assert access.check_publish("amq.topic") is None
    node.set_topic_permission("guest", "/", TopicPermission("amq.topic", write="^a"))
    assert access.published == {}
    rule = access.check_publish("amq.topic")
    assert rule is not None and not rule.allows(Access.WRITE, "b")
