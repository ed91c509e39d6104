"""The entry-point plugin as an outside project sees it: a separate pytest session in a subprocess."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

OUTSIDE_TESTS = '''
import pika
import pytest

seen = []


def test_without_a_broker():
    import sys
    assert "amqpd.testing.broker" not in sys.modules  # nothing started before a fixture asks


def test_one(amqp_url, amqpd, amqpd_broker):
    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    channel.queue_declare("mine", durable=True)
    seen.append(amqpd.name)


def test_two(amqp_url, amqpd, amqpd_broker):
    assert seen and amqpd.name != seen[0]
    assert amqpd_broker.call(lambda: seen[0] not in amqpd_broker.node.vhosts)  # deleted after test_one
    channel = pika.BlockingConnection(pika.URLParameters(amqp_url)).channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        channel.queue_declare("mine", passive=True)
    assert closed.value.reply_code == 404
'''


@pytest.fixture
def outside(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project of its own: no conftest of ours, the plugin only through its entry point."""
    pytester.makepyfile(test_outside=OUTSIDE_TESTS)
    pytester.makeini("[pytest]\n")  # not this repository's pytest configuration
    return pytester


def test_the_entry_point_gives_an_outside_project_the_fixtures(outside: pytest.Pytester):
    result = outside.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_no_amqpd_removes_them(outside: pytest.Pytester):
    result = outside.runpytest_subprocess("-p", "no:amqpd", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*fixture 'amqp_url' not found*"])


HEAVY = ("trio", "amqpd.server", "amqpd.testing.broker")
REPORT_IMPORTS = f'''
import sys


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line("heavy imports: " + repr([m for m in {HEAVY!r} if m in sys.modules]))
'''


@pytest.mark.parametrize("disable", [[], ["-p", "no:amqpd"]], ids=["loaded", "no:amqpd"])
def test_a_session_that_never_uses_the_fixtures_imports_no_trio(pytester: pytest.Pytester, disable: list[str]):
    """pytest-trio and anyio's plugin import trio themselves (both off here); amqpd's plugin, loaded
    or not, imports neither trio nor the server while no test asks for a broker."""
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makeconftest(REPORT_IMPORTS)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:trio", "-p", "no:anyio", *disable)
    result.assert_outcomes(passed=1)
    plugins = next(line for line in result.outlines if line.startswith("plugins:"))
    assert ("amqpd-" in plugins) == (not disable)
    result.stdout.fnmatch_lines(["heavy imports: []"])
