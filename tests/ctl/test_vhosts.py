"""Virtual hosts over amqpctl: add_vhost idempotent with its metadata options, delete_vhost,
list_vhosts columns and the vhost limits."""

from __future__ import annotations

import httpx
import pika
import pytest

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def test_add_vhost_with_metadata_and_again(broker: BrokerThread, ctl: Ctl):
    ran = ctl("add_vhost", "bunny_dqt_quorum", "--description", "d e", "--tags", "a,b",
              "--default-queue-type", "quorum")
    assert (ran.code, ran.stdout) == (0, 'Adding vhost "bunny_dqt_quorum" ...\n')
    assert ctl("add_vhost", "bunny_dqt_quorum").code == 0  # idempotent, as RabbitMQ's
    vhost = httpx.get(f"{broker.api}/api/vhosts/bunny_dqt_quorum", auth=("guest", "guest")).json()
    assert (vhost["description"], vhost["tags"], vhost["default_queue_type"]) == ("d e", ["a", "b"], "quorum")
    listed = ctl("-q", "list_vhosts", "name", "tags", "default_queue_type", "tracing")
    assert listed.lines == ["name\ttags\tdefault_queue_type\ttracing", "/\t[]\tundefined\tfalse",
                            "bunny_dqt_quorum\ta,b\tquorum\tfalse"]


def test_a_vhost_made_by_amqpctl_grants_no_permission(ctl: Ctl):
    """rabbitmqctl add_vhost grants none; the operator of the control socket is no user."""
    ctl("add_vhost", "bare")
    assert ctl("list_permissions", "-p", "bare").stdout == 'Listing permissions for vhost "bare" ...\n\n'


def test_delete_vhost_closes_its_connections_and_a_missing_one_is_65(broker: BrokerThread, ctl: Ctl):
    ctl("add_vhost", "gone")
    ctl("set_permissions", "-p", "gone", "guest", ".*", ".*", ".*")
    conn = connect(broker, vhost="gone")
    assert ctl("delete_vhost", "gone").stdout == 'Deleting vhost "gone" ...\n'
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        conn.process_data_events(time_limit=5)
    assert closed.value.reply_code == 320
    missing = ctl("delete_vhost", "gone")
    assert (missing.code, missing.stderr) == (65, "Virtual host 'gone' does not exist\n")


def test_vhost_limits(ctl: Ctl):
    ctl("add_vhost", "lim")
    ran = ctl("set_vhost_limits", "-p", "lim", '{"max-connections":10,"max-queues":3}')
    assert ran.stdout == 'Setting vhost limits to "{"max-connections":10,"max-queues":3}" for vhost "lim" ...\n'
    assert ctl("list_vhost_limits", "-p", "lim").lines == ['Listing limits for vhost "lim" ...',
                                                          '{"max-connections":10,"max-queues":3}']
    assert ctl("-q", "list_vhost_limits", "--global").lines == ["vhost\tlimits",
                                                                'lim\t{"max-connections":10,"max-queues":3}']
    assert ctl("clear_vhost_limits", "-p", "lim").stdout == 'Clearing vhost "lim" limits ...\n'
    assert ctl("-q", "list_vhost_limits", "-p", "lim").stdout == "\n"
    nothing = ctl("clear_vhost_limits", "-p", "lim")  # none set: rabbitmqctl's 69
    assert (nothing.code, nothing.stderr) == (69, "Error:\nParameter does not exist\n")
    for verb in (["list_vhost_limits"], ["set_vhost_limits", '{"max-queues":1}']):
        missing = ctl(*verb, "-p", "novh")
        assert (missing.code, missing.stderr) == (65, "Virtual host 'novh' does not exist\n")
    bad = ctl("set_vhost_limits", "-p", "lim", "{bad")
    assert (bad.code, bad.stderr) == (69, "Error:\nJSON decoding error. Reason: badarg\n")
