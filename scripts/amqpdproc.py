"""amqpd as a child process for scripts/fuzz and scripts/soak: start, restart, kill, watch its log.

The broker's stderr is read by a thread that keeps a count of the lines that are findings (any
"internal error", any traceback, any error-level line) and the first of them verbatim, and drops
the rest, so a run of a million connections does not fill the disk with info lines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
STARTUP = re.compile(r"Server startup complete; listening on amqp://([^:\s]+):(\d+)")
KEPT_LINES = 400  # finding lines kept verbatim per broker log
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Group))(?::\s?(.*))?$")


@dataclass
class LogFindings:
    """What the log watcher saw; the counters only grow."""

    internal_errors: int = 0  # "internal error" lines
    tracebacks: int = 0  # "Traceback (most recent call last)" lines
    error_lines: int = 0  # error-level lines ("[error" in console format)
    lines: int = 0
    kept: list[str] = field(default_factory=list)  # finding lines and the traceback lines after them
    exceptions: Counter = field(default_factory=Counter)  # "RecursionError: maximum ..." lines of tracebacks

    def total(self) -> int:
        return self.internal_errors + self.tracebacks


class BrokerProcess:
    """One amqpd on a fixed data directory; start() may be called again after stop() or kill()."""

    def __init__(self, data_dir: str, extra: list[str] | None = None, log_path: str | None = None,
                 watch: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra = list(extra or [])
        self.env = dict(env or {})
        self.log_path = log_path  # when set, every line is also appended here
        self.watch = watch
        self.counts: Counter = Counter()  # lines containing each watched phrase, over every start
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.findings = LogFindings()
        self.starts = 0
        self.tail: deque[str] = deque(maxlen=20)  # the last lines, whatever they say
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30) -> None:
        """Start `python -m amqpd --port 0` and read the port from its start-up line."""
        cmd = [str(PYTHON), "-m", "amqpd", "--port", "0", "--management-port", "0", "--prometheus-port", "0", "--data-dir", self.data_dir,
               "--log-level", "info", "--log-format", "console", *self.extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=str(ROOT), env=env)
        self.starts += 1
        port_found = threading.Event()
        threading.Thread(target=self._watch, args=(self.proc, port_found), daemon=True).start()
        if not port_found.wait(timeout) or not self.port:
            self.kill()
            raise RuntimeError("amqpd did not start; last log lines:\n" + "\n".join(self.tail))

    def _watch(self, proc: subprocess.Popen[bytes], port_found: threading.Event) -> None:
        assert proc.stderr is not None
        out = open(self.log_path, "a", encoding="utf-8", errors="replace") if self.log_path else None
        in_traceback = 0
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if out is not None:
                out.write(line + "\n")
            self.tail.append(line)
            f = self.findings
            with self._lock:
                f.lines += 1
                if not port_found.is_set():
                    m = STARTUP.search(line)
                    if m:
                        self.port = int(m.group(2))
                        port_found.set()
                for phrase in self.watch:
                    if phrase in line:
                        self.counts[phrase] += 1
                finding = False
                if "internal error" in line:
                    f.internal_errors += 1
                    finding = True
                if "Traceback (most recent call last)" in line:
                    f.tracebacks += 1
                    finding = True
                    in_traceback = 5000
                if "[error" in line:
                    f.error_lines += 1
                    finding = True
                if (finding or in_traceback) and len(f.kept) < KEPT_LINES:
                    f.kept.append(line)
                if in_traceback and not finding:
                    in_traceback -= 1
                    m = EXCEPTION_LINE.match(line)
                    if m:  # the last line of a traceback names the exception
                        f.exceptions[f"{m.group(1)}: {(m.group(2) or '')[:100]}"] += 1
                        in_traceback = 0
        if out is not None:
            out.close()
        port_found.set()

    def snapshot(self) -> LogFindings:
        with self._lock:
            f = self.findings
            return LogFindings(f.internal_errors, f.tracebacks, f.error_lines, f.lines, list(f.kept),
                               Counter(f.exceptions))

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful) and wait; returns the exit code, or None when it did not exit in time
        (it is then killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the store is concerned."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def rss_kib(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll predicate() until it is true or timeout seconds pass (for child processes, which
    offer nothing to await)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
