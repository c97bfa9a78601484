"""Events expire: one store lease per window of writes, every write renewing the object's life."""

from __future__ import annotations

import asyncio

import pytest

from orchestra.api.registry import by_kind
from orchestra.apiserver.expiry import ExpiryLeases
from orchestra.apiserver.registry_storage import StorageRegistry
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.apiserver.storage import ListOptions, RequestContext
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import Lease, open_store

CTX = RequestContext(UserInfo("admin"))
#: A safety net so an event that never expires fails the test instead of hanging it.
PATIENCE = 20.0


class GrantingStore:
    """Just enough of a store for ExpiryLeases: grants leases with increasing IDs, remembers their TTLs."""

    def __init__(self) -> None:
        self.granted: list[int] = []

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        self.granted.append(ttl)
        return Lease(len(self.granted), ttl)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def lease(leases: ExpiryLeases, ttl: int) -> int:
    """What the API server attaches an expiring object to."""
    return leases.reusable(ttl) or await leases.grant(ttl)


async def test_one_lease_serves_the_writes_of_its_window():
    store, clock = GrantingStore(), Clock()
    leases = ExpiryLeases(store, clock=clock)  # type: ignore[arg-type]
    first = await lease(leases, 3600)
    assert store.granted == [3660]  # the TTL and the 60 s window (5% of an hour is more)
    clock.now += 59
    assert await lease(leases, 3600) == first  # every object on it still lives at least an hour
    clock.now += 1
    assert await lease(leases, 3600) == 2 and store.granted == [3660, 3660]


async def test_a_short_ttl_gets_a_window_of_five_percent_and_a_lease_holds_at_most_max_objects():
    store, clock = GrantingStore(), Clock()
    leases = ExpiryLeases(store, clock=clock, max_objects=3)  # type: ignore[arg-type]
    assert [await lease(leases, 100) for _ in range(4)] == [1, 1, 1, 2]
    assert store.granted == [105, 105]
    one_second = ExpiryLeases(store, clock=clock)  # type: ignore[arg-type]
    assert await lease(one_second, 1) != await lease(one_second, 1)  # no window: a lease per write


async def test_a_forgotten_lease_is_not_handed_out_again():
    store = GrantingStore()
    leases = ExpiryLeases(store, clock=Clock())  # type: ignore[arg-type]
    first = await lease(leases, 3600)
    leases.forget()
    assert await lease(leases, 3600) != first


@pytest.fixture(params=["memory", "file", "etcd"])
def store_url(request, tmp_path) -> str:
    """A store of each backend that expires leases on its own (etcd shared by the module)."""
    if request.param == "memory":
        return "memory://"
    if request.param == "file":
        return f"file://{tmp_path / 'store'}"
    return request.getfixturevalue("etcd_url")


def event(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled", "message": "assigned", "type": "Normal", "count": 1}


async def test_an_event_goes_when_its_ttl_ends_and_other_objects_stay(store_url, tmp_path):
    store = await open_store(store_url, plugin_manager=get_plugin_manager(load_entrypoints=False))
    registry = StorageRegistry(store, event_ttl=1)
    try:
        await registry.start()
        events, config_maps = registry.storage(by_kind("v1", "Event")), registry.storage(by_kind("v1", "ConfigMap"))
        suffix = tmp_path.name[-20:].lower().replace("_", "-")
        name = f"ev-{suffix}"
        before = str(await store.current_revision())
        await events.create("default", event(name), CTX)
        await config_maps.create("default", {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": f"cm-{suffix}"}}, CTX)
        key = events.key("default", name)
        assert (await store.get(key)).lease != 0
        assert (await store.get(config_maps.key("default", f"cm-{suffix}"))).lease == 0
        # A watch from before the write starts the Events cache there (it is cached only once watched).
        seen = []
        stream = events.watch("default", ListOptions(resource_version=before))
        try:
            async with asyncio.timeout(PATIENCE):
                async for change in stream:
                    if change.object["metadata"].get("name") == name:
                        seen.append(change.type)
                        if change.type == "DELETED":
                            break
        finally:
            await stream.aclose()
        assert seen == ["ADDED", "DELETED"]
        assert await store.get(key) is None and events.cache.get(key) is None
        assert await store.get(config_maps.key("default", f"cm-{suffix}")) is not None
    finally:
        await registry.stop()
        await store.close()


async def test_every_write_of_an_event_renews_its_life():
    store = await open_store("memory://", plugin_manager=get_plugin_manager(load_entrypoints=False))
    registry = StorageRegistry(store, event_ttl=10)  # under 20 s the window is 0: each write a lease of its own
    try:
        await registry.start()
        events = registry.storage(by_kind("v1", "Event"))
        await events.create("default", event("ev"), CTX)
        key = events.key("default", "ev")
        created_on = (await store.get(key)).lease
        await events.patch("default", "ev", "application/merge-patch+json", b'{"count": 2}', CTX)
        renewed_on = (await store.get(key)).lease
        assert renewed_on not in (0, created_on)
        status = await store.lease_time_to_live(renewed_on, keys=True)
        assert status.keys == [key] and status.granted_ttl == 10
        assert key not in (await store.lease_time_to_live(created_on, keys=True)).keys
    finally:
        await registry.stop()
        await store.close()


async def test_a_ttl_of_zero_keeps_events_and_a_negative_one_is_refused():
    store = await open_store("memory://", plugin_manager=get_plugin_manager(load_entrypoints=False))
    registry = StorageRegistry(store, event_ttl=0)
    try:
        await registry.start()
        events = registry.storage(by_kind("v1", "Event"))
        await events.create("default", event("kept"), CTX)
        assert (await store.get(events.key("default", "kept"))).lease == 0
    finally:
        await registry.stop()
        await store.close()
    with pytest.raises(ValueError, match="event_ttl must be >= 0 seconds, got -1"):
        await APIServer.create("memory://", event_ttl=-1)
