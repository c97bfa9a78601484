"""Watches from the watch cache: start revisions, expiry, bookmarks, initial events, selector transitions."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from orchestra.api.registry import by_kind
from orchestra.api.selectors import FieldSelector, LabelSelector
from orchestra.apiserver.errors import Invalid
from orchestra.apiserver.registry_storage import StorageRegistry
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.storage import ListOptions, RequestContext
from orchestra.apiserver.watchcache import INITIAL_EVENTS_END_ANNOTATION, WatchCache, WatchEvent
from orchestra.bus import EventBus
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import open_store

CTX = RequestContext(UserInfo("admin"))
#: A safety net so a broken watch fails the test instead of hanging it (not a timing assertion).
PATIENCE = 10.0


async def make_registry(**kwargs):
    store = await open_store("memory://")
    reg = StorageRegistry(store, plugin_manager=get_plugin_manager(load_entrypoints=False), **kwargs)
    await reg.start()
    return store, reg


@pytest.fixture
async def registry():
    store, reg = await make_registry(bookmark_interval=0.05)
    yield reg
    await reg.stop()
    await store.close()


@pytest.fixture
async def idle_bus():
    """A registry over a fresh memory store, with an event bus nobody subscribes to yet: ``(bus, registry)``."""
    bus = EventBus()
    store, reg = await make_registry(bus=bus)
    yield bus, reg
    await reg.stop()
    await store.close()


@pytest.fixture
def configmaps(registry):
    return registry.storage(by_kind("v1", "ConfigMap"))


@pytest.fixture
def pods(registry):
    return registry.storage(by_kind("v1", "Pod"))


def configmap(name="cm", labels=None, data=None):
    meta = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"a": "1"}}


def pod(name="web", labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


async def take(stream, n, *, skip_bookmarks=True):
    """The next ``n`` events (bookmarks skipped unless asked for)."""
    events = []

    async def run():
        async for event in stream:
            if skip_bookmarks and event.type == "BOOKMARK":
                continue
            events.append(event)
            if len(events) == n:
                return

    await asyncio.wait_for(run(), PATIENCE)
    return events


async def now(storage):
    """The store's current revision as a resourceVersion: a watch from it sees every later change."""
    return str(await storage.store.current_revision())


def summary(events):
    return [(e.type, e.object["metadata"].get("name")) for e in events]


# --------------------------------------------------------------------------- start revisions


async def test_watch_without_resource_version_sends_current_objects_then_changes(configmaps):
    await configmaps.create("default", configmap("a"), CTX)
    await configmaps.create("default", configmap("b"), CTX)
    stream = configmaps.watch("default", ListOptions())
    assert summary(await take(stream, 2)) == [("ADDED", "a"), ("ADDED", "b")]
    await configmaps.patch("default", "a", "merge", b'{"data":{"a":"2"}}', CTX)
    await configmaps.delete("default", "b", {}, CTX)
    events = await take(stream, 2)
    assert summary(events) == [("MODIFIED", "a"), ("DELETED", "b")]
    assert events[0].object["data"] == {"a": "2"}
    await stream.aclose()


async def test_watch_from_zero_starts_from_the_cache(configmaps):
    created = await configmaps.create("default", configmap("a"), CTX)
    await configmaps.cache.wait_for_revision(int(created["metadata"]["resourceVersion"]))
    stream = configmaps.watch(None, ListOptions(resource_version="0"))
    assert summary(await take(stream, 1)) == [("ADDED", "a")]
    await stream.aclose()


async def test_watch_from_a_revision_sends_only_later_changes(configmaps):
    first = await configmaps.create("default", configmap("a"), CTX)
    await configmaps.create("default", configmap("b"), CTX)
    await configmaps.patch("default", "a", "merge", b'{"data":{"x":"y"}}', CTX)
    stream = configmaps.watch(None, ListOptions(resource_version=first["metadata"]["resourceVersion"]))
    events = await take(stream, 2)
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a")]
    revisions = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and revisions[0] > int(first["metadata"]["resourceVersion"])
    await stream.aclose()


async def test_deleted_events_carry_the_deletion_revision(configmaps):
    created = await configmaps.create("default", configmap("a"), CTX)
    stream = configmaps.watch(None, ListOptions(resource_version=created["metadata"]["resourceVersion"]))
    await configmaps.delete("default", "a", {}, CTX)
    (event,) = await take(stream, 1)
    assert event.type == "DELETED"
    assert int(event.object["metadata"]["resourceVersion"]) == await configmaps.store.current_revision()
    await stream.aclose()


async def test_too_old_resource_version_is_one_error_event_then_the_end():
    store, reg = await make_registry(window_events=2)
    try:
        configmaps = reg.storage(by_kind("v1", "ConfigMap"))
        first = await configmaps.create("default", configmap("a"), CTX)
        for i in range(5):
            await configmaps.patch("default", "a", "merge", orjson.dumps({"data": {"i": str(i)}}), CTX)
        await configmaps.cache.wait_for_revision(await store.current_revision())
        rv = first["metadata"]["resourceVersion"]
        events = [e async for e in configmaps.watch(None, ListOptions(resource_version=rv))]
        assert len(events) == 1 and events[0].type == "ERROR"
        status = events[0].object
        assert status["code"] == 410 and status["reason"] == "Expired"
        assert status["message"] == f"too old resource version: {rv} ({configmaps.cache.oldest})"
    finally:
        await reg.stop()
        await store.close()


async def test_future_resource_version_is_an_error_event(configmaps):
    future = str(await configmaps.store.current_revision() + 1000)
    events = [e async for e in configmaps.watch(None, ListOptions(resource_version=future))]
    assert [e.type for e in events] == ["ERROR"] and events[0].object["code"] == 504


async def test_timeout_seconds_ends_the_stream(configmaps):
    events = await asyncio.wait_for(
        _collect(configmaps.watch(None, ListOptions(resource_version="0", timeout_seconds=0))), PATIENCE
    )
    assert events == []


async def _collect(stream):
    return [e async for e in stream]


# --------------------------------------------------------------------------- bookmarks and initial events


async def test_bookmarks_carry_the_current_revision(configmaps):
    created = await configmaps.create("default", configmap("a"), CTX)
    stream = configmaps.watch(None, ListOptions(resource_version="0", allow_watch_bookmarks=True))
    events = await take(stream, 2, skip_bookmarks=False)
    events = [e for e in events if e.type == "BOOKMARK"] or await take(stream, 1, skip_bookmarks=False)
    bookmark = events[0]
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object["kind"] == "ConfigMap" and bookmark.object["apiVersion"] == "v1"
    assert int(bookmark.object["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    await stream.aclose()


async def test_no_bookmarks_unless_asked(configmaps):
    await configmaps.create("default", configmap("a"), CTX)
    events = await asyncio.wait_for(
        _collect(configmaps.watch(None, ListOptions(timeout_seconds=1))), PATIENCE
    )
    assert [e.type for e in events] == ["ADDED"]


async def watch_with_initial_events(configmaps):
    """ConfigMaps ``a`` and ``b``, and a watch that sends them as initial events, then its annotated bookmark."""
    await configmaps.create("default", configmap("a"), CTX)
    await configmaps.create("default", configmap("b"), CTX)
    options = ListOptions(
        send_initial_events=True, resource_version_match="NotOlderThan", allow_watch_bookmarks=True
    )
    return configmaps.watch(None, options)


async def test_send_initial_events_ends_them_with_an_annotated_bookmark(configmaps):
    stream = await watch_with_initial_events(configmaps)
    events = await take(stream, 3, skip_bookmarks=False)
    assert [e.type for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    end = events[2].object["metadata"]
    assert end["annotations"] == {INITIAL_EVENTS_END_ANNOTATION: "true"}
    assert int(end["resourceVersion"]) >= max(int(e.object["metadata"]["resourceVersion"]) for e in events[:2])
    await configmaps.create("default", configmap("c"), CTX)
    assert summary(await take(stream, 1)) == [("ADDED", "c")]
    await stream.aclose()


async def test_batches_take_every_buffered_event_a_step_and_a_bookmark_alone(configmaps):
    stream = await watch_with_initial_events(configmaps)
    batches = stream.batches()
    initial = await asyncio.wait_for(anext(batches), PATIENCE)
    assert summary(initial) == [("ADDED", "a"), ("ADDED", "b")]
    with pytest.raises(RuntimeError, match="already being read"):
        stream.batches()
    (end,) = await asyncio.wait_for(anext(batches), PATIENCE)
    assert end.type == "BOOKMARK"
    assert end.object["metadata"]["annotations"] == {INITIAL_EVENTS_END_ANNOTATION: "true"}
    # a burst of writes while the consumer is away arrives as one step, in order
    for name in ("c", "d", "e"):
        await configmaps.create("default", configmap(name), CTX)
    await configmaps.delete("default", "a", {}, CTX)
    burst = await asyncio.wait_for(anext(batches), PATIENCE)
    assert summary(burst) == [("ADDED", "c"), ("ADDED", "d"), ("ADDED", "e"), ("DELETED", "a")]
    watchers = configmaps.cache.watcher_count
    await stream.aclose()
    assert configmaps.cache.watcher_count == watchers - 1


async def test_batches_of_a_watch_that_cannot_start_are_one_error(configmaps):
    future = str(await configmaps.store.current_revision() + 1000)
    batches = [batch async for batch in configmaps.watch(None, ListOptions(resource_version=future)).batches()]
    assert [[e.type for e in batch] for batch in batches] == [["ERROR"]]
    assert batches[0][0].object["code"] == 504


async def test_a_stream_closed_early_closes_its_watcher(bare):
    store, cache = bare
    await cache.start()
    watcher = cache.open_watcher(None, LabelSelector.parse(""), FieldSelector.parse(""), initial=False, since=None)
    stream = cache.stream(watcher, api_version="v1", kind="ConfigMap", bookmarks=False,
                          initial_events_end=False, timeout_seconds=None)
    await put_configmap(store, "a")
    await put_configmap(store, "b")
    assert summary(await take(stream, 1)) == [("ADDED", "a")]
    await stream.aclose()
    assert watcher.closed and cache.watcher_count == 0


async def test_send_initial_events_false_starts_from_now(configmaps):
    await configmaps.create("default", configmap("a"), CTX)
    options = ListOptions(
        send_initial_events=False, resource_version_match="NotOlderThan", allow_watch_bookmarks=True
    )
    stream = configmaps.watch(None, options)
    first = await take(stream, 1, skip_bookmarks=False)  # start the generator: registers the watcher
    assert first[0].type == "BOOKMARK"
    await configmaps.create("default", configmap("b"), CTX)
    assert summary(await take(stream, 1)) == [("ADDED", "b")]
    await stream.aclose()


async def test_send_initial_events_needs_not_older_than_and_bookmarks(configmaps):
    with pytest.raises(Invalid) as info:
        configmaps.watch(None, ListOptions(send_initial_events=True))
    message = info.value.message
    assert "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan" in message
    assert "sendInitialEvents requires setting allowWatchBookmarks to true" in message
    with pytest.raises(Invalid, match="resourceVersionMatch is forbidden for watch"):
        configmaps.watch(None, ListOptions(resource_version_match="NotOlderThan", resource_version="1"))


# --------------------------------------------------------------------------- filtering


async def test_label_selector_transitions_are_added_and_deleted(configmaps):
    selector = LabelSelector.parse("app=web")
    stream = configmaps.watch(None, ListOptions(label_selector=selector, resource_version=await now(configmaps)))
    await configmaps.create("default", configmap("a", labels={"app": "db"}), CTX)
    await configmaps.patch("default", "a", "merge", b'{"metadata":{"labels":{"app":"web"}}}', CTX)
    await configmaps.patch("default", "a", "merge", b'{"data":{"b":"2"}}', CTX)
    await configmaps.patch("default", "a", "merge", b'{"metadata":{"labels":{"app":"db"}}}', CTX)
    events = await take(stream, 3)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    deleted = events[2].object
    assert deleted["metadata"]["labels"] == {"app": "web"}  # the last state that matched
    assert int(deleted["metadata"]["resourceVersion"]) == await configmaps.store.current_revision()
    await stream.aclose()


async def test_field_selector_transition_when_a_pod_is_bound(pods):
    selector = FieldSelector.parse("spec.nodeName=n1")
    stream = pods.watch(None, ListOptions(field_selector=selector, resource_version=await now(pods)))
    await pods.create("default", pod("a"), CTX)
    await pods.create("default", pod("b"), CTX)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "n1"}}
    await pods.bind("default", "b", binding, CTX)
    events = await take(stream, 1)
    assert summary(events) == [("ADDED", "b")] and events[0].object["spec"]["nodeName"] == "n1"
    await stream.aclose()


async def test_namespace_watch_sees_only_its_namespace(configmaps):
    stream = configmaps.watch("kube-system", ListOptions(resource_version=await now(configmaps)))
    await configmaps.create("default", configmap("a"), CTX)
    await configmaps.create("kube-system", configmap("b"), CTX)
    assert summary(await take(stream, 1)) == [("ADDED", "b")]
    await stream.aclose()


# --------------------------------------------------------------------------- fan-out


async def test_watchers_share_one_encoded_line_per_event(configmaps):
    rv = await now(configmaps)
    streams = [configmaps.watch(None, ListOptions(resource_version=rv)) for _ in range(3)]
    await configmaps.create("default", configmap("a"), CTX)
    events = [(await take(stream, 1))[0] for stream in streams]
    lines = [e.json_line() for e in events]
    assert lines[0] is lines[1] is lines[2]
    decoded = orjson.loads(lines[0])
    assert decoded["type"] == "ADDED" and decoded["object"]["metadata"]["name"] == "a"
    assert lines[0].endswith(b"\n")
    for stream in streams:
        await stream.aclose()
    assert configmaps.cache.watcher_count == 0


def test_watch_event_json_line_is_encoded_once():
    event = WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "4"}})
    assert event.json_line() is event.json_line()
    assert orjson.loads(event.json_line()) == {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "4"}}}


async def next_published(subscription, wanted):
    """The next event of the bus ``subscription`` that ``wanted`` accepts."""

    async def find():
        async for e in subscription:
            if wanted(e):
                return e

    return await asyncio.wait_for(find(), PATIENCE)


async def test_changes_are_published_on_the_event_bus(idle_bus):
    bus, reg = idle_bus
    subscription = bus.subscribe()
    configmaps = reg.storage(by_kind("v1", "ConfigMap"))
    created = await configmaps.create("default", configmap("a"), CTX)
    event = await next_published(subscription, lambda e: e.resource == "configmaps")
    assert (event.type, event.namespace, event.name) == ("ADDED", "default", "a")
    assert event.revision == int(created["metadata"]["resourceVersion"])


@pytest.fixture
async def bare():
    """A fresh memory store and a ConfigMap watch cache over it, not started: ``(store, cache)``."""
    store = await open_store("memory://")
    cache = WatchCache(store, "configmaps", lambda obj: {})
    yield store, cache
    await cache.stop()
    await store.close()


async def put_configmap(store, name: str) -> int:
    """Write ConfigMap ``name`` in ``default`` straight to the store; the write's revision."""
    key = f"/registry/configmaps/default/{name}".encode()
    return (await store.put(key, orjson.dumps({"metadata": {"name": name, "namespace": "default"}}))).revision


async def test_cache_lists_again_after_losing_its_store_watch(bare):
    store, cache = bare
    await put_configmap(store, "a")
    await cache.start()
    assert [o["metadata"]["name"] for o in cache.snapshot(None)] == ["a"]
    await cache._store_watcher.cancel()  # the store watch ends: the cache must list again
    await put_configmap(store, "b")
    assert await cache.wait_for_revision(await store.current_revision(), timeout=PATIENCE)
    assert [o["metadata"]["name"] for o in cache.snapshot("default")] == ["a", "b"]


async def test_a_cache_started_late_from_a_past_revision_serves_watches_from_it(bare):
    store, cache = bare
    a = await put_configmap(store, "a")
    await put_configmap(store, "b")
    cache.expect(b"/registry/configmaps/default/b", b"{}", {})  # not running: nothing is kept
    assert not cache.running and cache.expected(b"/registry/configmaps/default/b") is None
    listings = []
    store_range = store.range

    async def counted_range(*args, **kwargs):
        listings.append(kwargs.get("revision"))
        return await store_range(*args, **kwargs)

    store.range = counted_range
    await asyncio.gather(cache.start(a), cache.start(a))
    assert listings == [a]  # concurrent starts: one listing, at the revision asked for
    assert cache.running and cache.oldest == a
    watcher = cache.open_watcher(None, LabelSelector.parse(""), FieldSelector.parse(""), initial=False, since=a)
    stream = cache.stream(watcher, api_version="v1", kind="ConfigMap", bookmarks=False,
                          initial_events_end=False, timeout_seconds=None)
    (event,) = await take(stream, 1)
    assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "b")
    assert cache.revision == await store.current_revision()


async def test_a_cache_started_from_a_revision_the_store_no_longer_has_starts_from_the_current_one(bare):
    store, cache = bare
    a = await put_configmap(store, "a")
    current = await put_configmap(store, "a")
    await store.compact(current)
    await cache.start(a)
    assert cache.oldest == current and [o["metadata"]["name"] for o in cache.snapshot(None)] == ["a"]


# --------------------------------------------------------------------------- Events: cached when watched


def event(name, reason="Scheduled"):
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": name.split(".")[0]},
            "reason": reason, "message": "m", "type": "Normal", "count": 1}


async def test_events_are_read_from_the_store_until_first_watched_then_from_their_cache(registry):
    events = registry.storage(by_kind("v1", "Event"))
    assert not events.cache.running  # no bus: nobody reads an Events cache yet
    first = await events.create("default", event("a.1"), CTX)
    assert not events.cache.objects  # the write went to the store only
    assert (await events.get("default", "a.1", resource_version="0"))["reason"] == "Scheduled"
    for rv in (None, "0", first["metadata"]["resourceVersion"]):
        listing = await events.list("default", ListOptions(resource_version=rv))
        assert [e["metadata"]["name"] for e in listing["items"]] == ["a.1"]
    selected = await events.list(None, ListOptions(field_selector=FieldSelector.parse("involvedObject.name=b")))
    assert selected["items"] == []

    # kubectl get events -w: a list, writes, then a watch from the list's resourceVersion
    listed = await events.list("default", ListOptions())
    await events.create("default", event("b.1"), CTX)
    stream = events.watch("default", ListOptions(resource_version=listed["metadata"]["resourceVersion"]))
    assert summary(await take(stream, 1)) == [("ADDED", "b.1")]
    assert events.cache.running
    await events.create("default", event("c.1"), CTX)
    assert summary(await take(stream, 1)) == [("ADDED", "c.1")]
    await stream.aclose()
    listing = await events.list("default", ListOptions())
    assert [e["metadata"]["name"] for e in listing["items"]] == ["a.1", "b.1", "c.1"]


async def test_with_a_subscriber_on_the_event_bus_the_events_cache_runs_from_the_start():
    bus = EventBus()
    bus.subscribe()
    store, reg = await make_registry(bus=bus)
    try:
        assert reg.storage(by_kind("v1", "Event")).cache.running
    finally:
        await reg.stop()
        await store.close()


async def test_an_idle_event_bus_gets_nothing_published_and_keeps_no_events_cache(idle_bus):
    _, reg = idle_bus
    configmaps = reg.storage(by_kind("v1", "ConfigMap"))
    published = []
    configmaps.cache._publish = published.append  # the one place a cache builds a bus event
    await configmaps.create("default", configmap("a"), CTX)
    assert "a" in [o["metadata"]["name"] for o in configmaps.cache.snapshot("default")]
    assert published == []
    assert not reg.storage(by_kind("v1", "Event")).cache.running


async def test_the_first_bus_subscriber_starts_the_events_cache_and_misses_no_event_after_it_subscribed(idle_bus):
    bus, reg = idle_bus
    events = reg.storage(by_kind("v1", "Event"))
    await events.create("default", event("before.1"), CTX)
    subscription = bus.subscribe(accept=lambda e: getattr(e, "resource", None) == "events")
    # written before the cache's start (a task) has run: it must still reach the subscriber
    written = await events.create("default", event("after.1"), CTX)
    published = await next_published(subscription, lambda e: e.name == "after.1")
    assert (published.type, published.revision) == ("ADDED", int(written["metadata"]["resourceVersion"]))
    assert events.cache.running
    assert sorted(o["metadata"]["name"] for o in events.cache.snapshot("default")) == ["after.1", "before.1"]
    await events.create("default", event("later.1"), CTX)
    assert (await asyncio.wait_for(anext(subscription), PATIENCE)).name == "later.1"


def test_a_subscriber_may_subscribe_while_the_registry_loop_is_not_running():
    bus = EventBus()
    loop = asyncio.new_event_loop()
    try:
        store, reg = loop.run_until_complete(make_registry(bus=bus))
        bus.subscribe()  # from plain code, between two runs of the loop
        events = reg.storage(by_kind("v1", "Event")).cache

        async def started():
            while not events.running:
                await asyncio.sleep(0.01)

        loop.run_until_complete(asyncio.wait_for(started(), PATIENCE))
        loop.run_until_complete(reg.stop())
        loop.run_until_complete(store.close())
    finally:
        loop.close()


async def test_a_watcher_wait_ends_on_an_event_or_its_time_and_leaves_no_waiter():
    from types import SimpleNamespace

    from orchestra.apiserver.watchcache import CacheWatcher, WatchEvent

    watcher = CacheWatcher(SimpleNamespace(_watchers=set()), None, LabelSelector.everything(),
                           FieldSelector.everything(), 10)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(watcher.wait(loop.time() + 0.01), 10)  # nothing arrives: the time ends the wait
    assert not watcher.buffer and watcher._waiter is None
    waiting = asyncio.ensure_future(watcher.wait(loop.time() + 3600))
    await asyncio.sleep(0)
    watcher.push(WatchEvent("ADDED", {"metadata": {"name": "x"}}))
    await asyncio.wait_for(waiting, 10)  # the event wakes it long before the timeout
    assert len(watcher.buffer) == 1 and watcher._waiter is None
    watcher.buffer.clear()
    cancelled = asyncio.ensure_future(watcher.wait(loop.time() + 3600))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert watcher._waiter is None


async def test_waits_until_one_time_share_one_timer_and_a_spent_or_closed_one_is_not_kept():
    from types import SimpleNamespace

    from orchestra.apiserver.watchcache import CacheWatcher, WatchEvent

    watcher = CacheWatcher(SimpleNamespace(_watchers=set()), None, LabelSelector.everything(),
                           FieldSelector.everything(), 10)
    loop = asyncio.get_running_loop()
    until = loop.time() + 3600
    timers = []
    for _ in range(2):
        waiting = asyncio.ensure_future(watcher.wait(until))
        await asyncio.sleep(0)
        timers.append(watcher._timer)
        watcher.push(WatchEvent("ADDED", {"metadata": {"name": "x"}}))
        await asyncio.wait_for(waiting, 10)
        watcher.buffer.clear()
    assert timers[0] is not None and timers[0] is timers[1]  # armed once for both waits
    await asyncio.wait_for(watcher.wait(loop.time() + 0.01), 10)  # another time: its own timer ends the wait
    assert watcher._timer is None and timers[0].cancelled()
    waiting = asyncio.ensure_future(watcher.wait(until))
    await asyncio.sleep(0)
    armed = watcher._timer
    watcher.close()
    await asyncio.wait_for(waiting, 10)
    assert armed is not None and armed.cancelled() and watcher._timer is None


async def test_an_expected_write_is_kept_as_handed_over_and_anything_else_is_decoded(registry, configmaps):
    cache = configmaps.cache
    key = configmaps.key("default", "a")
    value = orjson.dumps(configmap("a"))
    handed = orjson.loads(value)
    cache.expect(key, value, handed)
    await registry.store.put(key, value)
    await cache.wait_fresh()
    assert cache.get(key) is handed and handed["metadata"]["resourceVersion"]
    # Other bytes than announced: the value is decoded, whatever was handed over.
    cache.expect(key, value, {"not": "used"})
    changed = orjson.dumps(configmap("a", data={"a": "2"}))
    await registry.store.put(key, changed)
    await cache.wait_fresh()
    assert cache.get(key)["data"] == {"a": "2"}
    # A forgotten expectation is never used.
    cache.expect(key, value, {"not": "used"})
    cache.forget(key)
    await registry.store.put(key, value)
    await cache.wait_fresh()
    assert cache.get(key)["data"] == {"a": "1"}


async def test_created_and_bound_objects_in_the_cache_equal_the_stored_ones(registry, pods):
    created = await pods.create("default", pod("p"), CTX, owned=True)
    await pods.bind("default", "p", {"metadata": {"name": "p"}, "target": {"name": "n1"}}, CTX)
    await pods.cache.wait_fresh()
    key = pods.key("default", "p")
    kv = await registry.store.get(key)
    stored = orjson.loads(kv.value)
    stored["metadata"]["resourceVersion"] = str(kv.mod_revision)
    assert pods.cache.get(key) == stored and stored["spec"]["nodeName"] == "n1"
    assert created["metadata"]["uid"] == stored["metadata"]["uid"]
