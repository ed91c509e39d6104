"""amqpctl is an HTTP client of the API: it imports amqpd's settings and config to find the
broker, and nothing of the broker or the management package (the layer table alone would let
it, at the top)."""

from __future__ import annotations

import ast
from pathlib import Path

import amqpd

ALLOWED = ("amqpd.ctl", "amqpd.settings", "amqpd.config")


def test_ctl_imports_only_settings_config_and_itself():
    found = []
    for path in (Path(amqpd.__file__).parent / "ctl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("amqpd"):
                names = [node.module] if node.module != "amqpd" else [f"amqpd.{a.name}" for a in node.names]
                found += [(path.name, name) for name in names]
            elif isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names if a.name.startswith("amqpd")]
    outside = [(file, name) for file, name in found
               if not (name.startswith(ALLOWED) or name == "amqpd.__version__")]
    assert found and outside == []
