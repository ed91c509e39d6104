"""Policies, operator policies, parameters and the cluster name over amqpctl: the Java client
suite's set_policy line, bad JSON, RabbitMQ's validation errors, the effect on a queue."""

from __future__ import annotations

import httpx

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def test_set_policy_as_the_java_client_suite_sends_it_applies_to_queues(broker: BrokerThread, ctl: Ctl):
    ran = ctl("set_policy", "--priority", "1", "ml", "^ctl\\.", '{"max-length":1}', "--apply-to", "queues")
    assert ran.stdout == ('Setting policy "ml" for pattern "^ctl\\." to "{"max-length":1}" with priority "1" '
                          'for vhost "/" ...\n')
    conn = connect(broker)
    channel = conn.channel()
    channel.queue_declare("ctl.q")
    for body in (b"1", b"2"):
        channel.basic_publish("", "ctl.q", body)
    assert channel.queue_declare("ctl.q", passive=True).method.message_count == 1
    conn.close()
    assert ctl("list_policies").lines == ['Listing policies for vhost "/" ...',
                                          "vhost\tname\tpattern\tapply-to\tdefinition\tpriority",
                                          '/\tml\t^ctl\\.\tqueues\t{"max-length":1}\t1']
    assert ctl("list_policies", "--formatter", "json").stdout == (
        '[\n{"vhost":"/","name":"ml","pattern":"^ctl\\\\.","apply-to":"queues",'
        '"definition":"{\\"max-length\\":1}","priority":1}\n]\n')
    assert ctl("clear_policy", "ml").stdout == 'Clearing policy "ml" on vhost "/" ...\n'
    assert ctl("list_policies").stdout == 'Listing policies for vhost "/" ...\n\n'


def test_bad_json_and_a_refused_definition_are_69(ctl: Ctl):
    bad = ctl("set_policy", "p", "^a", "{bad")
    assert (bad.code, bad.stderr) == (69, "Error:\nJSON decoding error. Reason: badarg\n")
    refused = ctl("set_policy", "p", "^a", '{"foo":1}')
    assert refused.code == 69
    assert refused.stderr == 'Error:\nValidation failed\n\n[{<<"foo">>,1}] are not recognised policy settings\n\n'
    missing = ctl("clear_policy", "nope")
    assert (missing.code, missing.stderr) == (69, "Error:\nParameter does not exist\n")


def test_operator_policies(ctl: Ctl):
    ran = ctl("set_operator_policy", "op", "^x", '{"max-length":7}')
    assert ran.stdout == ('Setting operator policy override "op" for pattern "^x" to "{"max-length":7}" '
                          'with priority "0" for vhost "/" ...\n')
    assert ctl("-s", "list_operator_policies").lines == ['/\top\t^x\tall\t{"max-length":7}\t0']
    assert ctl("clear_operator_policy", "op").stdout == 'Clearing operator policy "op" on vhost "/" ...\n'


def test_parameters_global_parameters_and_the_cluster_name(broker: BrokerThread, ctl: Ctl):
    refused = ctl("set_parameter", "shovel", "s1", "{}")
    assert refused.code == 69
    assert refused.stderr == "Error:\nValidation failed\n\ncomponent shovel not found\n\n"
    assert ctl("list_parameters").stdout == 'Listing runtime parameters for vhost "/" ...\n\n'
    assert ctl("set_global_parameter", "g1", '{"a":1}').stdout == 'Setting global runtime parameter "g1" to "{"a":1}" ...\n'
    assert ctl("set_cluster_name", "ctl-cluster").stdout == "Setting cluster name to ctl-cluster ...\n"
    assert ctl("-q", "list_global_parameters").lines == ["name\tvalue", 'cluster_name\t"ctl-cluster"',
                                                         'g1\t{"a":1}']
    assert httpx.get(f"{broker.api}/api/cluster-name", auth=("guest", "guest")).json() == {"name": "ctl-cluster"}
    assert ctl("clear_global_parameter", "g1").code == 0
    assert ctl("clear_global_parameter", "g1").code == 69
