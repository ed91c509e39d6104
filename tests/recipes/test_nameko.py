"""nameko: its own pytest plugin and helpers, in a child `nameko test` run against this session's
amqpd (eventlet patches that process, and the broker's trio thread cannot run in a patched one)."""

import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).parent / "nameko"


def test_the_nameko_suite_passes_against_amqpd(amqpd_broker):
    management = amqpd_broker.management_url.replace("http://", "http://guest:guest@")
    run = subprocess.run([sys.executable, "-m", "nameko", "test", SUITE, "-q",
                          "--amqp-uri", amqpd_broker.url, "--rabbit-api-uri", management],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
