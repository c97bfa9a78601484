"""The watch index: pod events reach only the watchers pinned to the pod's old or new node, plus unindexed ones."""

from __future__ import annotations

import random

import orjson
import pytest

from orchestra.api.selectors import FieldSelector, LabelSelector
from orchestra.apiserver.strategy import strategy_for
from orchestra.apiserver.watchcache import CacheEvent, WatchCache
from orchestra.apiserver.watchindex import WatchIndex, indexed_fields
from orchestra.store import open_store

POD_FIELDS = strategy_for("pods", True).field_set
NOTHING = LabelSelector.parse("")


def pod(name: str, node: str = "", labels: dict | None = None, phase: str = "Pending") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {}},
        "spec": spec, "status": {"phase": phase},
    }


def key(name: str) -> bytes:
    return f"/registry/pods/default/{name}".encode()


@pytest.fixture
async def cache():
    store = await open_store("memory://")
    cache = WatchCache(store, "pods", POD_FIELDS, bookmark_interval=0.05)
    await cache.start()
    yield cache
    await cache.stop()
    await store.close()


async def put(cache: WatchCache, obj: dict) -> None:
    await cache.store.put(key(obj["metadata"]["name"]), orjson.dumps(obj))
    await cache.wait_fresh()


async def delete(cache: WatchCache, name: str) -> None:
    await cache.store.delete_range(key(name))
    await cache.wait_fresh()


def watch(cache: WatchCache, fields: str = "", labels: str = "", namespace: str | None = None):
    return cache.open_watcher(namespace, LabelSelector.parse(labels), FieldSelector.parse(fields),
                              initial=False, since=None)


def drain(watcher) -> list[tuple[str, str, str]]:
    """(type, name, nodeName) of every buffered event, emptying the buffer."""
    out = []
    while watcher.buffer:
        event = watcher.buffer.popleft()
        out.append((event.type, event.object["metadata"]["name"], event.object["spec"].get("nodeName", "")))
    return out


def test_pods_are_indexed_by_node_name_and_other_kinds_by_nothing():
    assert indexed_fields("pods") == ("spec.nodeName",)
    assert indexed_fields("configmaps") == ()


async def test_watchers_are_filed_by_the_node_they_pin_and_the_rest_are_unindexed(cache):
    on_n1 = watch(cache, "spec.nodeName=n1")
    on_n1_labelled = watch(cache, "spec.nodeName=n1", labels="app=web")
    not_n1 = watch(cache, "spec.nodeName!=n1")
    by_name = watch(cache, "metadata.name=a")
    everything = watch(cache)
    index = cache._watchers
    assert isinstance(index, WatchIndex) and len(index) == cache.watcher_count == 5
    assert set(index) == {on_n1, on_n1_labelled, not_n1, by_name, everything}
    event = CacheEvent("ADDED", key("a"), 10, pod("a", "n2"), None, "default")
    assert set(index.candidates(event)) == {not_n1, by_name, everything}
    event = CacheEvent("ADDED", key("a"), 10, pod("a", "n1"), None, "default")
    assert set(index.candidates(event)) == {on_n1, on_n1_labelled, not_n1, by_name, everything}
    on_n1.close()
    on_n1_labelled.close()
    assert on_n1 not in index and len(index) == 3
    assert set(index.candidates(event)) == {not_n1, by_name, everything}


async def test_a_pod_moving_between_nodes_is_deleted_from_one_and_added_to_the_other(cache):
    n1, n2, unscheduled, everything = (watch(cache, "spec.nodeName=n1"), watch(cache, "spec.nodeName=n2"),
                                       watch(cache, "spec.nodeName="), watch(cache))
    await put(cache, pod("a"))
    assert drain(unscheduled) == [("ADDED", "a", "")] and drain(n1) == [] and drain(n2) == []
    await put(cache, pod("a", "n1"))
    assert drain(unscheduled) == [("DELETED", "a", "")]
    assert drain(n1) == [("ADDED", "a", "n1")] and drain(n2) == []
    await put(cache, pod("a", "n1", phase="Running"))
    assert drain(n1) == [("MODIFIED", "a", "n1")] and drain(n2) == [] and drain(unscheduled) == []
    await put(cache, pod("a", "n2", phase="Running"))
    # The watcher of n1 gets the pod's previous state, at the move's resourceVersion.
    moved_off = n1.buffer[0]
    assert drain(n1) == [("DELETED", "a", "n1")] and drain(n2) == [("ADDED", "a", "n2")]
    assert moved_off.object["metadata"]["resourceVersion"] == str(cache.revision)
    await delete(cache, "a")
    assert drain(n2) == [("DELETED", "a", "n2")] and drain(n1) == [] and drain(unscheduled) == []
    assert [t for t, _, _ in drain(everything)] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]


async def test_indexed_watchers_still_apply_labels_and_namespaces(cache):
    web = watch(cache, "spec.nodeName=n1", labels="app=web")
    other_namespace = watch(cache, "spec.nodeName=n1", namespace="other")
    await put(cache, pod("a", "n1", labels={"app": "db"}))
    await put(cache, pod("b", "n1", labels={"app": "web"}))
    await put(cache, pod("a", "n1", labels={"app": "web"}))
    assert drain(web) == [("ADDED", "b", "n1"), ("ADDED", "a", "n1")]
    assert drain(other_namespace) == []


@pytest.mark.parametrize("seed", range(6))
async def test_every_watcher_gets_exactly_what_unindexed_dispatch_would_give(cache, seed):
    """Random pods moving among nodes, relabelled, deleted: each watcher's events equal its filter's verdicts."""
    rng = random.Random(seed)
    nodes = ["", "n1", "n2", "n3"]
    selectors = [("spec.nodeName=" + n, "") for n in nodes] + [
        ("spec.nodeName=n1", "app=web"), ("spec.nodeName!=n2", ""), ("", "app=web"), ("", ""),
        ("metadata.name=p1,spec.nodeName=n3", ""), ("status.phase=Running", ""),
    ]
    watchers = [watch(cache, f, labels=l) for f, l in selectors]
    start = cache.revision
    alive: dict[str, dict] = {}
    for _ in range(60):
        name = f"p{rng.randrange(5)}"
        if name in alive and rng.random() < 0.2:
            del alive[name]
            await delete(cache, name)
            continue
        alive[name] = pod(name, rng.choice(nodes), labels={"app": rng.choice(["web", "db"])},
                          phase=rng.choice(["Pending", "Running"]))
        await put(cache, alive[name])
    events = [e for e in cache._window if e.revision > start]
    assert len(events) == 60
    for watcher in watchers:
        expected = [converted for e in events if (converted := watcher.convert(e)) is not None]
        assert list(watcher.buffer) == expected
