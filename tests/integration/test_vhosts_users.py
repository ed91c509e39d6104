"""Virtual hosts and users: isolation between vhosts, extra users, guest's loopback rule and
RabbitMQ-compatible password hashes."""

from __future__ import annotations

from urllib.parse import quote

import pika
import pytest
from pamqp import commands, frame

from amqpd.broker.node import Node
from amqpd.protocol.frames import PROTOCOL_HEADER
from amqpd.session.connection import Connection
from amqpd.settings import Settings
from tests.support.blocking import refused

ACCESS_REFUSED_TEXT = ("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                       "For details see the broker logfile.")


def connect(broker, vhost: str = "/", user: str = "guest", password: str = "guest") -> pika.BlockingConnection:
    url = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{broker.port}/{quote(vhost, safe='')}"
    return pika.BlockingConnection(pika.URLParameters(url))


def test_same_queue_name_in_two_vhosts_holds_different_messages(broker_factory):
    """Queues are per vhost: 'jobs' in vhost a and 'jobs' in vhost b are different queues."""
    broker = broker_factory(vhosts=["a", "b"])
    conns = {name: connect(broker, name) for name in ("a", "b")}
    channels = {name: conn.channel() for name, conn in conns.items()}
    for name, ch in channels.items():
        ch.queue_declare("jobs")
        ch.basic_publish("", "jobs", f"for {name}".encode())
    channels["a"].basic_publish("", "jobs", b"second for a")

    assert channels["a"].queue_declare("jobs", passive=True).method.message_count == 2
    assert channels["b"].queue_declare("jobs", passive=True).method.message_count == 1
    assert channels["b"].basic_get("jobs", auto_ack=True)[2] == b"for b"
    assert channels["a"].basic_get("jobs", auto_ack=True)[2] == b"for a"
    assert channels["a"].basic_get("jobs", auto_ack=True)[2] == b"second for a"
    assert channels["b"].basic_get("jobs", auto_ack=True) == (None, None, None)

    default = connect(broker, "/").channel()
    assert refused(default.queue_declare, "jobs", passive=True) == (404, "NOT_FOUND - no queue 'jobs' in vhost '/'")
    for conn in conns.values():
        conn.close()


def test_exchanges_and_bindings_are_per_vhost(broker_factory):
    """An exchange declared in one vhost does not exist in another; its error text names the vhost."""
    broker = broker_factory(vhosts=["a", "b"])
    ch_a = connect(broker, "a").channel()
    ch_b = connect(broker, "b").channel()
    ch_a.exchange_declare("events", exchange_type="fanout")
    assert refused(ch_b.exchange_declare, "events", passive=True) == (
        404, "NOT_FOUND - no exchange 'events' in vhost 'b'")


def test_unknown_vhost_is_refused_with_530(broker_factory):
    """Connection.Open to a vhost that was not configured: 530 NOT_ALLOWED - vhost ... not found."""
    broker = broker_factory(vhosts=["a"])
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        connect(broker, "b")
    assert "(530) 'NOT_ALLOWED - vhost b not found'" in str(info.value)


def test_default_vhost_setting_replaces_slash(broker_factory):
    """default_vhost names the vhost created at start; '/' then does not exist (as RABBITMQ_DEFAULT_VHOST)."""
    broker = broker_factory(default_vhost="main")
    conn = connect(broker, "main")
    assert conn.is_open
    conn.close()
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        connect(broker, "/")
    assert "(530) 'NOT_ALLOWED - vhost / not found'" in str(info.value)


def test_extra_users_log_in_and_wrong_passwords_are_refused(broker_factory):
    """Users from settings log in with their password; a wrong one gets 403 with RabbitMQ's safe text."""
    broker = broker_factory(users={"alice": "s3cret", "bob": "pa:ss w@rd"}, vhosts=["team"],
                            permissions={"alice": ["team"], "bob": ["team"]})
    for user, password in (("alice", "s3cret"), ("bob", "pa:ss w@rd")):
        conn = connect(broker, "team", user, password)
        ch = conn.channel()
        ch.queue_declare("", exclusive=True)
        conn.close()
    for user, password in (("alice", "wrong"), ("carol", "s3cret")):
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
            connect(broker, "/", user, password)
        assert f"(403) '{ACCESS_REFUSED_TEXT}'" in str(info.value)


def test_default_user_and_password_settings(broker_factory):
    """default_user/default_pass replace guest/guest: the new user logs in, guest no longer exists."""
    broker = broker_factory(default_user="admin", default_pass="adm1n")
    conn = connect(broker, "/", "admin", "adm1n")
    assert conn.is_open
    conn.close()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(broker, "/", "guest", "guest")


def test_default_user_is_guest_and_guest_is_loopback_only():
    """The default user is guest/guest, an administrator that may only log in from a loopback address."""
    node = Node(Settings())
    guest = node.users.users["guest"]
    assert guest.tags == ["administrator"]
    assert guest.loopback_only is True
    assert node.users.authenticate("guest", "guest", from_loopback=True) is guest
    assert node.users.authenticate("guest", "guest", from_loopback=False) is None
    assert node.users.authenticate("guest", "wrong", from_loopback=True) is None
    assert node.users.authenticate("nobody", "guest", from_loopback=True) is None


def test_other_users_may_log_in_remotely_but_guest_never():
    """loopback_users is by name: extra users are not loopback-only; a user called guest always is."""
    node = Node(Settings(default_user="admin", default_pass="pw", users={"alice": "a", "guest": "g"}))
    assert node.users.authenticate("admin", "pw", from_loopback=False) is not None
    assert node.users.authenticate("alice", "a", from_loopback=False) is not None
    assert node.users.authenticate("guest", "g", from_loopback=False) is None
    assert node.users.authenticate("guest", "g", from_loopback=True) is not None


def handshake_bytes(user: str, password: str) -> bytes:
    start_ok = commands.Connection.StartOk(
        client_properties={"capabilities": {"authentication_failure_close": True}},
        mechanism="PLAIN", response=f"\0{user}\0{password}", locale="en_US")
    return PROTOCOL_HEADER + frame.marshal(start_ok, 0)


def last_frame(conn: Connection):
    """The last frame the connection queued for the client."""
    data = bytes(conn.outbox)
    value = None
    while data:
        consumed, _, value = frame.unmarshal(data)
        data = data[consumed:]
    return value


def test_guest_from_a_remote_address_is_refused_with_403():
    """guest connecting from a non-loopback peer gets Connection.Close 403 (class 0, method 0), like RabbitMQ."""
    node = Node(Settings(users={"alice": "a"}))
    remote = Connection(node, peer=("192.0.2.10", 40000))
    remote.feed(handshake_bytes("guest", "guest"))
    close = last_frame(remote)
    assert isinstance(close, commands.Connection.Close)
    assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == (403, ACCESS_REFUSED_TEXT, 0, 0)

    alice = Connection(node, peer=("192.0.2.10", 40001))
    alice.feed(handshake_bytes("alice", "a"))
    assert isinstance(last_frame(alice), commands.Connection.Tune)

    local = Connection(node, peer=("127.0.0.1", 40002))
    local.feed(handshake_bytes("guest", "guest"))
    assert isinstance(last_frame(local), commands.Connection.Tune)
