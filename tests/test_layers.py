"""The layers of docs/architecture.md hold: no module of amqpd imports from a layer above its own.

Every module under amqpd/ is parsed (not imported) and every import in it counts: at module
level, inside functions, and under ``if TYPE_CHECKING:``, since a type-only back edge still
ties a lower layer to the shape of a higher one. Imports within a layer are allowed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import amqpd

PACKAGE = Path(amqpd.__file__).parent

# The one rank table, bottom to top: a module may import its own layer and those below it.
# A module belongs to the longest entry that is its name or a package above it; the package
# root "amqpd" itself (it holds __version__ only) matches itself alone, so a new top-level
# module or package must be given a rank here before the test passes.
LAYERS: dict[str, int] = {
    # 0 foundation: import nothing of amqpd
    "amqpd": 0,
    "amqpd.settings": 0,  # the Settings dataclass every layer reads (config.py fills it)
    "amqpd.logs": 0,  # structlog set-up, LogLimiter, bounded tracebacks
    # 1 the wire format, sans-IO
    "amqpd.protocol": 1,
    # 2 services below the broker, taking plain values, never broker objects
    "amqpd.store": 2,
    "amqpd.auth": 2,
    # 3 the model: vhosts, exchanges, queues, messages; start-up recovery from the store
    "amqpd.broker": 3,
    # 4 one client's session, sans-IO: AMQP methods -> the broker
    "amqpd.session": 4,
    # 5 trio: listeners, sockets, alarms; the management HTTP API beside them
    "amqpd.server": 5,
    "amqpd.management": 5,
    # 6 the command: settings from file, environment and argv; start-up and shutdown
    "amqpd.config": 6,
    "amqpd.cli": 6,
    "amqpd.__main__": 6,
}
NAMES = {rank: name for rank, name in enumerate(
    ["foundation", "protocol", "store/auth", "broker", "session", "server", "cli"])}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def layer_of(module: str) -> int | None:
    """The rank of a module of amqpd; None when the table has no entry for it."""
    if module == "amqpd":
        return LAYERS["amqpd"]
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        rank = LAYERS.get(".".join(parts[:end]))
        if rank is not None:
            return rank
    return None


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imports_in(source: str, importer: str, is_package: bool, modules: set[str]) -> list[Import]:
    """Every import of an amqpd module in the source, wherever it stands; `from X import y`
    names the module X.y when y is a module, else X."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(importer, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = importer.split(".")
                package = package[:len(package) - node.level + (1 if is_package else 0)]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append(Import(importer, submodule if submodule in modules else base, node.lineno))
    ours = [i for i in found if i.imported == "amqpd" or i.imported.startswith("amqpd.")]
    return sorted(set(ours), key=lambda i: (i.line, i.imported))


def upward(imports: list[Import]) -> list[str]:
    """The imports that go up a layer, each as 'importer (layer) imports imported (layer) at line N'."""
    problems = []
    for i in imports:
        own, target = layer_of(i.importer), layer_of(i.imported)
        if own is not None and target is not None and target > own:
            problems.append(f"{i.importer} ({NAMES[own]}) imports {i.imported} ({NAMES[target]}) at line {i.line}")
    return problems


def test_every_module_has_a_layer():
    unranked = [name for name in all_modules() if layer_of(name) is None]
    assert not unranked, f"modules with no entry in LAYERS: {unranked}"


def test_no_module_imports_from_a_layer_above_its_own():
    modules = all_modules()
    imports = []
    for name, path in modules.items():
        imports += imports_in(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", set(modules))
    assert [i for i in imports if layer_of(i.imported) is None] == []  # every import names a real module
    problems = upward(imports)
    assert not problems, "imports that go up a layer:\n" + "\n".join(problems)


def test_the_check_finds_upward_imports_under_type_checking_and_in_functions():
    """A planted module of the store importing the broker three ways, and a relative import
    from the session's package: each is reported with importer, imported module and line."""
    source = "\n".join([
        "from typing import TYPE_CHECKING",
        "from amqpd.protocol import tables",  # down: fine
        "from amqpd.store import sqlite",  # same layer: fine
        "if TYPE_CHECKING:",
        "    from amqpd.broker.queue import Queue",
        "def f():",
        "    import amqpd.broker.message",
        "from amqpd import broker",
    ])
    modules = {"amqpd.store.sqlite", "amqpd.broker", "amqpd.broker.queue", "amqpd.broker.message"}
    assert upward(imports_in(source, "amqpd.store.writer", False, modules)) == [
        "amqpd.store.writer (store/auth) imports amqpd.broker.queue (broker) at line 5",
        "amqpd.store.writer (store/auth) imports amqpd.broker.message (broker) at line 7",
        "amqpd.store.writer (store/auth) imports amqpd.broker (broker) at line 8",
    ]
    relative = "from ..session import channel\nfrom . import queue\n"
    assert upward(imports_in(relative, "amqpd.broker.vhost", False, {"amqpd.session.channel", "amqpd.broker.queue"})) == [
        "amqpd.broker.vhost (broker) imports amqpd.session.channel (session) at line 1"]
