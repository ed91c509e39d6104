"""scripts/compare against three fresh amqpd instances: a column per broker, the stream rows, every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPARE = ROOT / "scripts" / "compare"
QUICK = ("--duration", "0.5", "--warmup", "0", "--rounds", "1", "--pause", "0", "--only", "transient,stream",
         "--no-startup", "--no-ceiling", "--no-resources")


def run_compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMPARE), *args], capture_output=True, text=True, timeout=170,
                          cwd=ROOT)


def table_rows(stdout: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in stdout.splitlines()
            if line.startswith("|")]


@pytest.mark.timeout(180)
def test_three_brokers_interleaved_with_the_stream_scenario(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    done = run_compare("first=amqpd", "amqpd", "third=amqpd", "--subject", "first", "--json", str(out), *QUICK)
    assert done.returncode == 0, done.stdout + done.stderr

    header, _, *rows = table_rows(done.stdout)
    assert header[:3] + header[4:] == ["scenario", "metric", "A: first", "C: third", "A/B", "A/C"]
    assert header[3].startswith("B: amqpd ")  # no name given: the product and version
    assert [row[1] for row in rows] == ["published msg/s", "consumed msg/s", "latency p50 ms",
                                        "confirmed msg/s", "replayed msg/s"]
    for row in rows[3:]:  # the stream scenario's two rows: a figure per broker, a ratio per other broker
        assert row[0] == ("" if row is rows[4] else "stream 100 B: publish, confirms 1000; replay from first, "
                                                    "prefetch 1000")
        for cell in row[2:5]:
            assert int(cell.replace(",", "")) > 0, row
        for cell in row[5:]:
            assert float(cell) > 0, row
    # the rounds interleave the brokers: A, B, C in each scenario
    rounds = [line.split()[2] for line in done.stdout.splitlines() if line.startswith("  round 1 ")]
    assert rounds == ["A", "B", "C", "A", "B", "C"]

    data = json.loads(out.read_text())
    assert data["subject"] == "A"
    assert [side["label"] for side in data["sides"].values()] == ["first", header[3][3:], "third"]
    for name in "ABC":
        transient, = data["runs"][name]["transient"]
        assert transient["round"] == 1 and transient["consumed"] > 0
        stream_run, = data["runs"][name]["stream"]
        assert stream_run["unavailable"] is None and stream_run["errors"] == []
        assert stream_run["replay"]["delivered"] >= stream_run["replay"]["wanted"] > 0
        assert stream_run["publish"]["whole_run"]["confirmed"] == stream_run["replay"]["wanted"]
    ratios = data["scenarios"]["stream"]["metrics"]["replayed msg/s"]["ratios"]
    assert list(ratios) == ["A/B", "A/C"]


def test_a_subject_that_names_no_broker_is_refused() -> None:
    done = run_compare("amqpd", "amqpd", "--subject", "rabbit", *QUICK)
    assert done.returncode == 2
    assert "--subject 'rabbit' names no broker: give a letter (A, B) or one of the names" in done.stderr


def test_one_broker_is_refused() -> None:
    done = run_compare("amqpd")
    assert done.returncode == 2
    assert "give between 2 and 26 brokers, not 1" in done.stderr
