"""WeaklyReferable: the base of the compiled classes the management plane holds weakly.

The management plane keeps its per-object samples in weak dictionaries (management/objstats.py),
keyed by vhosts, connections, channels, exchanges and queues. Interpreted, every class can be weakly
referenced; a class compiled by mypyc (scripts/build-accelerated) gets a ``__weakref__`` slot only
when a base is an interpreted class, so these classes take this empty one. (The queues have
QueueType's ABC.) This module itself is never compiled.
"""


class WeaklyReferable:
    """An interpreted base: gives a mypyc-compiled subclass ``__weakref__`` (and ``__dict__``)."""
