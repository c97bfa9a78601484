"""Watchers indexed by the value their field selector pins, so an event reaches only the few that may see it.

Every node agent watches pods with ``fieldSelector=spec.nodeName=<its node>``. Offering each
pod event to every such watcher in turn costs O(nodes) per event, O(nodes × pods) for a
rollout. Kubernetes' cacher avoids this with the pods' trigger function (``IndexerFunc`` on
``spec.nodeName``): a watcher whose selector requires an exact value of an indexed field is
filed under that value, and an event is dispatched only to the watchers filed under the old
or the new object's value of the field, plus every watcher that is not indexed.

:class:`WatchIndex` does the same for a :class:`~orchestra.apiserver.watchcache.WatchCache`.
It is a set of watchers (``add``, ``discard``, ``len``, iteration) with one more method,
:meth:`WatchIndex.candidates`, the watchers an event may concern. Each candidate still runs
its full filter, so what a watcher receives (``ADDED`` when an object starts matching,
``DELETED`` when it stops, ``MODIFIED`` otherwise) is exactly what it would receive without
the index: the index only skips watchers whose pinned value neither the old nor the new
object has, and those see nothing of the event anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from orchestra.apiserver.watchcache import CacheEvent, CacheWatcher

__all__ = ["WatchIndex", "INDEXED_FIELDS", "indexed_fields"]

#: The field labels whose exact-match watchers are indexed, per resource (Kubernetes indexes pods by node).
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {"pods": ("spec.nodeName",)}


def indexed_fields(resource: str) -> tuple[str, ...]:
    """The field labels :class:`WatchIndex` indexes watchers by for ``resource`` (empty: none)."""
    return INDEXED_FIELDS.get(resource, ())


class WatchIndex:
    """A set of cache watchers, those pinning an indexed field filed under the pinned value.

    :param field_set: the kind's field labels (``obj -> {label: value}``), as the cache computes them.
    :param fields: the field labels to index by; a watcher is filed under the first one its
        field selector requires an exact value of (``spec.nodeName=node-1``).
    """

    __slots__ = ("field_set", "fields", "_unindexed", "_by_value", "_where", "count")

    def __init__(self, field_set: Callable[[dict], dict[str, str]], fields: tuple[str, ...] = ()) -> None:
        self.field_set = field_set
        self.fields = tuple(fields)
        self._unindexed: set[CacheWatcher] = set()
        #: field -> value -> the watchers pinned to it (a dict, so dispatch order is registration order).
        self._by_value: dict[str, dict[str, dict[CacheWatcher, None]]] = {f: {} for f in self.fields}
        #: watcher -> (field, value) it is filed under.
        self._where: dict[CacheWatcher, tuple[str, str]] = {}
        #: How many watchers are registered (an attribute: every write reads it).
        self.count = 0

    def _pin(self, watcher: "CacheWatcher") -> tuple[str, str] | None:
        selector = watcher.field_selector
        if selector.empty:
            return None
        for field in self.fields:
            value = selector.requires_exact_match(field)
            if value is not None:
                return field, value
        return None

    def add(self, watcher: "CacheWatcher") -> None:
        """Register ``watcher`` (again: no effect)."""
        if watcher in self._where or watcher in self._unindexed:
            return
        pin = self._pin(watcher)
        if pin is None:
            self._unindexed.add(watcher)
        else:
            self._where[watcher] = pin
            self._by_value[pin[0]].setdefault(pin[1], {})[watcher] = None
        self.count += 1

    def discard(self, watcher: "CacheWatcher") -> None:
        """Unregister ``watcher`` if it is registered."""
        if watcher in self._unindexed:
            self._unindexed.discard(watcher)
            self.count -= 1
            return
        pin = self._where.pop(watcher, None)
        if pin is None:
            return
        by_value = self._by_value[pin[0]]
        group = by_value[pin[1]]
        del group[watcher]
        if not group:
            del by_value[pin[1]]
        self.count -= 1

    def __len__(self) -> int:
        return self.count

    def __contains__(self, watcher: object) -> bool:
        return watcher in self._unindexed or watcher in self._where

    def __iter__(self) -> Iterator["CacheWatcher"]:
        yield from self._unindexed
        yield from self._where

    def candidates(self, event: "CacheEvent") -> list["CacheWatcher"]:
        """The watchers ``event`` may concern: every unindexed one, and those pinned to its old or new value.

        A fresh list: offering an event may close (and so discard) a watcher.
        """
        found = list(self._unindexed)
        field_set = self.field_set
        for field, by_value in self._by_value.items():
            if not by_value:
                continue
            new_value = event.fields(field_set).get(field, "")
            group = by_value.get(new_value)
            if group:
                found.extend(group)
            if event.prev is not None:
                old_value = event.prev_fields(field_set).get(field, "")
                if old_value != new_value:
                    group = by_value.get(old_value)
                    if group:
                        found.extend(group)
        # No duplicates: a watcher is filed under one value of one field, and the old and new groups differ.
        return found
