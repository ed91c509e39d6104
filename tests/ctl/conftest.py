"""amqpctl run as its installed console script against a real broker (BrokerThread, whose data
directory holds the control socket)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.server import BrokerThread

AMQPCTL = str(Path(sys.executable).with_name("amqpctl"))


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def environment() -> dict[str, str]:
    """This process's environment without the settings that would point amqpctl elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "AMQPD_"))}


def amqpctl(*args: str, stdin: str | None = None, command: str = AMQPCTL) -> Ran:
    done = subprocess.run([command, *args], input=stdin, capture_output=True, text=True, env=environment(),
                          timeout=30)
    return Ran(done.returncode, done.stdout, done.stderr)


Ctl = Callable[..., Ran]


@pytest.fixture
def ctl(broker: BrokerThread) -> Iterator[Ctl]:
    """amqpctl against the test's broker, through its control socket."""

    def run(*args: str, stdin: str | None = None) -> Ran:
        return amqpctl("--data-dir", broker.settings.data_dir, *args, stdin=stdin)

    yield run
