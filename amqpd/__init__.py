from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

__version__ = "0.1.0"


def compiled() -> bool:
    """Whether the per-message path runs compiled: scripts/build-accelerated put its mypyc
    modules, and their shared library _compiled__mypyc, beside this package's .py files (looked
    for in this directory alone: an editable install may add another checkout to the path)."""
    here = Path(__file__).parent
    return any((here / f"_compiled__mypyc{suffix}").exists() for suffix in EXTENSION_SUFFIXES)
