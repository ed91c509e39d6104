"""rabbitmq-plugins' verbs: amqpctl plugins, and amqpctl invoked as rabbitmq-plugins (a symlink),
as Bunny's setup (BUNNY_RABBITMQ_PLUGINS) and Dockerfiles run it."""

from __future__ import annotations

import os

from tests.ctl.conftest import AMQPCTL, Ctl, amqpctl
from tests.support.server import BrokerThread


def test_enabling_a_running_plugin_through_a_rabbitmq_plugins_symlink(broker: BrokerThread, tmp_path):
    link = tmp_path / "rabbitmq-plugins"
    os.symlink(AMQPCTL, link)
    ran = amqpctl("--data-dir", broker.settings.data_dir, "enable", "rabbitmq_management", command=str(link))
    assert ran.code == 0, ran.stderr
    assert ran.lines == [f"Enabling plugins on node {broker.node.name}:", "rabbitmq_management",
                         "The following plugins have been configured:", "  rabbitmq_management",
                         "  rabbitmq_management_agent", "  rabbitmq_web_dispatch",
                         f"Applying plugin configuration to {broker.node.name}...", "Plugin configuration unchanged."]


def test_offline_enable_needs_no_broker(tmp_path):
    ran = amqpctl("--data-dir", str(tmp_path), "-q", "plugins", "enable", "--offline", "rabbitmq_management")
    assert (ran.code, ran.stdout) == (0, "")


def test_list_shows_what_runs(broker_factory):
    broker = broker_factory(prometheus=False)
    listed = amqpctl("--data-dir", broker.settings.data_dir, "plugins", "list")
    assert listed.lines[-4:] == ["[E*] rabbitmq_management       3.10.8", "[e*] rabbitmq_management_agent 3.10.8",
                                 "[  ] rabbitmq_prometheus       3.10.8", "[e*] rabbitmq_web_dispatch     3.10.8"]


def test_changing_a_built_in_plugin_or_naming_an_unknown_one_is_refused(ctl: Ctl):
    disabled = ctl("plugins", "disable", "rabbitmq_management")
    assert disabled.code == 70
    assert disabled.stderr.endswith("start amqpd with --no-management\n")
    unknown = ctl("plugins", "enable", "rabbitmq_shovel")
    assert (unknown.code, unknown.stderr) == (70, "Error:\n{:plugins_not_found, [:rabbitmq_shovel]}\n")
