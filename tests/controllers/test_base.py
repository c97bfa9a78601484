"""The shared controller shape: shared informers, workers, retries, one key at a time."""

from __future__ import annotations

import asyncio

from orchestra.controllers.base import Controller, InformerFactory, controller_ref, parse_time, split_key
from tests.controllers.conftest import eventually


class Recording(Controller):
    """A controller whose sync records what it saw (and fails once per key when asked)."""

    name = "recording"

    def setup(self) -> None:
        self.synced: list[str] = []
        self.active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}
        self.fail_once: set[str] = set()
        self.release = asyncio.Event()
        self.informers.informer("configmaps").add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)

    async def sync(self, key: str) -> None:
        self.active[key] = self.active.get(key, 0) + 1
        self.max_active[key] = max(self.max_active.get(key, 0), self.active[key])
        try:
            await self.release.wait()
            self.synced.append(key)
            if key in self.fail_once:
                self.fail_once.discard(key)
                raise RuntimeError("transient")
        finally:
            self.active[key] -= 1


def test_helpers():
    assert split_key("ns/name") == ("ns", "name") and split_key("node-1") == (None, "node-1")
    assert controller_ref({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b", "controller": True}]}})["uid"] == "b"
    assert parse_time("2026-01-01T00:00:00Z") == 1767225600.0 and parse_time("nonsense") is None


async def test_informers_are_shared_per_kind(client):
    factory = InformerFactory(client)
    assert factory.informer("configmaps") is factory.informer("ConfigMap")
    assert factory.informer("replicasets") is factory.informer("replicasets.apps")
    assert set(factory.informers) == {"configmaps", "replicasets.apps"}


async def test_informers_share_the_servers_objects_unless_told_not_to(client):
    assert InformerFactory(client).informer("pods").shared
    copies = InformerFactory(client, shared=False).informer("pods")
    assert copies.raw and not copies.shared


async def test_one_key_is_never_synced_twice_at_once(client, factory):
    controller = Recording(client, factory, workers=4)
    factory.start()
    await factory.wait_synced(10)
    await controller.start()
    try:
        for _ in range(5):
            controller.enqueue("default/a")
            controller.enqueue("default/b")
            await asyncio.sleep(0)
        await eventually(lambda: _value(controller.active.get("default/a") == 1 and controller.active.get("default/b") == 1))
        controller.release.set()
        await eventually(lambda: _value(controller.synced.count("default/a") >= 2 and controller.synced.count("default/b") >= 2))
        assert controller.max_active == {"default/a": 1, "default/b": 1}
    finally:
        await controller.stop()


async def test_failed_sync_is_retried_and_counted(client, factory):
    controller = Recording(client, factory, workers=2)
    controller.fail_once.add("default/cfg")
    controller.release.set()
    factory.start()
    await factory.wait_synced(10)
    await controller.start()
    try:
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}})
        await eventually(lambda: _value(controller.synced.count("default/cfg") == 2))
        assert controller.metrics.errors == 1 and controller.metrics.syncs >= 2
        assert controller.queue.num_requeues("default/cfg") == 0  # forgotten after the successful retry
    finally:
        await controller.stop()


async def _value(value):
    return value


def _pod(name: str, owner_uid: str | None = None, namespace: str = "default") -> dict:
    metadata: dict = {"name": name, "namespace": namespace, "labels": {"app": "x"}}
    if owner_uid:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                        "uid": owner_uid, "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


async def test_the_controller_index_follows_owners_and_orphans(client, factory):
    index = factory.controller_index("pods")
    assert factory.controller_index("pods") is index  # shared
    factory.start()
    await factory.wait_synced(10)
    await client.create(_pod("a", "uid-1"), raw=True)
    await client.create(_pod("b", "uid-1"), raw=True)
    await client.create(_pod("c"), raw=True)
    await client.create(_pod("d", namespace="kube-system"), raw=True)

    def names(objects):
        return sorted(o["metadata"]["name"] for o in objects)

    await eventually(lambda: _async(names(index.owned("uid-1")) == ["a", "b"]))
    assert names(index.orphans("default")) == ["c"] and names(index.orphans("kube-system")) == ["d"]
    owner = {"metadata": {"uid": "uid-1", "namespace": "default"}}
    assert names(index.candidates(owner)) == ["a", "b", "c"]
    # adopted: moves from the orphans to its owner; released and deleted: leaves
    c = await client.get("pods", "c", namespace="default", raw=True)
    c["metadata"]["ownerReferences"] = _pod("c", "uid-1")["metadata"]["ownerReferences"]
    await client.update(c, raw=True)
    await client.delete("pods", "a", namespace="default", grace_period_seconds=0)
    await eventually(lambda: _async(names(index.owned("uid-1")) == ["b", "c"] and index.orphans("default") == []))
    assert index.owned(None) == [] and index.owned("nobody") == []


async def _async(value):
    return value
