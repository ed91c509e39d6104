"""A short run of scripts/soak: mixed load with a graceful restart, a SIGKILL and memory alarms
must lose no confirmed persistent message and put no error in the broker's log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_short_run_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak"), "--duration", "20", "--restart-every", "4",
         "--alarm-every", "3", "--sample", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    summary = json.loads((out / "summary.json").read_text())
    report = proc.stdout[-4000:] + proc.stderr[-2000:]
    counts = summary["counts"]
    assert counts.get("graceful_restarts", 0) >= 1 and counts.get("kills", 0) >= 1, report
    assert counts.get("alarms_raised", 0) >= 1 and counts.get("alarms_cleared", 0) >= 1, report
    assert summary["confirmed"] > 0, report
    assert summary["lost_confirmed"] == 0, report
    assert summary["broker_errors"] == 0, report
    assert summary["client_errors"] == 0, report
    assert proc.returncode == 0, report
