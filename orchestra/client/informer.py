"""Informers: a local cache of one kind kept current by list + watch, with event handlers.

An informer lists the kind, then watches from the list's resourceVersion.
When the watch ends it resumes from the last version it saw; when that version
has expired (410 Gone) it lists again and reconciles its cache with the new
list, calling the handlers for what was added, changed and removed meanwhile
(client-go's reflector does the same). Handlers run in event order, one at a
time; they may be plain functions or coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from typing import Any, Awaitable, Callable

from orchestra.aio import cancel_and_wait, wait_for
from orchestra.client.client import ApiStatusError, Client, KindRef, ResourceExpired, resolve_kind
from orchestra.client.transport import TransportError

__all__ = ["Informer", "object_key", "EventHandler"]

log = logging.getLogger(__name__)

#: A watch asks the server to end it after between one and two times this many seconds, a random
#: span per watch as client-go's reflector does, so that many informers do not all reconnect at once.
MIN_WATCH_TIMEOUT = 300

EventHandler = Callable[..., Any | Awaitable[Any]]


def object_key(obj: Any) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), for model objects and dicts."""
    return _key_and_version(obj)[0]


def _resource_version(obj: Any) -> str:
    return _key_and_version(obj)[1]


def _key_and_version(obj: Any) -> tuple[str, str]:
    """:func:`object_key` and the resourceVersion of ``obj`` (a watch reads both of every object)."""
    if isinstance(obj, dict):
        meta = obj.get("metadata") or {}
        namespace, name, version = meta.get("namespace"), meta.get("name"), meta.get("resourceVersion", "")
    else:
        meta = obj.metadata
        namespace, name, version = meta.namespace, meta.name, meta.resource_version or ""
    return f"{namespace}/{name}" if namespace else name, version


class Informer:
    """Keeps ``cache`` (key → object) equal to the server's objects of one kind, and reports changes.

    :param client: the client to list and watch with.
    :param kind: the kind to watch (class, resource type or name).
    :param namespace: one namespace, or all when ``None``.
    :param label_selector: / :param field_selector: server-side filters.
    :param raw: keep wire dicts instead of model objects (cheaper at scale).
    :param shared: with ``raw``, over the in-process transport, watched objects are the API
        server's own rather than copies (see :meth:`Client.watch`): the handlers and every
        reader of :attr:`cache` must treat them as read-only.
    :param retry_delay: seconds to wait after a failed list or watch before trying again.
    """

    def __init__(self, client: Client, kind: KindRef, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None, raw: bool = False,
                 shared: bool = False, retry_delay: float = 1.0) -> None:
        self.client = client
        self.resource = resolve_kind(kind)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.raw = raw
        self.shared = shared
        self.retry_delay = retry_delay
        self.cache: dict[str, Any] = {}
        self.resource_version = ""
        self._handlers: list[tuple[EventHandler | None, EventHandler | None, EventHandler | None]] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_handler(self, on_add: EventHandler | None = None, on_update: EventHandler | None = None,
                    on_delete: EventHandler | None = None) -> None:
        """Call ``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)`` for changes.

        A handler added after the first sync first receives ``on_add`` for every cached object.
        """
        self._handlers.append((on_add, on_update, on_delete))
        if self._synced.is_set() and on_add is not None:
            for obj in list(self.cache.values()):
                result = on_add(obj)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)

    @property
    def has_synced(self) -> bool:
        """Whether the first list has been delivered to the handlers."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until the first list has been delivered."""
        await wait_for(self._synced.wait(), timeout)

    def get(self, key: str) -> Any | None:
        """The cached object with ``key`` (``namespace/name`` or ``name``)."""
        return self.cache.get(key)

    def list(self) -> list[Any]:
        """Every cached object."""
        return list(self.cache.values())

    def start(self) -> None:
        """Start listing and watching in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"informer-{self.resource.plural}")

    async def stop(self) -> None:
        """Stop watching. Idempotent."""
        await cancel_and_wait([self._task])
        self._task = None

    def _emit(self, index: int, *args: Any) -> Awaitable[None] | None:
        """Call handler ``index`` (add, update, delete) of every registration, in order; a handler
        that raises is logged. Returns what is left to await once a handler returned an awaitable
        (the handlers after it run when it is done), None when every handler is done."""
        return self._call_handlers(list(self._handlers), index, args)

    def _call_handlers(self, registrations: list, index: int, args: tuple) -> Awaitable[None] | None:
        for position, handlers in enumerate(registrations):
            handler = handlers[index]
            if handler is None:
                continue
            try:
                result = handler(*args)
            except Exception:
                log.exception("%s informer handler failed", self.resource.plural)
                continue
            if result is not None and inspect.isawaitable(result):
                return self._call_after(result, registrations[position + 1:], index, args)
        return None

    async def _call_after(self, pending: Awaitable[Any], registrations: list, index: int, args: tuple) -> None:
        try:
            await pending
        except Exception:
            log.exception("%s informer handler failed", self.resource.plural)
        rest = self._call_handlers(registrations, index, args)
        if rest is not None:
            await rest

    async def _list_and_replace(self) -> None:
        items: list[Any] = []
        token = None
        while True:
            page = await self.client.list(self.resource, namespace=self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=500, continue_token=token,
                                          raw=self.raw)
            items.extend(page.items)
            token = page.continue_token
            if not token:
                break
        fresh = {object_key(obj): obj for obj in items}
        old = self.cache
        self.cache = fresh
        self.resource_version = page.resource_version
        for key, obj in fresh.items():
            previous = old.get(key)
            if previous is None:
                pending = self._emit(0, obj)
            elif _resource_version(previous) != _resource_version(obj):
                pending = self._emit(1, previous, obj)
            else:
                continue
            if pending is not None:
                await pending
        for key, obj in old.items():
            if key not in fresh:
                pending = self._emit(2, obj)
                if pending is not None:
                    await pending
        self._synced.set()

    async def _watch(self) -> None:
        batches = self.client.watch_batches(self.resource, namespace=self.namespace,
                                            label_selector=self.label_selector, field_selector=self.field_selector,
                                            resource_version=self.resource_version, allow_bookmarks=True,
                                            timeout_seconds=watch_timeout(), raw=self.raw, shared=self.shared)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for event in batch:
                    obj = event.object
                    if event.type == "BOOKMARK":
                        self.resource_version = _resource_version(obj) or self.resource_version
                        continue
                    key, version = _key_and_version(obj)
                    if version:
                        self.resource_version = version
                    if event.type == "DELETED":
                        previous = self.cache.pop(key, None)
                        pending = self._emit(2, previous if previous is not None else obj)
                    else:
                        previous = self.cache.get(key)
                        self.cache[key] = obj
                        pending = self._emit(0, obj) if previous is None else self._emit(1, previous, obj)
                    if pending is not None:
                        await pending

    async def _run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                await self._watch()
            except ResourceExpired:
                log.info("%s watch expired at %s; re-listing", self.resource.plural, self.resource_version)
                need_list = True
            except (ApiStatusError, TransportError, OSError) as exc:
                log.warning("%s informer: %s; retrying in %.1fs", self.resource.plural, exc, self.retry_delay)
                await asyncio.sleep(self.retry_delay)


def watch_timeout() -> int:
    """Seconds a new watch asks to last: uniformly between :data:`MIN_WATCH_TIMEOUT` and twice that."""
    return int(MIN_WATCH_TIMEOUT * (1 + random.random()))
