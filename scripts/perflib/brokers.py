"""Starting and stopping amqpd for a benchmark, finding a broker's PID from its port, reading RSS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
STARTUP = re.compile(r"Server startup complete; listening on amqp://([^:\s]+):(\d+)")


@dataclass
class Broker:
    """An amqpd this process started: its Popen, port, data dir and stderr log file."""

    proc: subprocess.Popen
    port: int
    data_dir: str
    log_path: str
    started_at: float  # time.monotonic() just before Popen
    startup_line_at: float  # when the start-up line was seen
    own_data_dir: bool = False
    extra: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM (graceful: amqpd flushes its store) and wait; SIGKILL after timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def cleanup(self) -> None:
        self.stop()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        if self.own_data_dir:
            subprocess.run(["rm", "-rf", self.data_dir], check=False)


def start_amqpd(data_dir: str | None = None, extra: list[str] | None = None, timeout: float = 60,
                log_level: str = "info", port: int = 0) -> Broker:
    """Start `python -m amqpd --port 0` and wait for its start-up line (logged at info level).

    With --log-level warning amqpd does not print the start-up line, so the default here is info:
    it logs once per connection, never per message.
    """
    own = data_dir is None
    if own:
        data_dir = tempfile.mkdtemp(prefix="amqpd-bench-")
    fd, log_path = tempfile.mkstemp(prefix="amqpd-bench-", suffix=".log")
    extra = list(extra or [])
    cmd = [str(PYTHON), "-m", "amqpd", "--port", str(port), "--management-port", "0", "--prometheus-port", "0", "--data-dir", data_dir, "--log-level", log_level,
           "--log-format", "console", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fd, cwd=str(ROOT))
    os.close(fd)
    deadline = started + timeout
    while True:
        text = Path(log_path).read_text(errors="replace")
        m = STARTUP.search(text)
        if m:
            return Broker(proc, int(m.group(2)), data_dir, log_path, started, time.monotonic(), own, extra)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"amqpd did not start (exit {proc.returncode}):\n{text[-2000:]}")
        time.sleep(0.005)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du_bytes(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_limit(pid: int) -> int | None:
    """The soft RLIMIT_NOFILE of a process (from /proc/PID/limits)."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                value = line.split()[3]
                return None if value == "unlimited" else int(value)
    except OSError:
        pass
    return None


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def pid_listening_on(port: int) -> int | None:
    """The PID of the process holding a listening TCP socket on this port (needs /proc access)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
                except OSError:
                    continue
        except OSError:
            continue
    return None


def load_average() -> tuple[float, float, float]:
    a, b, c = Path("/proc/loadavg").read_text().split()[:3]
    return float(a), float(b), float(c)


def machine() -> dict[str, str]:
    import platform
    import sys
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {"cores": str(os.cpu_count()), "cpu": model, "memory": mem, "python": sys.version.split()[0],
            "kernel": platform.release()}
