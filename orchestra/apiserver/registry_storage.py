"""All resource storages of one API server over one store, and the watch caches behind them.

:class:`StorageRegistry` builds a :class:`~orchestra.apiserver.storage.ResourceStorage`
for every :func:`orchestra.api.registry.resource_types` entry, shares one
:class:`~orchestra.apiserver.admission.Admission` chain between them, and on
:meth:`StorageRegistry.start` fills the watch caches (Events' waits for its first
watch, or for a subscriber on the event bus, as kube-apiserver keeps no Events cache)
and creates the namespaces that exist from the start (``default``, ``kube-system``,
``kube-public``, ``kube-node-lease``) when they are missing.
"""

from __future__ import annotations

import asyncio
import logging
import math

import pluggy

from orchestra.aio import cancel_and_wait
from orchestra.api.registry import ResourceType, resource_types
from orchestra.apiserver.admission import DEFAULT_NAMESPACES, Admission
from orchestra.apiserver.errors import AlreadyExists
from orchestra.apiserver.expiry import EVENT_TTL, ExpiryLeases
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.storage import RequestContext, ResourceStorage
from orchestra.apiserver.strategy import strategy_for
from orchestra.apiserver.watchcache import DEFAULT_BOOKMARK_INTERVAL, DEFAULT_WINDOW_EVENTS, WatchCache
from orchestra.bus import EventBus
from orchestra.plugin_manager import get_plugin_manager
from orchestra.store import Store

__all__ = ["StorageRegistry", "SYSTEM_USER", "CACHED_WHEN_WATCHED"]

log = logging.getLogger(__name__)

#: Resources whose watch cache starts only when they are first watched, or when the event
#: bus (which publishes every change a cache takes) gets a subscriber. kube-apiserver serves
#: Events from etcd, without a watch cache (its ``DefaultWatchCacheSizes``: ``events`` 0):
#: they are the busiest writes of a cluster (every scheduled pod has one) and are mostly
#: listed, if read.
CACHED_WHEN_WATCHED = frozenset({"events"})

#: The identity the API server itself writes as (default namespaces).
SYSTEM_USER = UserInfo("system:apiserver", groups=("system:masters",))


class StorageRegistry:
    """One ResourceStorage per served resource type, over one store.

    :param store: the open store.
    :param plugin_manager: whose admission hooks run (None: :func:`orchestra.get_plugin_manager`).
    :param bus: where watch caches publish object events (optional).
    :param bookmark_interval: seconds between watch bookmarks (tests use a short one).
    :param window_events: recent events each watch cache keeps for watches from older revisions.
    :param event_ttl: seconds an Event lives after its last write (0: forever); see
        :mod:`orchestra.apiserver.expiry`.
    """

    def __init__(
        self,
        store: Store,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        bus: EventBus | None = None,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        window_events: int = DEFAULT_WINDOW_EVENTS,
        event_ttl: float = EVENT_TTL,
    ) -> None:
        self.store = store
        expiry = ExpiryLeases(store)
        self.bus = bus
        self.plugin_manager = plugin_manager if plugin_manager is not None else get_plugin_manager()
        self.admission = Admission(self.namespace_phase, self.plugin_manager,
                                   cached_namespace_phase=self.cached_namespace_phase)
        self._storages: dict[ResourceType, ResourceStorage] = {}
        for rtype in resource_types():
            strategy = strategy_for(rtype.plural, rtype.namespaced)
            cache = WatchCache(
                store,
                rtype.plural,
                strategy.field_set,
                bus=bus,
                window_events=window_events,
                bookmark_interval=bookmark_interval,
            )
            ttl = math.ceil(event_ttl) if rtype.plural == "events" else 0
            self._storages[rtype] = ResourceStorage(rtype, store, cache, self.admission, strategy,
                                                    ttl=ttl, expiry=expiry)
        self._namespaces = next(s for r, s in self._storages.items() if r.plural == "namespaces" and not r.group)
        #: The store key of a namespace, less its name (:meth:`cached_namespace_phase` reads the cache by it).
        self._namespace_prefix = self._namespaces.key(None, "")
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._late_starts: set[asyncio.Task[None]] = set()
        if bus is not None:
            bus.on_first_subscriber(self._start_for_the_bus)

    async def start(self) -> None:
        """Fill the watch caches and create the default namespaces that are missing.

        The caches of :data:`CACHED_WHEN_WATCHED` kinds are left to start on their first
        watch, or when the event bus has a subscriber.
        """
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        bus_listens = self.bus is not None and self.bus.has_subscribers
        for storage in self._storages.values():
            if bus_listens or storage.rtype.plural not in CACHED_WHEN_WATCHED:
                await storage.cache.start()
        self._started = True
        ctx = RequestContext(SYSTEM_USER)
        for name in DEFAULT_NAMESPACES:
            if await self.store.get(self._namespaces.key(None, name)) is None:
                try:
                    await self._namespaces.create(
                        None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, ctx
                    )
                except AlreadyExists:
                    pass

    def _start_for_the_bus(self) -> None:
        """The event bus has its first subscriber: start the caches that wait for a watch, so
        that their kinds' changes are published too.

        They start from the latest revision a running cache has taken, which is at most the
        store's current one, so the subscriber gets every change after it subscribed (and
        maybe a few from just before), never misses one.
        """
        if not self._started or self._loop is None:
            return  # start() sees the subscriber
        caches = [s.cache for s in self._storages.values()]
        revision = max((c.revision for c in caches if c.running), default=0)
        for cache in caches:
            if not cache.running:
                # the loop the caches run on (a subscriber may subscribe while it is not running)
                task = self._loop.create_task(cache.start(revision), name=f"watchcache-start-{cache.resource}")
                self._late_starts.add(task)
                task.add_done_callback(self._late_start_done)

    def _late_start_done(self, task: asyncio.Task[None]) -> None:
        self._late_starts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the watch cache could not start for the event bus: %r", task.exception())

    async def stop(self) -> None:
        """Stop every watch cache (open watches end)."""
        await cancel_and_wait(list(self._late_starts))
        for storage in self._storages.values():
            await storage.cache.stop()
        self._started = False

    def storage(self, rtype: ResourceType) -> ResourceStorage:
        """The storage of ``rtype``; KeyError for a type the registry does not serve."""
        return self._storages[rtype]

    def storages(self) -> list[ResourceStorage]:
        """Every storage, in registry order."""
        return list(self._storages.values())

    def cached_namespace_phase(self, name: str) -> str | None:
        """The phase of a namespace the watch cache holds and that is not being deleted; None otherwise
        (then only :meth:`namespace_phase` can tell)."""
        cached = self._namespaces.cache.objects.get(self._namespace_prefix + name.encode())
        if cached is not None and not cached["metadata"].get("deletionTimestamp"):
            return (cached.get("status") or {}).get("phase") or "Active"
        return None

    async def namespace_phase(self, name: str) -> str | None:
        """``Active`` or ``Terminating`` for an existing namespace, None when there is none.

        An active namespace in the watch cache answers at once; anything else is
        confirmed against the store, so a namespace created a moment ago counts.
        """
        phase = self.cached_namespace_phase(name)
        if phase is not None:
            return phase
        kv = await self.store.get(self._namespaces.key(None, name))
        if kv is None:
            return None
        obj = self._namespaces._load(kv)
        if obj["metadata"].get("deletionTimestamp"):
            return "Terminating"
        return (obj.get("status") or {}).get("phase") or "Active"

    async def namespace_exists(self, name: str) -> bool:
        """Whether namespace ``name`` exists (terminating or not)."""
        return await self.namespace_phase(name) is not None
