"""How this repository runs the recipes; nothing here is needed in a project of your own.

This suite runs pytest-trio in trio mode, which claims every async test; the recipes for asyncio
libraries are marked for anyio's plugin (as a project of their own would mark them), so they are
handed back to it here, to run on asyncio. The nameko recipe's own test directory runs only in
the child process tests/recipes/test_nameko.py starts (eventlet must patch that process first).
"""

from pathlib import Path

import pytest

HERE = Path(__file__).parent
collect_ignore = ["nameko"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("anyio"):
            item.own_markers[:] = [mark for mark in item.own_markers if mark.name != "trio"]
