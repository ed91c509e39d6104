"""amqpd.testing.Broker from unittest and from a plain script, in a process of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

UNITTEST_MODULE = '''
import unittest

import pika

import amqpd.testing


class OrdersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = amqpd.testing.Broker().start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.vhost = self.broker.add_vhost(self.id())
        self.addCleanup(self.broker.delete_vhost, self.id())

    def test_a_publish_is_recorded_and_queued(self):
        channel = pika.BlockingConnection(pika.URLParameters(self.vhost.url)).channel()
        channel.queue_declare("orders")
        channel.basic_publish("", "orders", b"one")
        self.vhost.wait_until_idle()
        self.assertEqual([m.queues for m in self.vhost.published], [["orders"]])
        self.assertEqual([m.body for m in self.vhost.peek("orders")], [b"one"])

    def test_ttl_passes_on_the_broker_clock(self):
        channel = pika.BlockingConnection(pika.URLParameters(self.vhost.url)).channel()
        channel.queue_declare("brief", arguments={"x-message-ttl": 3_600_000})
        channel.basic_publish("", "brief", b"gone within the hour")
        self.vhost.wait_until_idle()
        self.broker.clock.advance(3600)
        self.assertEqual(self.vhost.peek("brief"), [])
'''

SCRIPT = '''
import pika

import amqpd.testing

with amqpd.testing.Broker() as broker:
    root = broker.vhost("/")  # records what is published from here on
    channel = pika.BlockingConnection(pika.URLParameters(broker.url)).channel()
    channel.queue_declare("jobs")
    channel.basic_publish("", "jobs", b"hello")
    root.wait_until_idle()
    print("peeked", [m.body for m in root.peek("jobs")], "published", [m.routing_key for m in root.published])
print("stopped")
'''


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_from_unittest(tmp_path: Path):
    (tmp_path / "test_orders.py").write_text(textwrap.dedent(UNITTEST_MODULE))
    done = run("-m", "unittest", "-v", "test_orders", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Ran 2 tests" in done.stderr and done.stderr.rstrip().endswith("OK")


def test_from_a_plain_script(tmp_path: Path):
    (tmp_path / "script.py").write_text(SCRIPT)
    done = run("script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()  # the broker's log lines among them
    assert "peeked [b'hello'] published ['jobs']" in lines and lines[-1] == "stopped"
