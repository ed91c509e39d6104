"""rabbitmqctl's grammar and exit codes: options on either side of the verb, --help, usage
errors (64), and how the broker is found or found missing (69)."""

from __future__ import annotations

import subprocess
import sys

from tests.ctl.conftest import AMQPCTL, Ctl, amqpctl, environment
from tests.support.server import BrokerThread


def test_options_before_and_after_the_verb_are_the_same(ctl: Ctl):
    ctl("add_vhost", "ctl-a")
    before = ctl("-q", "-p", "ctl-a", "list_vhosts", "name")
    after = ctl("list_vhosts", "name", "-q")
    assert before.code == after.code == 0
    assert before.lines == after.lines == ["name", "/", "ctl-a"]


def test_banner_header_and_rows_on_a_pipe(ctl: Ctl):
    ran = ctl("list_vhosts")
    assert ran.code == 0
    assert ran.stdout == "Listing vhosts ...\nname\n/\n"


def test_silent_drops_the_banner_and_the_header(ctl: Ctl):
    assert ctl("-s", "list_vhosts").stdout == "/\n"
    assert ctl("list_vhosts", "--no-table-headers").stdout == "Listing vhosts ...\n/\n"


def test_json_formatter_prints_rabbitmqctls_array_and_no_banner(ctl: Ctl):
    ctl("add_vhost", "ctl-b", "--tags", "x,y")
    ran = ctl("list_vhosts", "--formatter", "json", "name", "tags")
    assert ran.stdout == '[\n{"name":"/","tags":[]}\n,{"name":"ctl-b","tags":["x","y"]}\n]\n'


def test_help_of_a_known_verb_exits_0_and_an_unknown_verb_64(ctl: Ctl):
    assert ctl("delete_vhost", "--help").code == 0
    assert ctl("help", "list_vhosts").code == 0
    unknown = ctl("frobnicate")
    assert unknown.code == 64
    assert unknown.stderr.startswith("Command 'frobnicate' not found.")
    assert ctl("frobnicate", "--help").code == 64


def test_usage_errors_exit_64(ctl: Ctl):
    assert ctl("add_vhost").code == 64  # missing argument
    assert ctl("add_vhost", "a", "b").code == 64  # one too many
    assert ctl("list_vhosts", "--bogus-option").code == 64
    bad_column = ctl("list_vhosts", "bogus")
    assert bad_column.code == 64
    assert "Info key(s) bogus are not supported" in bad_column.stderr
    assert amqpctl().code == 64  # no verb


def test_a_broker_that_is_not_running_is_69_with_rabbitmqctls_message(tmp_path):
    ran = amqpctl("--data-dir", str(tmp_path), "-n", "amqpd@nowhere", "list_vhosts")
    assert ran.code == 69
    assert ran.stdout == ""
    assert ran.stderr.startswith("Error: unable to perform an operation on node 'amqpd@nowhere'.")
    assert f"attempted to contact: [{tmp_path}/amqpd.sock]" in ran.stderr


def test_a_node_name_that_is_not_the_brokers_is_69(broker_factory):
    broker = broker_factory(node_name="bunny@testhost")
    data_dir = broker.settings.data_dir
    assert amqpctl("--data-dir", data_dir, "-n", "bunny@testhost", "list_vhosts").code == 0
    other = amqpctl("--data-dir", data_dir, "-n", "rabbit@testhost", "list_vhosts")
    assert other.code == 69
    assert "is node 'bunny@testhost'" in other.stderr


def test_the_data_directory_comes_from_the_environment_or_the_config_file(broker: BrokerThread, tmp_path):
    config = tmp_path / "amqpd.toml"
    config.write_text(f'data_dir = "{broker.settings.data_dir}"\n')
    assert amqpctl("--config", str(config), "-q", "list_vhosts").lines == ["name", "/"]
    env = {**environment(), "AMQPD_DATA_DIR": broker.settings.data_dir}
    done = subprocess.run([AMQPCTL, "-q", "list_vhosts"], capture_output=True, text=True, env=env, timeout=30)
    assert (done.returncode, done.stdout) == (0, "name\n/\n")


def test_remote_mode_over_the_api_with_credentials(broker: BrokerThread):
    url = f"http://guest:guest@127.0.0.1:{broker.management_port}"
    assert amqpctl("--url", url, "-q", "list_vhosts").lines == ["name", "/"]
    wrong = amqpctl("--url", f"http://guest:wrong@127.0.0.1:{broker.management_port}", "list_vhosts")
    assert wrong.code == 69
    assert "unable to perform an operation" in wrong.stderr
    assert "Login failed" in wrong.stderr


def test_python_dash_m_runs_the_same_command(broker: BrokerThread):
    done = subprocess.run([sys.executable, "-m", "amqpd.ctl", "--data-dir", broker.settings.data_dir, "-s",
                           "list_vhosts"], capture_output=True, text=True, env=environment(), timeout=30)
    assert (done.returncode, done.stdout) == (0, "/\n")
