"""amqpd run as a subprocess, its stderr collected as it comes: for tests of the commands."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PYTHON = sys.executable
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("amqpd"))
STARTUP = re.compile(r"Server startup complete; listening on amqp://127\.0\.0\.1:(\d+)")
WAIT = 10.0


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    env["AMQPD_MANAGEMENT_PORT"] = "0"  # the management API on a free port, never 15672
    env["AMQPD_PROMETHEUS_PORT"] = "0"  # nor 15692
    env.update(extra)
    return env


class Amqpd:
    """One amqpd process; its stderr lines are collected by a thread as they arrive."""

    def __init__(self, *args: str, command: list[str] | None = None, env: dict[str, str] | None = None,
                 data_dir: Path) -> None:
        argv = (command or [PYTHON, "-m", "amqpd"]) + ["--data-dir", str(data_dir), *args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env or clean_env())
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first stderr line matching pattern (fails if the process ends or WAIT passes first)."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern.pattern!r} within {WAIT} s: {self.lines}")
            if line is None:
                pytest.fail(f"amqpd exited ({self.proc.wait()}) before {pattern.pattern!r}: {self.lines}")
            match = pattern.search(line)
            if match:
                return match

    def started(self) -> int:
        return int(self.wait_for(STARTUP).group(1))

    def finish(self) -> tuple[int, str]:
        """Exit status and all of stderr once the process has ended."""
        code = self.proc.wait(timeout=WAIT)
        while self._queue.get(timeout=WAIT) is not None:
            pass
        return code, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
