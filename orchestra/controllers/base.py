"""The shape every controller shares (Kubernetes' ``pkg/controller`` conventions).

- :class:`InformerFactory`: one informer per kind, shared by all controllers of a manager;
  informers keep wire dicts (``raw=True``), which is what the controllers read. In the API
  server's process they are the server's own objects (``shared=True``): a controller never
  changes an object it got from an informer (nor anything nested in it), it copies the part
  it changes (``copy.deepcopy(obj)``, ``{**obj, "status": status}``) and writes the copy.
- :class:`Controller`: a rate-limited :class:`~orchestra.client.WorkQueue` of object keys
  served by ``workers`` tasks; each key goes to :attr:`Controller.sync_handler` (the
  test seam: replace it to observe what would be synced). A failed sync is retried with
  per-key exponential backoff; a key is never synced by two workers at once.
- :class:`Expectations`: client-go's ControllerExpectations, so a controller does not create
  or delete again while the effects of its own writes have not reached its informers.
- :class:`SyncMetrics`: per-controller sync counts and durations, read by ``/metrics``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Awaitable, Callable, ClassVar

import attrs

from orchestra.aio import cancel_and_wait, wait_for
from orchestra.client import ApiStatusError, Client, Informer, ShutDown, WorkQueue, object_key, resolve_kind
from orchestra.client.client import KindRef

__all__ = [
    "InformerFactory",
    "ControllerIndex",
    "Controller",
    "Expectations",
    "delete_pods",
    "SyncMetrics",
    "SyncHandler",
    "EXPECTATIONS_TTL",
    "meta",
    "controller_ref",
    "key_of",
    "split_key",
    "is_not_found",
    "is_conflict",
    "is_namespace_terminating",
    "parse_time",
]

log = logging.getLogger(__name__)

SyncHandler = Callable[[str], Awaitable[None]]
#: Seconds after which unmet expectations are considered stale and the controller syncs anyway.
EXPECTATIONS_TTL = 300.0


def meta(obj: dict) -> dict:
    """The ``metadata`` of a wire object (an empty dict when missing)."""
    return obj.get("metadata") or {}


def key_of(obj: dict) -> str:
    """``namespace/name`` of a wire object (``name`` when cluster-scoped)."""
    return object_key(obj)


def split_key(key: str) -> tuple[str | None, str]:
    """``(namespace, name)`` of a key made by :func:`key_of`."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is the API server's 404."""
    return isinstance(exc, ApiStatusError) and exc.code == 404


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is the API server's 409 (stale resourceVersion or already exists)."""
    return isinstance(exc, ApiStatusError) and exc.code == 409


def is_namespace_terminating(exc: BaseException) -> bool:
    """Whether ``exc`` refused a create because the namespace is being deleted (nothing to retry)."""
    return isinstance(exc, ApiStatusError) and exc.code == 403 and any(
        cause.get("reason") == "NamespaceTerminating" for cause in exc.causes)


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (``None`` when absent or malformed)."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ControllerIndex:
    """The objects of one informer by controlling owner: client-go's controller-ref lookups without a scan.

    Kept by the informer's own event handlers, so :meth:`owned` and :meth:`orphans` cost what
    they return, not the size of the cache (a ReplicaSet's sync used to walk every pod of the
    namespace: quadratic at tens of thousands of pods). Objects are read back from the cache,
    so a caller always sees the informer's latest version.
    """

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self._keys: dict[str, dict[str, None]] = {}  # index value → object keys (insertion-ordered)
        self._value_of: dict[str, str] = {}  # object key → its index value
        informer.add_handler(self._put, self._update, self._remove)

    @staticmethod
    def _value(obj: dict) -> str:
        ref = controller_ref(obj)
        if ref is not None and ref.get("uid"):
            return "uid:" + ref["uid"]
        return "orphan:" + (meta(obj).get("namespace") or "")

    def _put(self, obj: dict) -> None:
        key = key_of(obj)
        value = self._value(obj)
        old = self._value_of.get(key)
        if old == value:
            return
        if old is not None:
            self._discard(old, key)
        self._value_of[key] = value
        self._keys.setdefault(value, {})[key] = None

    def _update(self, old: dict, new: dict) -> None:
        self._put(new)

    def _remove(self, obj: dict) -> None:
        key = key_of(obj)
        value = self._value_of.pop(key, None)
        if value is not None:
            self._discard(value, key)

    def _discard(self, value: str, key: str) -> None:
        keys = self._keys.get(value)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._keys[value]

    def _objects(self, value: str) -> list[dict]:
        cache = self.informer.cache
        found = []
        for key in self._keys.get(value, ()):
            obj = cache.get(key)
            if obj is not None and self._value(obj) == value:
                found.append(obj)
        return found

    def owned(self, uid: str | None) -> list[dict]:
        """The cached objects whose controller reference has ``uid``."""
        return self._objects("uid:" + uid) if uid else []

    def orphans(self, namespace: str | None) -> list[dict]:
        """The cached objects of ``namespace`` that no controller owns."""
        return self._objects("orphan:" + (namespace or ""))

    def candidates(self, owner: dict) -> list[dict]:
        """What ``owner`` may claim: the objects it controls, then the orphans of its namespace."""
        return self.owned(meta(owner).get("uid")) + self.orphans(meta(owner).get("namespace"))


class InformerFactory:
    """One shared informer per kind; controllers ask for kinds, the manager starts them all.

    :param shared: informers take the API server's own objects over the in-process transport
        (see :meth:`Client.watch`) instead of decoding a copy each: every handler and every
        reader of an informer's cache must treat what it gets as read-only. ``False`` gives
        each informer private copies.
    """

    def __init__(self, client: Client, *, retry_delay: float = 1.0, shared: bool = True) -> None:
        self.client = client
        self.retry_delay = retry_delay
        self.shared = shared
        self._informers: dict[str, Informer] = {}
        self._indexes: dict[str, ControllerIndex] = {}
        self._started = False

    def controller_index(self, kind: KindRef) -> ControllerIndex:
        """The shared :class:`ControllerIndex` of ``kind``'s informer (created on first request)."""
        informer = self.informer(kind)
        name = f"{informer.resource.plural}.{informer.resource.group}"
        index = self._indexes.get(name)
        if index is None:
            index = self._indexes[name] = ControllerIndex(informer)
        return index

    def informer(self, kind: KindRef) -> Informer:
        """The informer of ``kind`` (created on first request; started at once if the factory runs)."""
        rt = resolve_kind(kind)
        name = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        informer = self._informers.get(name)
        if informer is None:
            informer = Informer(self.client, rt, raw=True, shared=self.shared, retry_delay=self.retry_delay)
            self._informers[name] = informer
            if self._started:
                informer.start()
        return informer

    @property
    def informers(self) -> dict[str, Informer]:
        """Every informer created so far, by ``plural[.group]``."""
        return dict(self._informers)

    def start(self) -> None:
        """Start every informer (and any requested later)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until every informer has delivered its first list."""
        await wait_for(asyncio.gather(*(i.wait_synced() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        """Stop every informer."""
        self._started = False
        for informer in self._informers.values():
            await informer.stop()


@attrs.define
class _Expectation:
    adds: int = 0
    deletes: set[str] = attrs.field(factory=set)
    timestamp: float = attrs.field(factory=time.monotonic)


class Expectations:
    """How many creations and which deletions a controller still waits to see, per controller key."""

    def __init__(self, ttl: float = EXPECTATIONS_TTL) -> None:
        self.ttl = ttl
        self._items: dict[str, _Expectation] = {}

    def expect_creations(self, key: str, count: int) -> None:
        """``key`` is about to create ``count`` objects."""
        self._items[key] = _Expectation(adds=count)

    def expect_deletions(self, key: str, deleted_keys: list[str]) -> None:
        """``key`` is about to delete the objects with these keys."""
        self._items[key] = _Expectation(deletes=set(deleted_keys))

    def creation_observed(self, key: str) -> None:
        """One creation of ``key``'s reached the informer (or failed: lower the count either way)."""
        item = self._items.get(key)
        if item is not None and item.adds > 0:
            item.adds -= 1

    def deletion_observed(self, key: str, deleted_key: str) -> None:
        """The object ``deleted_key`` of ``key`` is gone (or its delete failed)."""
        item = self._items.get(key)
        if item is not None:
            item.deletes.discard(deleted_key)

    def satisfied(self, key: str) -> bool:
        """Whether ``key`` may act again: nothing pending, nothing recorded, or the record is stale."""
        item = self._items.get(key)
        if item is None:
            return True
        if item.adds <= 0 and not item.deletes:
            return True
        return time.monotonic() - item.timestamp > self.ttl

    def pending(self, key: str) -> tuple[int, int]:
        """``(creations, deletions)`` still awaited for ``key``."""
        item = self._items.get(key)
        return (0, 0) if item is None else (max(item.adds, 0), len(item.deletes))

    def forget(self, key: str) -> None:
        """Drop ``key``'s record (its object is gone)."""
        self._items.pop(key, None)


async def delete_pods(client: Client, expectations: Expectations, key: str, pods: list[dict]) -> None:
    """Delete ``pods`` for controller ``key``, expecting each deletion to be observed.

    The deletions run concurrently; a pod already gone counts as deleted. A deletion that
    fails is no longer expected, and the first failure is raised once every one was tried.
    """
    expectations.expect_deletions(key, [key_of(p) for p in pods])
    results = await asyncio.gather(*(_delete_pod(client, p) for p in pods), return_exceptions=True)
    errors = []
    for pod, result in zip(pods, results):
        if isinstance(result, BaseException):
            expectations.deletion_observed(key, key_of(pod))
            errors.append(result)
    if errors:
        raise errors[0]


async def _delete_pod(client: Client, pod: dict) -> None:
    try:
        await client.delete("pods", meta(pod)["name"], namespace=meta(pod).get("namespace"))
    except Exception as exc:
        if not is_not_found(exc):
            raise


@attrs.define
class SyncMetrics:
    """What one controller did: syncs, failed syncs, the total seconds spent syncing."""

    syncs: int = 0
    errors: int = 0
    seconds: float = 0.0


class Controller:
    """A work queue of keys, ``workers`` tasks syncing them, and the informers that feed it.

    Subclasses set :attr:`name`, register informer handlers in :meth:`setup` and implement
    :meth:`sync`. ``sync_handler`` may be replaced (tests) to see which keys would be synced.
    """

    #: The name the manager enables the controller by (``--controllers``).
    name: ClassVar[str] = ""
    #: How many keys are synced concurrently by default.
    default_workers: ClassVar[int] = 5

    def __init__(self, client: Client, informers: InformerFactory, *, workers: int | None = None) -> None:
        self.client = client
        self.informers = informers
        self.workers = workers or self.default_workers
        self.queue: WorkQueue[str] = WorkQueue(name=self.name)
        self.metrics = SyncMetrics()
        self.sync_handler: SyncHandler = self.sync
        self._tasks: list[asyncio.Task[None]] = []
        self.setup()

    def setup(self) -> None:
        """Ask the factory for informers and add event handlers (called once, by ``__init__``)."""

    async def sync(self, key: str) -> None:
        """Bring the object ``key`` to its desired state; raise to be retried with backoff."""
        raise NotImplementedError

    def enqueue(self, obj: dict | str) -> None:
        """Queue an object (or key) for a sync."""
        self.queue.add(obj if isinstance(obj, str) else key_of(obj))

    def enqueue_after(self, obj: dict | str, delay: float) -> None:
        """Queue an object (or key) for a sync in ``delay`` seconds."""
        self.queue.add_after(obj if isinstance(obj, str) else key_of(obj), delay)

    async def start(self) -> None:
        """Start the workers (informers are started by the factory's owner)."""
        if self.queue.shutting_down:
            self.queue = WorkQueue(name=self.name)
        for i in range(self.workers):
            self._tasks.append(asyncio.get_running_loop().create_task(self._worker(), name=f"{self.name}-worker-{i}"))

    async def stop(self) -> None:
        """Shut the queue down and wait for the workers to finish their current key."""
        self.queue.shutdown()
        await cancel_and_wait(self._tasks)  # kept until they ended: a stop interrupted here waits again
        self._tasks = []

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            started = time.monotonic()
            try:
                await self.sync_handler(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception as exc:
                self.metrics.errors += 1
                if isinstance(exc, ApiStatusError) and exc.code == 409:
                    log.debug("%s: conflict syncing %s: %s", self.name, key, exc)
                else:
                    log.warning("%s: syncing %s failed: %s", self.name, key, exc, exc_info=not isinstance(exc, ApiStatusError))
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.metrics.syncs += 1
                self.metrics.seconds += time.monotonic() - started
            self.queue.done(key)
