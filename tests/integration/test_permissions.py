"""Permissions between vhosts: a user opens only the vhosts it has a permission on.

RabbitMQ 3.10.8 (checked with `rabbitmqctl add_user` and no set_permissions) answers
Connection.Open of an existing vhost the user has no permission on with Connection.Close
530 "NOT_ALLOWED - access to vhost '/' refused for user 'NAME'", class 10, method 40; a
vhost that does not exist is still "vhost X not found", whoever asks.
"""

from __future__ import annotations

from urllib.parse import quote

import pika
import pytest
from pamqp import commands

from amqpd.broker.node import Node
from amqpd.settings import Settings
from tests.support.frames import declare
from tests.support.raw import RawClient


def refused_text(vhost: str, user: str) -> str:
    return f"NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'"


def pika_connect(broker, vhost: str, user: str, password: str) -> pika.BlockingConnection:
    url = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{broker.port}/{quote(vhost, safe='')}"
    return pika.BlockingConnection(pika.URLParameters(url))


def open_refused(port: int, user: str, password: str, vhost: str, *then: object) -> commands.Connection.Close:
    """The Connection.Close a raw client gets for Connection.Open of `vhost`; the frames `then`
    are sent on channel 1 after it (before Close-Ok), as a client that ignores the refusal would."""
    with RawClient(port) as raw:
        raw.send_bytes(b"AMQP\x00\x00\x09\x01")
        raw.expect(commands.Connection.Start, 0)
        raw.send(0, commands.Connection.StartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN", response=f"\0{user}\0{password}", locale="en_US"))
        tune = raw.expect(commands.Connection.Tune, 0)
        raw.send(0, commands.Connection.TuneOk(channel_max=tune.channel_max, frame_max=tune.frame_max, heartbeat=0))
        raw.send(0, commands.Connection.Open(virtual_host=vhost))
        close = raw.expect(commands.Connection.Close, 0)
        for method in then:
            raw.send(1, method)
        raw.send(0, commands.Connection.CloseOk())
        assert raw.read_until_closed() == b""
        return close


@pytest.fixture
def two_teams(broker_factory):
    """Vhosts 'a' and 'b:2'; app may use 'a' only, ops 'b:2' only; guest filled a queue in each."""
    broker = broker_factory(vhosts=["a", "b:2"], users={"app": "app-pw", "ops": "ops-pw"},
                            permissions={"app": ["a"], "ops": ["b:2"]})
    for vhost in ("a", "b:2"):
        conn = pika_connect(broker, vhost, "guest", "guest")
        ch = conn.channel()
        ch.queue_declare("jobs")
        ch.basic_publish("", "jobs", f"job in {vhost}".encode())
        conn.close()
    return broker


def test_user_opens_its_vhost_and_is_refused_others_with_530(two_teams):
    """app opens 'a' and works in it; Connection.Open of 'b:2' or '/' is refused with RabbitMQ's exact Close."""
    conn = pika_connect(two_teams, "a", "app", "app-pw")
    ch = conn.channel()
    assert ch.basic_get("jobs", auto_ack=True)[2] == b"job in a"
    conn.close()
    for vhost in ("b:2", "/"):
        close = open_refused(two_teams.port, "app", "app-pw", vhost)
        assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (
            530, refused_text(vhost, "app"), 10, 40)
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        pika_connect(two_teams, "b:2", "app", "app-pw")
    assert f"(530) \"{refused_text('b:2', 'app')}\"" in str(info.value)


def test_refused_users_leave_the_other_vhosts_queues_alone(two_teams):
    """ops on 'a' and app on 'b:2' are refused, and what they send after the refusal (open a
    channel, purge and delete the queue) is ignored: both queues keep their message."""
    for user, password, vhost in (("ops", "ops-pw", "a"), ("app", "app-pw", "b:2")):
        close = open_refused(two_teams.port, user, password, vhost, commands.Channel.Open(),
                             commands.Queue.Purge(queue="jobs"), commands.Queue.Delete(queue="jobs"))
        assert (close.reply_code, close.reply_text) == (530, refused_text(vhost, user))
    for vhost in ("a", "b:2"):
        conn = pika_connect(two_teams, vhost, "guest", "guest")
        assert conn.channel().queue_declare("jobs", passive=True).method.message_count == 1
        conn.close()


def test_unknown_vhost_is_not_found_before_permissions_are_checked(two_teams):
    """A vhost that does not exist is 'not found' (not 'refused') for a user without permissions too."""
    close = open_refused(two_teams.port, "app", "app-pw", "nowhere")
    assert (close.reply_code, close.reply_text) == (530, "NOT_ALLOWED - vhost nowhere not found")


def test_user_without_any_permission_opens_nothing(broker_factory):
    """A user given by --user alone may log in but open no vhost, not even the default one."""
    broker = broker_factory(users={"nobody": "pw"})
    close = open_refused(broker.port, "nobody", "pw", "/")
    assert (close.reply_code, close.reply_text) == (530, refused_text("/", "nobody"))


def test_default_user_may_use_every_vhost_created_at_start(broker_factory):
    """The default user gets full rights on the default vhost and the --vhost extras."""
    broker = broker_factory(default_user="admin", default_pass="pw", default_vhost="main", vhosts=["x", "y"])
    for vhost in ("main", "x", "y"):
        with RawClient(broker.port) as raw:
            raw.handshake("admin", "pw", vhost)
            raw.open_channel(1)
            assert declare(raw, "q").queue == "q"


def test_permission_table_models_rabbitmqs_triple():
    """Each (user, vhost) entry is a configure / write / read regex triple; the default user's is '.*' thrice."""
    node = Node(Settings(vhosts=["v"], users={"app": "pw"}, permissions={"app": ["v"]}))
    for vhost in ("/", "v"):
        entry = node.permissions.get("guest", vhost)
        assert (entry.configure, entry.write, entry.read) == (".*", ".*", ".*")
    assert node.permissions.get("app", "v") == node.permissions.get("guest", "v")
    assert node.permissions.get("app", "/") is None
