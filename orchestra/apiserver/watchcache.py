"""The watch cache: one per resource, the current objects plus a window of recent events.

A :class:`WatchCache` lists its store prefix, then watches it from the next
revision. It keeps

- every current object (wire dicts with ``metadata.resourceVersion`` set), for
  ``resourceVersion=0`` lists and gets and for the initial events of watches;
- a window of the most recent events (``window_events``, 10,000 by default), so a
  watch may start from any revision the window still covers; older ones get an
  ``ERROR`` event with a 410 ``Expired`` Status
  (``too old resource version: N (M)``), as Kubernetes' cacher answers.

Each store event becomes one :class:`CacheEvent`; the :class:`WatchEvent` values a
watcher receives are built from it lazily, at most once per shape (the event as
is, the object seen as ``ADDED``, the previous object seen as ``DELETED``), and
each encodes its JSON line once, so fan-out to many watchers costs one encode.

A watcher with selectors sees transitions as Kubernetes' cacher shows them: an
object that starts matching arrives as ``ADDED``, one that stops matching as
``DELETED`` (its previous state, at the event's resourceVersion).

A cache may start late, from a past revision (:meth:`WatchCache.start`): the API
server starts the Events cache only when Events are first watched (see
:mod:`orchestra.apiserver.registry_storage`), from the revision the watch asks for.

The cache also publishes every change on the :class:`~orchestra.bus.EventBus`, while the bus
has a subscriber.
If its store watch fails (a compaction outran it, the store restarted), the cache
lists again and ends every open watch so clients re-watch, as Kubernetes does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any, AsyncIterator, Callable, Sequence

import attrs
import orjson

from orchestra.api.selectors import EQUALS, FieldSelector, LabelSelector
from orchestra.apiserver.errors import APIError, Gone
from orchestra.apiserver.watchindex import WatchIndex, indexed_fields
from orchestra.bus import EventBus, ObjectEvent
from orchestra.records import maker
from orchestra.store import Change, CompactedError, FutureRevisionError, Store, StoreError, prefix_range

__all__ = [
    "WatchEvent",
    "CacheEvent",
    "CacheWatcher",
    "WatchCache",
    "TooLargeResourceVersion",
    "field_selector_matches",
    "error_event",
    "DEFAULT_WINDOW_EVENTS",
    "DEFAULT_BOOKMARK_INTERVAL",
    "DEFAULT_WATCHER_BUFFER",
    "INITIAL_EVENTS_END_ANNOTATION",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_EVENTS = 10_000
#: Seconds between bookmarks to a watcher that asked for them (Kubernetes sends one about every minute).
DEFAULT_BOOKMARK_INTERVAL = 60.0
#: Events a watcher may have waiting before it is ended (a client that cannot keep up re-watches).
DEFAULT_WATCHER_BUFFER = 10_000
#: Decoded values a cache holds for writes whose events have not arrived yet (past it, it forgets them all).
_EXPECTED_LIMIT = 4096
#: How long a request waits for the cache to reach a revision before giving up (Kubernetes: 3 s).
FRESHNESS_TIMEOUT = 3.0
INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"


class TooLargeResourceVersion(APIError):
    """504: the requested resourceVersion is newer than the store (Kubernetes' ``Too large resource version``)."""

    code, reason = 504, "Timeout"


@attrs.define
class WatchEvent:
    """One event of a watch stream: ``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK`` or ``ERROR``.

    ``object`` is the wire object (an ``ERROR`` carries a ``Status`` dict). The
    JSON line is encoded on first use and shared by every watcher. Not frozen (every change
    makes one, and a frozen attrs object costs several times more to build), but shared
    by the watchers: never change one.
    """

    type: str
    object: dict
    _line: list = attrs.field(factory=list, init=False, eq=False, repr=False)

    def json_line(self) -> bytes:
        """``{"type":…,"object":…}`` plus a newline, encoded once."""
        if not self._line:
            self._line.append(orjson.dumps({"type": self.type, "object": self.object}) + b"\n")
        return self._line[0]


def _with_resource_version(obj: dict, revision: int) -> dict:
    meta = dict(obj.get("metadata") or {})
    meta["resourceVersion"] = str(revision)
    copied = dict(obj)
    copied["metadata"] = meta
    return copied


@attrs.define(eq=False)
class CacheEvent:
    """One change of one object, as the cache saw it from the store.

    The watch events and field labels at the end are worked out on first use, once per
    event (left out, they are None). Every change makes one: the cache makes it with
    :data:`_cache_event`, slot by slot.
    """

    type: str
    key: bytes
    revision: int
    #: The object after the change (for DELETED: its last state, at the delete's resourceVersion).
    object: dict
    #: The object before the change (None for ADDED).
    prev: dict | None
    #: The object's namespace ("" for a cluster-scoped one).
    namespace: str
    _as_is: WatchEvent | None = None
    _events: dict[str, WatchEvent] | None = None
    _fields: dict[str, str] | None = None
    _prev_fields: dict[str, str] | None = None

    def as_is(self) -> WatchEvent:
        """The event as it happened (one object shared by every watcher)."""
        event = self._as_is
        if event is None:
            event = self._as_is = WatchEvent(self.type, self.object)
        return event

    def as_added(self) -> WatchEvent:
        """The object, seen as ADDED (it started matching a watcher's selectors)."""
        return self._event("ADDED", lambda: self.object)

    def as_deleted(self) -> WatchEvent:
        """The previous object at this event's resourceVersion, seen as DELETED (it stopped matching)."""
        assert self.prev is not None
        return self._event("DELETED", lambda: _with_resource_version(self.prev, self.revision))

    def _event(self, type: str, build: Callable[[], dict]) -> WatchEvent:
        if self._events is None:
            self._events = {}
        event = self._events.get(type)
        if event is None:
            event = self._events[type] = WatchEvent(type, build())
        return event

    def fields(self, field_set: Callable[[dict], dict[str, str]]) -> dict[str, str]:
        """The object's field labels (computed once)."""
        if self._fields is None:
            self._fields = field_set(self.object)
        return self._fields

    def prev_fields(self, field_set: Callable[[dict], dict[str, str]]) -> dict[str, str]:
        """The previous object's field labels (computed once)."""
        if self._prev_fields is None:
            self._prev_fields = field_set(self.prev or {})
        return self._prev_fields


#: Makes a CacheEvent from its first six fields, slot by slot.
_cache_event = maker(CacheEvent)


def field_selector_matches(selector: FieldSelector, fields: dict[str, str]) -> bool:
    """Whether a kind's field labels satisfy every term of ``selector``."""
    for r in selector.requirements:
        equal = fields.get(r.field, "") == r.value
        if equal != (r.operator == EQUALS):
            return False
    return True


class CacheWatcher:
    """One open watch on a cache: its filters and its buffer of events not yet taken."""

    def __init__(
        self,
        cache: "WatchCache",
        namespace: str | None,
        label_selector: LabelSelector,
        field_selector: FieldSelector,
        maxsize: int,
    ) -> None:
        self.cache = cache
        self.namespace = namespace or None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.maxsize = maxsize
        self.buffer: collections.deque[WatchEvent] = collections.deque()
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        #: The timer that ends a wait at :attr:`_timer_at` (loop time), kept from one wait to the
        #: next while the time stays the same: every event would otherwise arm and cancel one.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._filters = not label_selector.empty or not field_selector.empty
        #: Every event reaches this watcher as it happened (:meth:`convert` would return
        #: ``event.as_is()``): no namespace, no selectors.
        self._sees_all = self.namespace is None and not self._filters

    def matches_object(self, obj: dict) -> bool:
        """Whether ``obj`` passes this watcher's namespace and selectors."""
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if not self.label_selector.matches(meta.get("labels")):
            return False
        return self.field_selector.empty or field_selector_matches(
            self.field_selector, self.cache.field_set(obj)
        )

    def _passes(self, obj: dict, fields: Callable[[], dict[str, str]]) -> bool:
        if not self.label_selector.matches((obj.get("metadata") or {}).get("labels")):
            return False
        return self.field_selector.empty or field_selector_matches(self.field_selector, fields())

    def convert(self, event: CacheEvent) -> WatchEvent | None:
        """What this watcher sees of ``event`` (None: nothing)."""
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        if not self._filters:
            return event.as_is()
        field_set = self.cache.field_set
        current = event.type != "DELETED" and self._passes(event.object, lambda: event.fields(field_set))
        if event.type == "DELETED":
            previous = self._passes(event.object, lambda: event.fields(field_set))
            return event.as_is() if previous else None
        previous = event.prev is not None and self._passes(event.prev, lambda: event.prev_fields(field_set))
        if current and previous:
            return event.as_is()
        if current:
            return event.as_added()
        if previous:
            return event.as_deleted()
        return None

    def offer(self, event: CacheEvent) -> None:
        """Queue what this watcher sees of ``event``; end the watcher if it fell too far behind."""
        if self.closed:
            return
        watch_event = event.as_is() if self._sees_all else self.convert(event)
        if watch_event is None:
            return
        if len(self.buffer) >= self.maxsize:
            log.info("watcher of %s fell %d events behind; ending it", self.cache.resource, self.maxsize)
            self.close()
            return
        self.buffer.append(watch_event)
        self._wake()

    def push(self, event: WatchEvent) -> None:
        """Queue an already converted event."""
        self.buffer.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        """End the watch: buffered events are still delivered, then the stream ends."""
        if not self.closed:
            self.closed = True
            self.cache._watchers.discard(self)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = self._timer_at = None
            self._wake()

    async def wait(self, until: float | None) -> None:
        """Wait until an event is buffered, the watcher closes, or the loop's clock reaches ``until``."""
        if self.buffer or self.closed:
            return
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        # A timer that wakes the waiter, rather than asyncio.wait (a task set, callbacks and a
        # timer per call); the same one for every wait until the same time.
        if until != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None if until is None else loop.call_at(until, self._time_up)
            self._timer_at = until
        try:
            await waiter
        finally:
            self._waiter = None

    def _time_up(self) -> None:
        self._timer = self._timer_at = None  # spent: the next wait arms another, even for the same time
        self._wake()


class WatchCache:
    """The current objects of one resource and a window of its recent events.

    :param store: the store to list and watch.
    :param resource: the plural resource name (``pods``), also the key prefix ``/registry/<resource>/``.
    :param field_set: the kind's field labels (``obj -> {label: value}``).
    :param bus: where every change is published (optional).
    :param window_events: how many recent events are kept for watches from an older revision.
    :param bookmark_interval: seconds between bookmarks to watchers that allow them.
    :param watcher_buffer: events a watcher may have waiting before it is ended.
    """

    def __init__(
        self,
        store: Store,
        resource: str,
        field_set: Callable[[dict], dict[str, str]],
        *,
        bus: EventBus | None = None,
        window_events: int = DEFAULT_WINDOW_EVENTS,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        watcher_buffer: int = DEFAULT_WATCHER_BUFFER,
    ) -> None:
        self.store = store
        self.resource = resource
        self.prefix = f"/registry/{resource}/".encode()
        self.field_set = field_set
        self.bus = bus
        self.window_events = window_events
        self.bookmark_interval = bookmark_interval
        self.watcher_buffer = watcher_buffer
        #: Current objects by key.
        self.objects: dict[bytes, dict] = {}
        #: The store revision the cache has seen every change up to.
        self.revision = 0
        #: The oldest revision a watch may start from (its events after it are all in the window).
        self.oldest = 0
        self._window: collections.deque[CacheEvent] = collections.deque()
        #: Open watchers, those pinning an indexed field (pods' spec.nodeName) filed by its value.
        self._watchers = WatchIndex(field_set, indexed_fields(resource))
        self._store_watcher: Any = None
        self._task: asyncio.Task[None] | None = None
        self._progress_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._ready = asyncio.Event()
        self._stopping = False
        #: Decoded forms of values being written through this server: ``key -> (value, object)``.
        self._expected: dict[bytes, tuple[bytes, dict]] = {}
        self._start_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the cache follows the store: started and not stopped."""
        return self._task is not None

    async def start(self, revision: int = 0) -> None:
        """List the prefix and start following it; returns once the cache holds the listing.

        ``revision``: list the prefix as it was at this revision and follow it from the next,
        so that watches from ``revision`` on can be served; 0 (or a revision the store has
        compacted or not reached yet): the current revision. Concurrent calls start it once.
        """
        async with self._start_lock:
            if self._task is None:
                await self._relist(revision)
                self._task = asyncio.get_running_loop().create_task(self._run(), name=f"watchcache-{self.resource}")

    async def stop(self) -> None:
        """Stop following the store and end every open watch."""
        self._stopping = True
        if self._store_watcher is not None:
            await self._store_watcher.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        for watcher in list(self._watchers):
            watcher.close()

    def expect(self, key: bytes, value: bytes, obj: dict) -> None:
        """Say that ``value``, about to be written to ``key``, decodes to ``obj``.

        When the write's event arrives with exactly these bytes, the cache keeps ``obj``
        instead of decoding the value again, so ``obj`` (and everything in it but its
        ``metadata``, which the cache stamps with the resourceVersion) must not change
        from now on. A write that fails should be :meth:`forget`-ed; a stale entry is
        harmless, as only identical bytes are ever matched. A cache that is not running
        takes nothing: it would never see the write's event.
        """
        if self._task is None:
            return
        expected = self._expected
        if len(expected) >= _EXPECTED_LIMIT:
            expected.clear()
        expected[key] = (value, obj)

    def expected(self, key: bytes) -> tuple[bytes, dict] | None:
        """What :meth:`expect` last said of ``key`` and its event has not yet consumed: ``(value, obj)``."""
        return self._expected.get(key)

    def forget(self, key: bytes) -> None:
        """Drop what :meth:`expect` said of ``key`` (its write did not happen)."""
        self._expected.pop(key, None)

    async def _relist(self, revision: int = 0) -> None:
        self._expected.clear()
        start, end = prefix_range(self.prefix)
        # A read at a past revision reports the store's current revision: the listing is as of ``listed_at``.
        result, listed_at = None, revision
        if revision:
            try:
                result = await self.store.range(start, end, revision=revision)
            except (CompactedError, FutureRevisionError):
                result = None
        if result is None:
            result = await self.store.range(start, end)
            listed_at = result.revision
        objects = {}
        for kv in result.kvs:
            obj = orjson.loads(kv.value)
            obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
            objects[kv.key] = obj
        self.objects = objects
        self.revision = listed_at
        self.oldest = listed_at
        self._window.clear()
        for watcher in list(self._watchers):
            watcher.close()
        if self._store_watcher is not None:
            await self._store_watcher.cancel()
        self._store_watcher = self.store.watch(
            start, end, start_revision=listed_at + 1, progress_notify=True
        )
        # applied as each write is published, where the store can: no queue, no task switch
        self._store_watcher.deliver_to(self._take)
        self._ready.set()
        self._wake_progress()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async for response in self._store_watcher:
                    self._apply(response)
                if self._stopping:
                    return
                raise StoreError("store watch ended")
            except asyncio.CancelledError:
                raise
            except (StoreError, CompactedError) as exc:
                if self._stopping:
                    return
                log.warning("watch cache of %s lost its store watch (%s); listing again", self.resource, exc)
                while not self._stopping:
                    try:
                        await self._relist()
                        break
                    except StoreError as relist_exc:
                        log.warning("watch cache of %s cannot list: %s", self.resource, relist_exc)
                        await asyncio.sleep(1.0)

    def _apply(self, response: Any) -> None:
        """Apply a batch the store watch yielded (events read back from history, or progress)."""
        for store_event in response.events:
            kv = store_event.kv
            self._take(kv.mod_revision, ((store_event.type, kv.key, kv.value),))
        if response.revision > self.revision and (response.progress or not response.events):
            self.revision = response.revision
        if self._progress_waiters:
            self._wake_progress()

    def _take(self, revision: int, changes: Sequence[Change]) -> None:
        """Apply the changes of one revision: the store watch's sink for live writes, and
        :meth:`_apply` for events read back from history.

        Each change updates :attr:`objects`, joins the window, goes to the watchers it may
        concern and to the bus. The body is one loop, with no call per change of its own:
        every write through this server passes here.
        """
        objects = self.objects
        window = self._window
        for type, key, value in changes:
            prev = objects.get(key)
            if type == "PUT":
                # an earlier write's event must not use up what a later write expects: only a match is taken
                expected = self._expected.get(key) if self._expected else None
                if expected is not None and expected[0] == value:
                    obj = expected[1]
                    del self._expected[key]
                else:
                    obj = orjson.loads(value)
                meta = obj.setdefault("metadata", {})
                meta["resourceVersion"] = str(revision)
                objects[key] = obj
                event = _cache_event("ADDED" if prev is None else "MODIFIED", key, revision, obj, prev,
                                     meta.get("namespace") or "")
            elif prev is None:
                continue
            else:
                del objects[key]
                last = _with_resource_version(prev, revision)
                event = _cache_event("DELETED", key, revision, last, prev, last["metadata"].get("namespace") or "")
            window.append(event)
            if len(window) > self.window_events:
                self.oldest = max(self.oldest, window.popleft().revision)
            if self._watchers.count:
                for watcher in self._watchers.candidates(event):
                    watcher.offer(event)
            if self.bus is not None and self.bus.has_subscribers:
                self._publish(event)
        if revision > self.revision:
            self.revision = revision
        if self._progress_waiters:
            self._wake_progress()

    def _publish(self, event: CacheEvent) -> None:
        """Publish ``event`` on the bus as an :class:`ObjectEvent`."""
        meta = event.object.get("metadata") or {}
        self.bus.publish(  # type: ignore[union-attr]
            ObjectEvent(
                event.type,  # type: ignore[arg-type]
                self.resource,
                meta.get("namespace") or "",
                meta.get("name") or "",
                event.revision,
                event.object,
            )
        )

    def _wake_progress(self) -> None:
        if not self._progress_waiters:
            return
        waiting = []
        for revision, future in self._progress_waiters:
            if self.revision >= revision:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((revision, future))
        self._progress_waiters = waiting

    # -- freshness -------------------------------------------------------------------

    async def wait_for_revision(self, revision: int, timeout: float = FRESHNESS_TIMEOUT) -> bool:
        """Wait until the cache has seen every change up to ``revision``; False on timeout."""
        await self._ready.wait()
        if self.revision >= revision:
            return True
        future = asyncio.get_running_loop().create_future()
        self._progress_waiters.append((revision, future))
        deadline = time.monotonic() + timeout
        while not future.done():
            if self._store_watcher is not None:
                try:
                    await self._store_watcher.request_progress()
                except StoreError:
                    pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.wait([future], timeout=min(remaining, 0.25))
        if not future.done():
            future.cancel()
            return self.revision >= revision
        return True

    async def wait_fresh(self) -> int:
        """Catch up with the store's current revision (a consistent read); returns the revision."""
        current = await self.store.current_revision()
        if not await self.wait_for_revision(current):
            raise TooLargeResourceVersion(
                f"Too large resource version: {current}, current: {self.revision}", retry_after=1
            )
        return self.revision

    async def wait_not_older_than(self, revision: int) -> None:
        """Wait until the cache is at ``revision`` or later; 504 if the store is not there yet."""
        if self.revision >= revision:
            return
        current = await self.store.current_revision()
        if revision > current or not await self.wait_for_revision(revision):
            raise TooLargeResourceVersion(
                f"Too large resource version: {revision}, current: {current}", retry_after=1
            )

    # -- reads -----------------------------------------------------------------------

    def get(self, key: bytes) -> dict | None:
        """The cached object under ``key`` (shared: do not mutate)."""
        return self.objects.get(key)

    def snapshot(self, namespace: str | None) -> list[dict]:
        """The cached objects, in key order, of one namespace (or all); shared: do not mutate."""
        if namespace:
            prefix = self.prefix + namespace.encode() + b"/"
            keys = sorted(k for k in self.objects if k.startswith(prefix))
        else:
            keys = sorted(self.objects)
        objects = self.objects
        return [objects[k] for k in keys]

    # -- watches ---------------------------------------------------------------------

    def open_watcher(
        self,
        namespace: str | None,
        label_selector: LabelSelector,
        field_selector: FieldSelector,
        *,
        initial: bool,
        since: int | None,
    ) -> CacheWatcher:
        """Register a watcher and queue its first events, all without yielding to the loop.

        With ``initial`` the watcher first receives ``ADDED`` for every current
        matching object; with ``since`` every windowed event after that revision.
        Raises :class:`Gone` when ``since`` is older than the window.
        """
        if since is not None and since < self.oldest:
            raise Gone(f"too old resource version: {since} ({self.oldest})")
        watcher = CacheWatcher(self, namespace, label_selector, field_selector, self.watcher_buffer)
        if initial:
            for obj in self.snapshot(namespace):
                if watcher.matches_object(obj):
                    watcher.push(WatchEvent("ADDED", obj))
        elif since is not None:
            for event in self._window:
                if event.revision > since:
                    converted = watcher.convert(event)
                    if converted is not None:
                        watcher.push(converted)
        self._watchers.add(watcher)
        return watcher

    @property
    def watcher_count(self) -> int:
        """How many watches are open."""
        return len(self._watchers)

    def bookmark(self, api_version: str, kind: str, *, initial_events_end: bool = False) -> WatchEvent:
        """A BOOKMARK at the cache's current revision."""
        meta: dict[str, Any] = {"resourceVersion": str(self.revision)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END_ANNOTATION: "true"}
        return WatchEvent("BOOKMARK", {"kind": kind, "apiVersion": api_version, "metadata": meta})

    async def stream(self, watcher: CacheWatcher, **options: Any) -> AsyncIterator[WatchEvent]:
        """The events of ``watcher`` one by one, as :meth:`batches` (given the same ``options``) takes them."""
        batches = self.batches(watcher, **options)
        async with contextlib.aclosing(batches):  # a stream ended early closes its watcher at once
            async for batch in batches:
                for event in batch:
                    yield event

    async def batches(
        self,
        watcher: CacheWatcher,
        *,
        api_version: str,
        kind: str,
        bookmarks: bool,
        initial_events_end: bool,
        timeout_seconds: float | None,
    ) -> AsyncIterator[list[WatchEvent]]:
        """The events of ``watcher`` until it ends or ``timeout_seconds`` pass; closes it at the end.

        Each step yields every event buffered by then, in order (a bookmark alone): a
        consumer that falls behind a burst of writes catches up in one step.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout_seconds is None else loop.time() + timeout_seconds
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            buffer = watcher.buffer
            if initial_events_end:
                while buffer:  # events arriving meanwhile are at or below the bookmark's version too
                    yield _drain(buffer)
                yield [self.bookmark(api_version, kind, initial_events_end=True)]
            while True:
                if buffer:
                    yield _drain(buffer)
                    continue
                if watcher.closed:
                    return
                now = loop.time()
                if deadline is not None and now >= deadline:
                    return
                if bookmarks and now >= next_bookmark:
                    next_bookmark = now + self.bookmark_interval
                    yield [self.bookmark(api_version, kind)]
                    continue
                wake_at = deadline
                if bookmarks:
                    wake_at = next_bookmark if wake_at is None else min(wake_at, next_bookmark)
                await watcher.wait(wake_at)
        finally:
            watcher.close()


def _drain(buffer: collections.deque[WatchEvent]) -> list[WatchEvent]:
    """Every event in ``buffer``, which is left empty."""
    events = list(buffer)
    buffer.clear()
    return events


def error_event(error: APIError) -> WatchEvent:
    """An ERROR event carrying ``error`` as a Status."""
    return WatchEvent("ERROR", error.status())
