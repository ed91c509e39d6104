"""rabbitmqadmin 3.10.8 (Debian's rabbitmq-server ships it) against amqpd, for the routes served so far.

The outputs expected are what the same commands print against RabbitMQ 3.10.8 (checked on it:
the `show overview` table, `declare`/`delete` messages, tsv lists, `*** Not found` and
`*** Access refused` with exit code 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.management.conftest import amqp

# scripts/bootstrap.sh puts Debian's rabbitmqadmin into .venv/bin; elsewhere it may be on PATH
_VENV_COPY = Path(sys.prefix) / "bin" / "rabbitmqadmin"
RABBITMQADMIN = str(_VENV_COPY) if _VENV_COPY.exists() else shutil.which("rabbitmqadmin")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
# Outside CI a machine without Debian's package skips these; in CI they run (and fail without it).
pytestmark = pytest.mark.skipif(RABBITMQADMIN is None and not IN_CI,
                                reason="rabbitmqadmin is not installed (scripts/bootstrap.sh takes it from Debian's rabbitmq-server)")


def admin(broker, *args: str, user: str = "guest", password: str = "guest") -> subprocess.CompletedProcess[str]:
    assert RABBITMQADMIN is not None, "rabbitmqadmin is missing: scripts/bootstrap.sh takes it from Debian's rabbitmq-server"
    return subprocess.run([RABBITMQADMIN, "-H", "127.0.0.1", "-P", str(broker.management_port), "-u", user,
                           "-p", password, *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_show_overview_and_list_nodes(broker):
    overview = admin(broker, "-f", "tsv", "show", "overview")
    assert overview.returncode == 0, overview.stderr
    assert overview.stdout.splitlines() == [
        "rabbitmq_version\tcluster_name\tqueue_totals.messages\tobject_totals.queues",
        f"3.10.8\t{broker.node.name}\t0\t0"]
    nodes = admin(broker, "-f", "tsv", "list", "nodes", "name", "type")
    assert nodes.stdout.splitlines() == ["name\ttype", f"{broker.node.name}\tdisc"]


def test_declare_list_and_delete_vhost_user_permission(broker):
    assert admin(broker, "declare", "vhost", "name=radm-v").stdout == "vhost declared\n"
    assert admin(broker, "declare", "user", "name=radm-u", "password=pw", "tags=management").stdout == "user declared\n"
    assert admin(broker, "declare", "permission", "vhost=radm-v", "user=radm-u", "configure=.*", "write=.*",
                 "read=.*").stdout == "permission declared\n"
    assert admin(broker, "-f", "tsv", "list", "permissions", "user", "vhost").stdout.splitlines() == [
        "user\tvhost", "guest\t/", "guest\tradm-v", "radm-u\tradm-v"]
    assert admin(broker, "-f", "tsv", "list", "users", "name", "tags").stdout.splitlines() == [
        "name\ttags", "guest\tadministrator", "radm-u\tmanagement"]
    assert admin(broker, "-f", "tsv", "list", "vhosts", "name").stdout.splitlines() == ["name", "/", "radm-v"]
    amqp(broker, "radm-u", "pw", "radm-v").close()
    assert admin(broker, "delete", "user", "name=radm-u").stdout == "user deleted\n"
    assert admin(broker, "delete", "vhost", "name=radm-v").stdout == "vhost deleted\n"
    again = admin(broker, "delete", "vhost", "name=radm-v")
    assert (again.returncode, again.stderr.strip()) == (1, "*** Not found: /api/vhosts/radm-v")


def test_access_refused(broker):
    refused = admin(broker, "list", "users", password="bad")
    assert (refused.returncode, refused.stderr.strip()) == (1, "*** Access refused: /api/users")
