"""Guards for shared watches: nobody may change an object the API server hands to its watchers.

In-process readers (``Informer(..., shared=True)``) get the watch cache's own dicts. Two checks
catch one that changed such an object (or anything nested in it):

- :class:`EventSnapshots` encodes every object the moment it enters a watch cache (the bus
  calls a subscription's ``accept`` predicate synchronously, before any watcher runs) and
  :meth:`EventSnapshots.changed` encodes them again: superseded objects that informers and
  workers still hold are covered too, not only the current ones;
- :func:`cache_mismatches` compares every object in every watch cache with the store's value.
"""

from __future__ import annotations

from typing import Any

import orjson

from orchestra.store import prefix_range

__all__ = ["EventSnapshots", "cache_mismatches", "check_untouched"]


class EventSnapshots:
    """Every object event published on ``bus`` from now on, with its encoding at publication."""

    def __init__(self, bus: Any) -> None:
        self.seen: list[tuple[str, str, str, dict, bytes]] = []
        self._subscription = bus.subscribe(accept=self._snapshot)

    def _snapshot(self, event: Any) -> bool:
        obj = getattr(event, "object", None)
        if isinstance(obj, dict):
            self.seen.append((event.type, event.resource, f"{event.namespace}/{event.name}", obj,
                              orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)))
        return False  # nothing is buffered: the snapshot is all this subscription is for

    def close(self) -> None:
        """Stop recording."""
        self._subscription.close()

    def changed(self) -> list[str]:
        """``type resource namespace/name`` of each recorded object that differs from its snapshot now."""
        found = []
        for kind, resource, key, obj, encoded in self.seen:
            if orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) != encoded:
                found.append(f"{kind} {resource} {key}")
        return found


async def cache_mismatches(server: Any) -> list[str]:
    """Every watch-cache object of ``server`` that differs from the store (after the caches caught up).

    The store's value is decoded with ``metadata.resourceVersion`` set to the key's mod revision,
    as the cache stamps it; keys present on one side only are reported too.
    """
    store = server.store
    revision = await store.current_revision()
    found = []
    # A cache that is not running (Events nobody watches, on a server without a bus) holds nothing.
    caches = {id(storage.cache): storage.cache for storage in server.storage.storages() if storage.cache.running}
    for cache in caches.values():
        if not await cache.wait_for_revision(revision):
            found.append(f"{cache.resource}: the watch cache did not reach revision {revision}")
            continue
        start, end = prefix_range(cache.prefix)
        stored = {kv.key: kv for kv in (await store.range(start, end)).kvs}
        for key, obj in cache.objects.items():
            kv = stored.get(key)
            if kv is None:
                found.append(f"{key.decode()}: in the watch cache, not in the store")
                continue
            expected = orjson.loads(kv.value)
            expected.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
            if obj != expected:
                found.append(f"{key.decode()}: the watch cache's object differs from the store's")
        for key in stored.keys() - cache.objects.keys():
            found.append(f"{key.decode()}: in the store, not in the watch cache")
    return found


async def check_untouched(server: Any, snapshots: EventSnapshots) -> None:
    """Fail (AssertionError) when a watched object of ``server`` was changed in place.

    Stops ``snapshots`` recording; run it once the components reading the server have stopped
    or settled, before the server closes.
    """
    snapshots.close()
    changed = snapshots.changed()
    assert not changed, f"{len(changed)} watched objects were changed in place, e.g. {changed[:5]}"
    mismatched = await cache_mismatches(server)
    assert not mismatched, f"watch caches differ from the store: {mismatched[:5]}"
