"""The ``memory://`` store backend: a volatile store inside this process.

Everything lives in the MVCC kernel (:class:`orchestra._ext.kvstore.MVCCStore`)
behind :class:`~orchestra.plugins.stores.embedded.EmbeddedStore`; nothing is
written anywhere, so the data is gone when the store is closed or the process
ends. Each ``open_store("memory://…")`` returns a new, empty store. It is the
fastest backend: embedded clusters, tests and benchmarks use it.
"""

from __future__ import annotations

from orchestra.hookspecs import hookimpl
from orchestra.plugins.stores.embedded import EmbeddedStore

__all__ = ["orchestra_store_open", "orchestra_store_schemes"]

SCHEME = "memory"


@hookimpl
def orchestra_store_open(url: str, scheme: str) -> EmbeddedStore | None:
    """A new empty volatile store for a ``memory://`` URL; ``None`` for other schemes."""
    if scheme != SCHEME:
        return None
    return EmbeddedStore(url)


@hookimpl
def orchestra_store_schemes() -> list[str]:
    """The one scheme this plugin serves: ``memory``."""
    return [SCHEME]
