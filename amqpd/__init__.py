from importlib.util import find_spec

__version__ = "0.1.0"


def compiled() -> bool:
    """Whether the per-message path runs compiled: scripts/build-accelerated put its mypyc
    modules, and their shared library amqpd/_compiled__mypyc, beside the .py files."""
    return find_spec("amqpd._compiled__mypyc") is not None
