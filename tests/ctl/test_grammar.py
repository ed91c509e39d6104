"""rabbitmqctl's grammar and exit codes: options on either side of the verb, --help, usage
errors (64), and how the broker is found or found missing (69)."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import sys

from amqpd.ctl.main import run
from amqpd.ctl.verb import Verb
from amqpd.ctl.verbs import REGISTRY
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
    missing = ctl("add_vhost")
    assert missing.code == 64
    assert missing.stderr.startswith("Error (argument validation): not enough arguments.\nArguments given:\n\t")
    too_many = ctl("add_vhost", "a", "b")
    assert (too_many.code, too_many.stderr.splitlines()[0]) == (64, "Error (argument validation): too many arguments.")
    bogus = ctl("list_vhosts", "--bogus-option")
    assert bogus.code == 64
    assert bogus.stderr.startswith("Error (argument validation): Invalid options for this command:\n--bogus-option : true\n")
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


def test_a_socket_left_by_a_killed_broker_is_69_at_once(tmp_path):
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(tmp_path / "amqpd.sock"))
    left.close()  # the name stays, nobody listens: connection refused
    ran = amqpctl("--data-dir", str(tmp_path), "list_queues")
    assert ran.code == 69
    assert ran.stderr.startswith("Error: unable to perform an operation on node 'amqpd@")


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


def test_csv_quotes_every_field(ctl: Ctl):
    assert ctl("-s", "list_vhosts", "--formatter", "csv", "name", "tracing").stdout == '"name","tracing"\n"/","false"\n'


def test_a_terminal_gets_a_drawn_table_and_a_pipe_never(broker: BrokerThread):
    main, follower = pty.openpty()
    done = subprocess.run([AMQPCTL, "--data-dir", broker.settings.data_dir, "list_vhosts"], stdout=follower,
                          stderr=subprocess.PIPE, env={**environment(), "COLUMNS": "80"}, timeout=30)
    os.close(follower)
    drawn = os.read(main, 65536).decode()
    os.close(main)
    assert done.returncode == 0
    assert "Listing vhosts ..." in drawn
    assert "┏━━━━━━┓" in drawn and "│ /    │" in drawn  # rich's box, never a tab
    assert "\t" not in drawn


def test_a_short_node_name_is_completed_with_this_host(broker_factory):
    broker = broker_factory(node_name=f"bunny@{socket.gethostname().split('.')[0]}")
    assert amqpctl("--data-dir", broker.settings.data_dir, "-n", "bunny", "-q", "list_vhosts").code == 0


def test_a_broker_that_does_not_answer_within_the_timeout_is_75(tmp_path):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # takes connections, never answers
    silent.bind(str(tmp_path / "amqpd.sock"))
    silent.listen(4)
    try:
        ran = amqpctl("--data-dir", str(tmp_path), "-n", "amqpd@here", "list_queues", "-t", "0.2")
    finally:
        silent.close()
    assert ran.code == 75
    assert ran.stderr == "Error: operation list_queues on node amqpd@here timed out. Timeout value used: 200\n"


def test_a_control_verb_over_url_is_69_before_anything_is_sent(broker: BrokerThread, monkeypatch, capsys):
    """Verbs that only the node's own operator may run (Verb.control) refuse --url."""
    ran: list[str] = []
    verb = Verb("ctl_test_control", lambda ctx, args: ran.append("ran"), "a control verb", control=True)
    monkeypatch.setitem(REGISTRY, verb.name, verb)
    code = run(["--url", f"http://guest:guest@127.0.0.1:{broker.management_port}", "ctl_test_control"])
    assert code == 69
    assert capsys.readouterr().err == ("Error: ctl_test_control is served only on the broker's control socket "
                                       "(run amqpctl on the broker's host); it is not available over --url\n")
    assert ran == []
    assert run(["--data-dir", broker.settings.data_dir, "ctl_test_control"]) == 0
    assert ran == ["ran"]
