"""scripts/build-accelerated (issue 15): mypyc modules built into a copy of the tree, picked up by
import, named by `amqpd --version`, weakly referable as the management plane needs, and removed
by --clean. A few modules only, to keep the build short; the whole suite runs against the full
build as docs/performance.md describes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("amqpd.broker.routing", "amqpd.broker.exchange")
# a compiled exchange held in a weak dictionary, as management/objstats.py holds them; a headers
# binding whose value is NaN bound and unbound (its bucket key never equals itself when rebuilt)
PROBE = """
import gc, weakref
from amqpd.broker import exchange, routing
from amqpd.broker.exchange import DirectExchange, HeadersExchange
print(exchange.__file__.endswith(".so"), routing.__file__.endswith(".so"))
seen = weakref.WeakKeyDictionary()
x = DirectExchange("x")
seen[x] = "sampled"
print(len(seen))
del x
gc.collect()
print(len(seen))
h = HeadersExchange("h")
h.bind("q", "", {"x-match": "all", "n": float("nan")})
print(h.unbind("q", "", h.bindings[next(iter(h.bindings))]), len(h.bindings))
"""

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None and not os.environ.get("CI"),
                                reason="no C compiler: the accelerator is optional (in CI it must run)")


def run(*args: str, tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.timeout(300)
def test_build_compiles_modules_beside_the_sources_and_clean_removes_them(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "amqpd", tree / "amqpd", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    built = run(str(ROOT / "scripts" / "build-accelerated"), "--tree", str(tree), "--modules", *MODULES, tree=tree)
    assert built.returncode == 0, built.stderr
    assert sorted(line.split("/")[-1].split(".")[0] for line in built.stdout.splitlines()
                  if line.startswith("built ")) == ["_compiled__mypyc", "exchange", "routing"]

    assert run("-m", "amqpd", "--version", tree=tree).stdout.endswith(" (compiled)\n")
    probe = run("-c", PROBE, tree=tree)
    assert (probe.returncode, probe.stdout.split("\n")) == (0, ["True True", "1", "0", "True 0", ""]), probe.stderr

    cleaned = run(str(ROOT / "scripts" / "build-accelerated"), "--tree", str(tree), "--clean", tree=tree)
    assert cleaned.returncode == 0
    assert list((tree / "amqpd").rglob("*.so")) == []
    assert run("-m", "amqpd", "--version", tree=tree).stdout.endswith(" (interpreted)\n")
    probe = run("-c", PROBE, tree=tree)
    assert (probe.returncode, probe.stdout.split("\n")) == (0, ["False False", "1", "0", "True 0", ""]), probe.stderr
