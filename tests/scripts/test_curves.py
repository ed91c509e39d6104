"""scripts/curves --quick against a fresh amqpd: every curve, every point, positive figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CURVES = ROOT / "scripts" / "curves"
QUICK = {"queues": [1, 20], "connections": [2, 20], "bindings": [1, 50], "size": [16, 65536],
         "backlog": [1000, 2000]}
LOAD_FIGURES = ("published_per_s", "consumed_per_s", "broker_us_per_msg", "rss_idle_mib", "rss_setup_mib",
                "rss_peak_mib", "point_s")
BACKLOG_FIGURES = ("fill_s", "fill_per_s", "rss_full_mib", "rss_peak_fill_mib", "drain_s", "drain_per_s",
                   "rss_after_mib", "point_s")


def run_curves(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CURVES), *args], capture_output=True, text=True, timeout=170,
                          cwd=ROOT)


@pytest.mark.timeout(180)
def test_quick_run_reports_every_point_of_every_curve(tmp_path: Path) -> None:
    out = tmp_path / "curves.json"
    done = run_curves("--quick", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr

    data = json.loads(out.read_text())
    assert data["broker"] == "amqpd"
    assert list(data["curves"]) == list(QUICK)
    for curve, points in QUICK.items():
        rows = data["curves"][curve]["points"]
        assert [r["point"] for r in rows] == points, curve
        figures = BACKLOG_FIGURES if curve == "backlog" else LOAD_FIGURES
        for row in rows:
            assert row["errors"] == [], (curve, row)
            for key in figures:
                assert row[key] > 0, (curve, row["point"], key, row[key])
        assert data["curves"][curve]["broker_process"] == "python"

    # the printed tables: a title and a header per curve, then a row per point
    lines = done.stdout.splitlines()
    for curve, points in QUICK.items():
        start = next(i for i, line in enumerate(lines) if line.startswith(f"curve {curve}:"))
        header = lines[start + 1].split()
        assert header[0] in ("N", "body")
        firsts = [line.split()[0] for line in lines[start + 2:start + 2 + len(points)]]
        shown = [f"{p:,}" if curve != "size" else str(p) for p in points]
        if curve == "size":
            shown = ["16", "64"]  # 16 B, 64 KiB
        assert firsts == shown, (curve, firsts)


def test_an_unknown_curve_is_refused() -> None:
    done = run_curves("queue")
    assert done.returncode == 2
    assert "unknown curve queue: choose from queues, connections, bindings, size, backlog" in done.stderr
