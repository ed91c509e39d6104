"""Permissions and topic permissions over amqpctl: the lines the Java client suite and Bunny's
setup send, their effect over AMQP, and rabbitmqctl's codes for a missing user (67) or vhost (69)."""

from __future__ import annotations

import pika
import pytest

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def test_set_permissions_lets_the_user_in_and_clear_permissions_shuts_it_out(broker: BrokerThread, ctl: Ctl):
    ctl("add_vhost", "/test")
    ctl("add_user", "test", "test")
    ran = ctl("set_permissions", "-p", "/test", "test", "configure", "write", "read")
    assert (ran.code, ran.stdout) == (0, 'Setting permissions for user "test" in vhost "/test" ...\n')
    assert ctl("-q", "list_permissions", "-p", "/test").lines == ["user\tconfigure\twrite\tread",
                                                                   "test\tconfigure\twrite\tread"]
    connect(broker, user="test", password="test", vhost="/test").close()
    assert ctl("clear_permissions", "-p", "/test", "test").code == 0
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        connect(broker, user="test", password="test", vhost="/test")
    assert ctl("list_permissions", "-p", "/test").stdout == 'Listing permissions for vhost "/test" ...\n\n'


def test_list_user_permissions(ctl: Ctl):
    ran = ctl("list_user_permissions", "guest")
    assert ran.lines == ['Listing permissions for user "guest" ...', "vhost\tconfigure\twrite\tread",
                         "/\t.*\t.*\t.*"]
    missing = ctl("list_user_permissions", "nobody")
    assert (missing.code, missing.stderr) == (69, 'Error:\n{:no_such_user, "nobody"}\n')


def test_a_missing_user_is_67_and_a_missing_vhost_69(ctl: Ctl):
    user = ctl("set_permissions", "nobody", ".*", ".*", ".*")
    assert (user.code, user.stderr) == (67, "Error:\nUser nobody does not exist\n")
    vhost = ctl("set_permissions", "-p", "novh", "guest", ".*", ".*", ".*")
    assert (vhost.code, vhost.stderr) == (69, "Error:\nVirtual host novh does not exist\n")
    assert ctl("clear_permissions", "nobody").code == 67
    invalid = ctl("set_permissions", "guest", "(", ".*", ".*")
    assert invalid.code == 69
    assert invalid.stderr.startswith('Error:\n{:invalid_regexp, "(", ')  # rabbitmqctl's error term
    listing = ctl("list_permissions", "-p", "novh")
    assert (listing.code, listing.stderr) == (65, "Virtual host 'novh' does not exist\n")


def test_topic_permissions_as_the_java_client_suite_sets_them(broker: BrokerThread, ctl: Ctl):
    ran = ctl("set_topic_permissions", "-p", "/", "guest", "amq.topic", "^{username}", "^{username}")
    assert ran.stdout == 'Setting topic permissions on "amq.topic" for user "guest" in vhost "/" ...\n'
    assert ctl("-q", "list_topic_permissions").lines == ["user\texchange\twrite\tread",
                                                         "guest\tamq.topic\t^{username}\t^{username}"]
    assert ctl("-q", "list_user_topic_permissions", "guest").lines == ["/\tamq.topic\t^{username}\t^{username}"]
    conn = connect(broker)
    channel = conn.channel()
    channel.basic_publish("amq.topic", "guest.ok", b"allowed")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.basic_publish("amq.topic", "other.key", b"refused")
        channel.queue_declare("", exclusive=True)  # a round trip, so the refusal has arrived
    assert refused.value.reply_code == 403
    conn.close()
    cleared = ctl("clear_topic_permissions", "-p", "/", "guest")
    assert cleared.stdout == 'Clearing topic permissions for user "guest" in vhost "/" ...\n'
    assert ctl("list_topic_permissions").stdout == 'Listing topic permissions for vhost "/" ...\n\n'


def test_clear_topic_permissions_of_one_exchange(ctl: Ctl):
    ctl("set_topic_permissions", "guest", "amq.topic", ".*", ".*")
    ctl("set_topic_permissions", "guest", "x.topic", ".*", ".*")
    ran = ctl("clear_topic_permissions", "guest", "amq.topic")
    assert ran.stdout == 'Clearing topic permissions on "amq.topic" for user "guest" in vhost "/" ...\n'
    assert ctl("-s", "list_topic_permissions").lines == ["guest\tx.topic\t.*\t.*"]
    assert ctl("set_topic_permissions", "nobody", "amq.topic", "a", "b").code == 67
