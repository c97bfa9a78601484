"""Pod watch fan-out with 1,000 node agents' watches: the watch index against offering every event to every watch.

Run with ``pytest benchmarks/e2e/bench_watch_fanout.py --benchmark-enable``. A pods watch cache
holds 1,000 watchers pinned to ``spec.nodeName=node-<i>`` (one per simulated node agent) and
5 unindexed ones (scheduler, controllers, an observer); each round records 2,000 pod events
(1,000 pods created unscheduled, then bound to a node) through the cache's dispatch. The
``indexed`` case is the cache as built (pods indexed by ``spec.nodeName``); the ``scan`` case
indexes nothing, so every event is offered to every watcher, as before the index. Compare the
two rows of the same run (the ratio), not absolute times: the machine is shared.
"""

from __future__ import annotations

import asyncio

import pytest

from orchestra.api.selectors import FieldSelector, LabelSelector
from orchestra.apiserver.strategy import strategy_for
from orchestra.apiserver.watchcache import CacheEvent, WatchCache
from orchestra.apiserver.watchindex import WatchIndex, indexed_fields

NODES = 1_000
PODS = 1_000
POD_FIELDS = strategy_for("pods", True).field_set


def _pod(i: int, node: str) -> dict:
    spec: dict = {"containers": [{"name": "app", "image": "registry.local/app:1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "default", "labels": {"app": "a"}, "resourceVersion": "1"},
            "spec": spec, "status": {"phase": "Pending"}}


def _events() -> list[CacheEvent]:
    events = []
    for i in range(PODS):
        key = f"/registry/pods/default/p{i}".encode()
        created = _pod(i, "")
        events.append(CacheEvent("ADDED", key, 2 * i + 1, created, None))
        events.append(CacheEvent("MODIFIED", key, 2 * i + 2, _pod(i, f"node-{i % NODES}"), created))
    return events


def _cache(indexed: bool) -> WatchCache:
    cache = WatchCache(None, "pods", POD_FIELDS, window_events=100)  # type: ignore[arg-type]
    if not indexed:
        cache._watchers = WatchIndex(POD_FIELDS, ())
    nothing = LabelSelector.parse("")
    for i in range(NODES):
        cache.open_watcher(None, nothing, FieldSelector.parse(f"spec.nodeName=node-{i}"), initial=False, since=None)
    for _ in range(5):
        cache.open_watcher(None, nothing, FieldSelector.parse(""), initial=False, since=None)
    return cache


def _dispatch(cache: WatchCache) -> int:
    events = _events()  # fresh: each CacheEvent caches its field labels and converted events
    for event in events:
        cache._record(event)
    delivered = sum(len(w.buffer) for w in cache._watchers)
    for watcher in cache._watchers:
        watcher.buffer.clear()
    return delivered


@pytest.mark.parametrize("mode", ["indexed", "scan"])
def test_pod_events_to_node_watches(benchmark, mode):
    assert indexed_fields("pods")
    cache = asyncio.run(_make(mode == "indexed"))
    delivered = benchmark(_dispatch, cache)
    # every pod: 5 unindexed watchers see ADDED and MODIFIED, its node's watcher sees one ADDED
    assert delivered == PODS * (2 * 5 + 1)
    benchmark.extra_info.update({"nodes": NODES, "events": 2 * PODS, "mode": mode})


async def _make(indexed: bool) -> WatchCache:
    return _cache(indexed)  # the cache's asyncio.Event wants a running loop on older Pythons
