"""A short run of scripts/fuzz: mutated client sessions (deep and wide tables among them) must
cost the broker no crash, no hang, no internal error and no durable message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fuzz_short_run_finds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "fuzz"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz"), "--sessions", "300", "--batch", "100", "--seed", "7",
         "--workers", "2", "--concurrency", "16", "--restart-every", "2", "--progress", "1000",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    summary = json.loads((out / "summary.json").read_text())
    report = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert summary["sessions"] == 300
    assert summary["mutations"].get("deep-table", 0) > 0, summary["mutations"]
    assert summary["mutations"].get("content-header", 0) > 0, summary["mutations"]
    assert summary["crashes"] == 0, report
    assert summary["hangs"] == 0, report
    assert summary["internal_error_sessions"] == 0, report
    assert summary["internal_error_log_lines"] == 0, report
    assert summary["tracebacks"] == 0, report
    assert summary["durability_failures"] == 0, report
    assert proc.returncode == 0, report
