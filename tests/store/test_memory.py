"""The ``memory://`` plugin: it opens volatile embedded stores and names its scheme."""

from __future__ import annotations

from orchestra.plugins.stores import memory
from orchestra.plugins.stores.embedded import EmbeddedStore


def test_opens_memory_urls_only():
    store = memory.orchestra_store_open(url="memory://", scheme="memory")
    assert isinstance(store, EmbeddedStore)
    assert store.url == "memory://"
    assert memory.orchestra_store_open(url="file:///tmp/x", scheme="file") is None


def test_each_open_is_a_new_empty_store():
    first = memory.orchestra_store_open(url="memory://", scheme="memory")
    first.core.put(b"a", b"1")
    second = memory.orchestra_store_open(url="memory://", scheme="memory")
    assert second.core.revision == 0


def test_schemes():
    assert memory.orchestra_store_schemes() == ["memory"]


async def test_open_store_through_the_plugin_manager():
    from orchestra.plugin_manager import get_plugin_manager
    from orchestra.store import open_store

    pm = get_plugin_manager(block=["stores.file", "stores.sqlite", "stores.etcd"], load_entrypoints=False)
    store = await open_store("memory://", plugin_manager=pm)
    try:
        assert isinstance(store, EmbeddedStore)
        assert (await store.put(b"a", b"1")).revision == 1
    finally:
        await store.close()
