"""Users over amqpctl: created, re-passworded, tagged and deleted as rabbitmqctl does it, with
its exit codes (70 when the user exists, 67 when it does not), the effect seen over AMQP."""

from __future__ import annotations

import httpx
import pika
import pytest

from tests.ctl.conftest import Ctl, connect
from tests.support.server import BrokerThread


def test_add_user_prints_rabbitmqs_lines_and_the_user_can_log_in(broker: BrokerThread, ctl: Ctl):
    added = ctl("add_user", "alice", "s3cret")
    assert added.code == 0
    assert added.lines == ['Adding user "alice" ...',
                           "Done. Don't forget to grant the user permissions to some virtual hosts! "
                           "See 'amqpctl help set_permissions' to learn more."]
    assert ctl("set_permissions", "alice", ".*", ".*", ".*").code == 0
    connect(broker, user="alice", password="s3cret").close()


def test_add_user_of_an_existing_user_is_70(ctl: Ctl):
    ran = ctl("add_user", "guest", "x")
    assert ran.code == 70
    assert ran.stdout == 'Adding user "guest" ...\n'
    assert ran.stderr == 'Error:\nUser "guest" already exists\n'


def test_change_password_keeps_the_tags_and_changes_the_login(broker: BrokerThread, ctl: Ctl):
    ctl("add_user", "bob", "old")
    ctl("set_user_tags", "bob", "management")
    ctl("set_permissions", "bob", ".*", ".*", ".*")
    ran = ctl("change_password", "bob", "new")
    assert (ran.code, ran.stdout) == (0, 'Changing password for user "bob" ...\n')
    connect(broker, user="bob", password="new").close()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(broker, user="bob", password="old")
    assert ctl("-q", "list_users").lines == ["user\ttags", "bob\t[management]", "guest\t[administrator]"]


def test_set_user_tags_as_the_java_client_suite_sends_it(broker: BrokerThread, ctl: Ctl):
    ran = ctl("set_user_tags", "guest", "administrator", "impersonator")
    assert ran.stdout == 'Setting tags for user "guest" to [administrator, impersonator] ...\n'
    user = httpx.get(f"{broker.api}/api/users/guest", auth=("guest", "guest")).json()
    assert sorted(user["tags"]) == ["administrator", "impersonator"]
    assert ctl("list_users").stdout == "Listing users ...\nuser\ttags\nguest\t[administrator, impersonator]\n"
    connect(broker).close()  # the password hash was kept


def test_a_missing_user_is_67(ctl: Ctl):
    for verb in (["delete_user", "nobody"], ["change_password", "nobody", "x"], ["set_user_tags", "nobody", "a"]):
        ran = ctl(*verb)
        assert ran.code == 67, verb
        assert ran.stderr == 'Error:\nUser "nobody" does not exist\n'


def test_delete_user_closes_nothing_but_its_own_and_the_user_is_gone(broker: BrokerThread, ctl: Ctl):
    ctl("add_user", "carol", "pw")
    ran = ctl("delete_user", "carol")
    assert (ran.code, ran.stdout) == (0, 'Deleting user "carol" ...\n')
    assert ctl("-s", "list_users").lines == ["guest\t[administrator]"]


def test_user_limits_are_set_listed_and_cleared(ctl: Ctl):
    ctl("add_user", "dave", "pw")
    ran = ctl("set_user_limits", "dave", '{"max-connections": 5}')
    assert ran.stdout == 'Setting user limits to "{"max-connections": 5}" for user "dave" ...\n'
    assert ctl("list_user_limits", "--user", "dave").lines == ['Listing limits for user "dave" ...',
                                                               '{"max-connections":5}']
    assert ctl("-q", "list_user_limits", "--global").lines == ["user\tlimits", 'dave\t{"max-connections":5}']
    assert ctl("clear_user_limits", "dave", "all").stdout == 'Clearing all limits for user "dave" ...\n'
    assert ctl("-q", "list_user_limits", "--user", "dave").lines == ["{}"]
    missing = ctl("set_user_limits", "nobody", '{"max-connections": 5}')
    assert (missing.code, missing.stderr) == (69, 'Error:\n{:no_such_user, "nobody"}\n')
