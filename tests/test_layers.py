"""The layers of docs/architecture.md hold: no module of amqpd imports from a layer above its own.

Every module under amqpd/ is parsed (not imported) and every import in it counts: at module
level, inside functions, and under ``if TYPE_CHECKING:``, since a type-only back edge still
ties a lower layer to the shape of a higher one. Imports within a layer are allowed.

An import across layers goes through the imported package's face: it names the package
(``from amqpd.broker import Settle``), never a module inside it, and only names the package's
``__init__.py`` lists in ``__all__``. Within a package, modules import each other by full module
path and never take a name from their own package's ``__init__`` (which imports them: a cycle).
The package root ``amqpd`` and the single modules of the foundation and the command (settings,
logs, patterns, config, cli) have no face; imports of them are not checked here.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

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
    "amqpd.patterns": 0,  # users' regular expressions, matched under a time limit
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
    "amqpd.ctl": 6,
    "amqpd.testing": 6,  # Broker in-process, the vhost handle and the pytest plugin (docs/testing.md)  # amqpctl: an HTTP client of the API (tests/ctl/test_ctl_imports.py keeps it one)
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


@dataclass(frozen=True)
class Statement:
    """One import statement: `from module import names`, or `import module` (names None);
    a relative module is resolved."""

    line: int
    module: str
    names: tuple[str, ...] | None

    def __str__(self) -> str:
        return f"import {self.module}" if self.names is None else f"from {self.module} import {', '.join(self.names)}"


def statements_in(source: str, importer: str, is_package: bool) -> list[Statement]:
    """Every import statement in the source, wherever it stands (one per module of `import a, b`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Statement(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = importer.split(".")
                package = package[:len(package) - node.level + (1 if is_package else 0)]
                base = ".".join(package + ([base] if base else []))
            found.append(Statement(node.lineno, base, tuple(alias.name for alias in node.names)))
    return sorted(found, key=lambda s: (s.line, s.module))


def imports_in(source: str, importer: str, is_package: bool, modules: set[str]) -> list[Import]:
    """Every import of an amqpd module in the source, wherever it stands; `from X import y`
    names the module X.y when y is a module, else X."""
    found = []
    for statement in statements_in(source, importer, is_package):
        if statement.names is None:
            found.append(Import(importer, statement.module, statement.line))
        for name in statement.names or ():
            submodule = f"{statement.module}.{name}"
            found.append(Import(importer, submodule if submodule in modules else statement.module, statement.line))
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


def faces(root: Path = PACKAGE) -> dict[str, frozenset[str]]:
    """Each package of amqpd and its face: the names its __init__.py lists in ``__all__``
    (a literal list; none is an empty face)."""
    found = {}
    for init in sorted(root.glob("*/__init__.py")):
        names: list[str] = []
        for node in ast.parse(init.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
                names = ast.literal_eval(node.value)
        found[module_name(init, root)] = frozenset(names)
    return found


def package_of(module: str, packages: Iterable[str]) -> str | None:
    """The package of amqpd a module is or lies in; None for the root and single modules."""
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def around_faces(statements: list[Statement], importer: str, faces: dict[str, frozenset[str]],
                 modules: set[str]) -> list[str]:
    """The imports that cross a layer past a package's face, or take a name from the importer's
    own package's __init__; each as 'importer line N: statement: what is wrong'."""
    problems = []
    own = package_of(importer, faces)
    for statement in statements:
        where = f"{importer} line {statement.line}: {statement}"
        targets = [(statement.module, statement.names)]
        if statement.module == "amqpd" and statement.names:  # `from amqpd import broker`
            targets = [(f"amqpd.{name}", None) for name in statement.names]
        for module, names in targets:
            package = package_of(module, faces)
            if package is None:
                continue
            if package == own:
                taken = [n for n in names or () if module == package and f"{package}.{n}" not in modules]
                if taken:
                    problems.append(f"{where}: takes {', '.join(taken)} from its own package's __init__"
                                    " (an import cycle); import the module that defines it")
            elif layer_of(package) == layer_of(importer):
                continue
            elif module != package:
                problems.append(f"{where}: {module} is inside {package}; import from {package}, its face")
            elif names is None:
                problems.append(f"{where}: name what is used, from {package} import ...")
            else:
                hidden = [n for n in names if n not in faces[package]]
                if hidden:
                    problems.append(f"{where}: {', '.join(hidden)} not in {package}.__all__, its face")
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


def test_imports_across_layers_go_through_package_faces():
    modules = all_modules()
    package_faces = faces()
    problems = []
    for name, path in modules.items():
        statements = statements_in(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        problems += around_faces(statements, name, package_faces, set(modules))
    assert not problems, "imports past a package's face:\n" + "\n".join(problems)


def test_every_name_of_a_face_is_defined_by_its_package():
    missing = [f"{package}.{name}" for package, names in faces().items()
               for name in sorted(names) if not hasattr(importlib.import_module(package), name)]
    assert missing == []


def test_the_check_finds_imports_past_a_face():
    """A planted session module reaching into the broker and the protocol, and a planted broker
    module taking a name from its own package's __init__: each is reported with importer,
    line and the offending import; imports through the face, within the package by module
    path, and of the single modules pass."""
    source = "\n".join([
        "from amqpd.broker import QueueType, Settle",  # through the face: fine
        "from amqpd.broker.queue_type import Settle",
        "from amqpd.protocol import errors, shortstr",
        "import amqpd.broker.queue",
        "from amqpd import broker, settings",
        "from amqpd.session import reply_to",  # own package, a module: fine
        "from amqpd.session.connection import Connection",  # own package, by module path: fine
        "from amqpd.settings import Settings",  # a single module: fine
        "from ..broker.node import Node",
    ])
    test_faces = {"amqpd.broker": frozenset({"QueueType", "Settle"}), "amqpd.protocol": frozenset({"errors"}),
                  "amqpd.session": frozenset({"Connection"})}
    modules = {"amqpd.broker.queue_type", "amqpd.broker.queue", "amqpd.broker.node", "amqpd.protocol.errors",
               "amqpd.session.reply_to", "amqpd.session.connection", "amqpd.settings"}
    assert around_faces(statements_in(source, "amqpd.session.basic", False), "amqpd.session.basic", test_faces,
                        modules) == [
        "amqpd.session.basic line 2: from amqpd.broker.queue_type import Settle: amqpd.broker.queue_type is"
        " inside amqpd.broker; import from amqpd.broker, its face",
        "amqpd.session.basic line 3: from amqpd.protocol import errors, shortstr: shortstr not in"
        " amqpd.protocol.__all__, its face",
        "amqpd.session.basic line 4: import amqpd.broker.queue: amqpd.broker.queue is inside amqpd.broker;"
        " import from amqpd.broker, its face",
        "amqpd.session.basic line 5: from amqpd import broker, settings: name what is used,"
        " from amqpd.broker import ...",
        "amqpd.session.basic line 9: from amqpd.broker.node import Node: amqpd.broker.node is inside"
        " amqpd.broker; import from amqpd.broker, its face",
    ]
    own = "from amqpd.broker import cc, Settle\nfrom amqpd.broker.queue_type import Settle\n"
    assert around_faces(statements_in(own, "amqpd.broker.queue", False), "amqpd.broker.queue", test_faces,
                        {"amqpd.broker.cc", "amqpd.broker.queue_type"}) == [
        "amqpd.broker.queue line 1: from amqpd.broker import cc, Settle: takes Settle from its own package's"
        " __init__ (an import cycle); import the module that defines it"]
