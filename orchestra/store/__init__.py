"""The store: etcd v3 semantics behind one async interface, backends chosen by URL.

>>> store = await open_store("memory://")
>>> await store.put(b"/registry/pods/default/web", b"...")

Schemes are provided by store plugins (``plugins/stores/``): ``memory://``,
``file:///path``, ``sqlite:///path`` and ``etcd://host:port[,host:port…]``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pluggy

from orchestra.plugin_manager import await_maybe, get_plugin_manager
from orchestra.store.base import Store, Watcher
from orchestra.store.errors import *  # noqa: F403 - the error types are part of this package's API
from orchestra.store.errors import InvalidStoreURLError, UnknownSchemeError
from orchestra.store.errors import __all__ as _errors_all
from orchestra.store.types import *  # noqa: F403
from orchestra.store.types import __all__ as _types_all

__all__ = ["open_store", "store_schemes", "Store", "Watcher", *_types_all, *_errors_all]


def store_schemes(pm: pluggy.PluginManager | None = None) -> list[str]:
    """Every URL scheme the registered store plugins open."""
    pm = pm or get_plugin_manager()
    return sorted({s for schemes in pm.hook.orchestra_store_schemes() for s in schemes})


async def open_store(url: str, *, plugin_manager: pluggy.PluginManager | None = None) -> Store:
    """Open the store at ``url`` through the first store plugin that serves its scheme.

    Raises :class:`UnknownSchemeError` (listing the known schemes) when no plugin
    does, and :class:`InvalidStoreURLError` when ``url`` has no scheme.
    """
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise InvalidStoreURLError(url, "a store URL starts with a scheme, e.g. memory:// or file:///path")
    pm = plugin_manager or get_plugin_manager()
    store = await await_maybe(pm.hook.orchestra_store_open(url=url, scheme=scheme))
    if store is None:
        raise UnknownSchemeError(url, scheme, store_schemes(pm))
    return store
