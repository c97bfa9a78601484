"""Store compaction by the API server: one interval of history kept, one compactor per round, caches survive."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from orchestra.api.registry import by_kind
from orchestra.apiserver.compaction import COMPACT_REV_KEY, Compactor
from orchestra.apiserver.registry_storage import StorageRegistry
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.apiserver.storage import ListOptions, RequestContext
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import CompactedError, open_store

CTX = RequestContext(UserInfo("admin"))
#: A safety net so a stuck compactor fails the test instead of hanging it (not a timing assertion).
PATIENCE = 20.0


@pytest.fixture(params=["memory", "file", "sqlite", "etcd"])
async def store(request, tmp_path):
    """A fresh store of each backend (etcd is shared, so tests use their own keys there)."""
    name = request.param
    if name == "memory":
        url = "memory://"
    elif name == "file":
        url = f"file://{tmp_path / 'store'}"
    elif name == "sqlite":
        url = f"sqlite://{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("etcd_url")
    opened = await open_store(url, plugin_manager=get_plugin_manager(load_entrypoints=False))
    if name == "etcd":
        # etcd is shared by the module: start each test without a compaction record of an earlier one.
        await opened.delete_range(COMPACT_REV_KEY)
    try:
        yield opened
    finally:
        await opened.close()


async def compacted(store, key: bytes, revision: int) -> bool:
    """Whether a read of ``key`` at ``revision`` fails because that revision was compacted."""
    try:
        await store.range(key, revision=revision)
    except CompactedError:
        return True
    return False


async def test_compacts_to_the_revision_recorded_one_tick_earlier(store):
    key = f"/test/{uuid.uuid4().hex}".encode()
    before = (await store.put(key, b"0")).revision
    compactor = Compactor(store, 0)
    assert await compactor.tick() is False  # the first round only records a revision
    recorded = compactor.revision
    assert recorded > before
    after = (await store.put(key, b"1")).revision
    assert not await compacted(store, key, before)

    assert await compactor.tick() is True
    assert await compacted(store, key, before)
    assert not await compacted(store, key, recorded)  # the recorded revision itself is kept
    assert (await store.get(key, revision=after)).value == b"1"
    assert (await store.get(key)).value == b"1"
    assert int((await store.get(COMPACT_REV_KEY)).value) == recorded
    assert compactor.compactions == 1


async def test_two_servers_on_one_store_compact_once_per_round(store):
    first, second = Compactor(store, 0), Compactor(store, 0)
    assert [await first.tick(), await second.tick()] == [False, False]
    # The second lost the compare-and-swap and adopted the key's version: it wins the next round alone.
    version = (await store.get(COMPACT_REV_KEY)).version
    assert second.compact_time == version
    results = [await second.tick(), await first.tick()]
    assert results == [True, False]
    assert second.compactions == 1 and first.compactions == 0
    assert (await store.get(COMPACT_REV_KEY)).version == version + 1


async def test_an_already_compacted_revision_is_not_an_error(store):
    key = f"/test/{uuid.uuid4().hex}".encode()
    await store.put(key, b"0")
    compactor = Compactor(store, 0)
    await compactor.tick()
    await store.put(key, b"1")
    await store.compact(await store.current_revision())  # someone compacted further already
    assert await compactor.tick() is False
    assert compactor.compactions == 0


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        Compactor(None, -1)


async def test_api_server_compacts_in_the_background_and_serves_on():
    server = await APIServer.create("memory://", anonymous_admin=True, compaction_interval=0.02)
    try:
        configmaps = server.storage.storage(by_kind("v1", "ConfigMap"))
        first = await configmaps.create("default", {"metadata": {"name": "a"}, "data": {"i": "0"}}, CTX)
        old = int(first["metadata"]["resourceVersion"])

        async def until_compacted():
            while not await compacted(server.store, b"/", old):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(until_compacted(), PATIENCE)
        assert server.compactor.compactions >= 1
        # The watch cache keeps following the store after compaction.
        stream = configmaps.watch("default", ListOptions(resource_version=str(await server.store.current_revision())))
        await configmaps.patch("default", "a", "merge", orjson.dumps({"data": {"i": "1"}}), CTX)
        event = await asyncio.wait_for(anext(aiter(stream)), PATIENCE)
        assert event.type == "MODIFIED" and event.object["data"] == {"i": "1"}
    finally:
        await server.close()
    assert server.compactor._task is None


async def test_api_server_with_interval_zero_never_compacts():
    server = await APIServer.create("memory://", anonymous_admin=True, compaction_interval=0)
    try:
        assert server.compactor._task is None
        assert await server.store.get(COMPACT_REV_KEY) is None
    finally:
        await server.close()


async def test_api_server_refuses_a_negative_interval():
    with pytest.raises(ValueError, match="compaction_interval"):
        await APIServer.create("memory://", compaction_interval=-5)


async def test_a_watch_behind_the_compacted_revision_is_gone():
    store = await open_store("memory://")
    registry = StorageRegistry(store, plugin_manager=get_plugin_manager(load_entrypoints=False), window_events=2)
    await registry.start()
    try:
        configmaps = registry.storage(by_kind("v1", "ConfigMap"))
        first = await configmaps.create("default", {"metadata": {"name": "a"}, "data": {"i": "0"}}, CTX)
        compactor = Compactor(store, 0)
        await compactor.tick()
        for i in range(5):
            await configmaps.patch("default", "a", "merge", orjson.dumps({"data": {"i": str(i)}}), CTX)
        assert await compactor.tick() is True
        rv = first["metadata"]["resourceVersion"]
        assert await compacted(store, b"/", int(rv))
        await configmaps.cache.wait_for_revision(await store.current_revision())
        events = [e async for e in configmaps.watch(None, ListOptions(resource_version=rv))]
        assert [e.type for e in events] == ["ERROR"]
        assert events[0].object["code"] == 410
        assert events[0].object["message"].startswith(f"too old resource version: {rv} ")
        listed = await configmaps.list("default", ListOptions())
        assert [item["data"] for item in listed["items"]] == [{"i": "4"}]
    finally:
        await registry.stop()
        await store.close()
