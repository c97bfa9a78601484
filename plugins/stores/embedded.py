"""The embedded store: the :class:`~orchestra.store.Store` contract over the in-process MVCC kernel.

:class:`EmbeddedStore` serves ``memory://`` directly and ``file://`` with a
journal. The kernel (:class:`orchestra._ext.kvstore.MVCCStore`) is exposed as
``store.core`` for synchronous embedding and benchmarks.

Visibility rule
    Reads (``range``, ``get``, ``current_revision``, ranges inside a
    transaction) see a write as soon as the kernel has applied it. The caller
    of the write gets its answer, and watchers receive its events, only once
    the write is durable (at once without a journal), always in revision order.

Durability hook (used by ``plugins/stores/file.py``)
    ``EmbeddedStore(url, core=None, *, journal=None, leases=None, progress_interval=10.0)``.

    ``journal`` is any object with these methods, each returning an awaitable
    that completes when the record is durable:

    * ``write(revision: int, mutations: list[Mutation])`` - called synchronously
      right after the kernel applied a write at ``revision`` and before any
      other write is applied, so calls come in revision order. ``mutations``
      lists the write's changes in operation order; deletes are expanded to the
      single keys that really existed.
    * ``lease_granted(lease_id: int, ttl: int)``
    * ``lease_revoked(lease_id: int)`` - the deletion of the lease's keys
      follows as a normal ``write`` (called right after, with no other write
      in between).
    * ``compacted(revision: int)`` - after the kernel compacted.
    * ``close()`` - when the store closes, after every pending record.

    A journal that completes its records strictly in call order (as
    :class:`~orchestra.plugins.stores.journal.Journal` does) may also offer
    :class:`OrderedJournal`'s ``listen(on_durable, on_failure)`` and
    ``put(revision, key, value, lease)``. The store then hands a writer the
    journal's own future, publishes to watchers once per durable batch (from
    the kernel's event log, when ``on_durable(revision)`` is called) and
    journals a plain put straight from the operation; ``on_failure(error)``
    makes the store unusable.

    Recovery: build a fresh ``MVCCStore``, feed each recorded write to
    :func:`apply_mutations` (it reproduces the recorded revision), replay
    compactions with ``core.compact(revision)``, then open
    ``EmbeddedStore(url, core, journal=..., leases={lease_id: ttl})``. Leases
    restart their full TTL. Keys attached to a lease missing from ``leases``
    (a crash between ``lease_revoked`` and the deletion) are deleted by the
    expiry task shortly after opening, without a ``lease_revoked`` record.

Watch limits
    A watcher holds at most :data:`MAX_PENDING_EVENTS` undelivered events. A
    watcher that falls further behind stops receiving live events and later
    catches up from the kernel's event log, :data:`CATCH_UP_BATCH` events at a
    time; if a compaction removes events it has not read yet, its iteration
    raises :class:`~orchestra.store.errors.CompactedError` (as etcd does), and
    the client must re-list and watch again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from typing import Any, Awaitable, Callable, Iterable, Literal, Mapping, Protocol, Sequence

import attrs

from orchestra._ext.kvstore import DELETE, PUT, MVCCStore
from orchestra.records import maker
from orchestra.store.base import Store, Watcher
from orchestra.store.checks import check_key, check_put, check_txn
from orchestra.store.errors import (
    CompactedError,
    FutureRevisionError,
    LeaseExistsError,
    LeaseNotFoundError,
    RequestTooLargeError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from orchestra.store.types import (
    ALL_KEYS_END,
    MAX_REQUEST_BYTES,
    Change,
    Compare,
    DeleteOp,
    DeleteResult,
    Event,
    KeyValue,
    Lease,
    LeaseStatus,
    Op,
    PutOp,
    PutResult,
    RangeOp,
    RangeResult,
    TxnResult,
    WatchResponse,
    prefix_end,
)

#: Makes a KeyValue from the kernel's tuple of its six fields (slot by slot: every read makes some).
_key_value = maker(KeyValue)

__all__ = [
    "CATCH_UP_BATCH",
    "MAX_PENDING_EVENTS",
    "EmbeddedStore",
    "EmbeddedWatcher",
    "Journal",
    "Mutation",
    "OrderedJournal",
    "apply_mutations",
]

log = logging.getLogger(__name__)

#: Undelivered events a watcher may hold before it is switched to catching up from the log.
MAX_PENDING_EVENTS = 10_000
#: Events read from the log per step of a catch-up.
CATCH_UP_BATCH = 1_000
#: Events merged into one watch response at most.
MAX_RESPONSE_EVENTS = 1_000
#: Longest sleep of the lease expiry task, in seconds.
EXPIRY_TICK = 0.5


@attrs.frozen(slots=True)
class Mutation:
    """One change of a write, as journaled: a put of ``value`` (with ``lease``) or a delete of ``key``."""

    kind: Literal["put", "delete"]
    key: bytes
    value: bytes = b""
    lease: int = 0


class Journal(Protocol):
    """What :class:`EmbeddedStore` needs from a durability layer (see the module docstring)."""

    def write(self, revision: int, mutations: list[Mutation]) -> Awaitable[None]:
        """Record the write applied at ``revision``; the awaitable completes once it is durable."""

    def lease_granted(self, lease_id: int, ttl: int) -> Awaitable[None]:
        """Record a granted lease."""

    def lease_revoked(self, lease_id: int) -> Awaitable[None]:
        """Record a revoked lease (its key deletions follow as a ``write``)."""

    def compacted(self, revision: int) -> Awaitable[None]:
        """Record a compaction at ``revision``."""

    def close(self) -> Awaitable[None]:
        """Flush and release the journal."""


class OrderedJournal(Journal, Protocol):
    """A :class:`Journal` whose records become durable in call order, in batches."""

    def listen(self, on_durable: Callable[[int], None], on_failure: Callable[[BaseException], None]) -> None:
        """Call ``on_durable(revision)`` once per durable batch with the last write revision in it
        (before the batch's awaitables complete), ``on_failure(error)`` once if the journal fails."""

    def put(self, revision: int, key: bytes, value: bytes, lease: int) -> Awaitable[None]:
        """Record a write at ``revision`` that is the single put of ``value`` under ``key``."""


def apply_mutations(core: MVCCStore, mutations: Iterable[Mutation]) -> int:
    """Apply a recorded write to ``core`` at its next revision; returns the revision after it.

    Replaying every journaled write in order reproduces the recorded revisions.
    The mutations are checked before any is applied.
    """
    ops: list[tuple] = []
    for m in mutations:
        if m.kind == "put":
            ops.append(("put", m.key, m.value, m.lease))
        elif m.kind == "delete":
            ops.append(("delete", m.key, b""))
        else:
            raise ValueError(f"unknown mutation kind {m.kind!r} for key {m.key!r}")
    return core.write(ops)


def _end(range_end: bytes | None) -> bytes:
    """The kernel's form of ``range_end``: ``b""`` for a single key."""
    return b"" if range_end is None else range_end


def _in_range(key: bytes, start: bytes, end: bytes) -> bool:
    if not end:
        return key == start
    if end == ALL_KEYS_END:
        return key >= start
    return start <= key < end


def _to_event(raw: tuple, with_prev: bool) -> Event:
    kind, kv, prev = raw
    return Event(
        "PUT" if kind == PUT else "DELETE",
        _key_value(*kv),
        _key_value(*prev) if with_prev and prev is not None else None,
    )


_COMPARE_FIELDS = {"version": 4, "create": 2, "mod": 3, "value": 1, "lease": 5}


def _compare_holds(kv: tuple | None, c: Compare) -> bool:
    field = _COMPARE_FIELDS.get(c.target)
    if field is None:
        raise ValueError(f"Compare.target must be one of {sorted(_COMPARE_FIELDS)}, got {c.target!r}")
    if kv is None:
        if c.target == "value":
            return False
        actual: Any = 0
    else:
        actual = kv[field]
    operand = c.operand
    if c.op == "=":
        return actual == operand
    if c.op == "!=":
        return actual != operand
    if c.op == "<":
        return actual < operand
    if c.op == ">":
        return actual > operand
    raise ValueError(f"Compare.op must be one of '=', '!=', '<', '>', got {c.op!r}")


@attrs.define
class _LeaseState:
    """A live lease: granted TTL, monotonic deadline, attached keys."""

    id: int
    ttl: int
    deadline: float
    keys: set[bytes] = attrs.field(factory=set)
    #: Recovered from keys whose lease was not journaled: revoked without a journal record.
    orphan: bool = False


#: Directories (key prefixes up to the last ``/``) whose concerned watchers are remembered.
_DIRECTORY_LIMIT = 4096


class _Watchers(set):
    """The open watchers of a store, and which of them an event's key concerns.

    Watchers of a prefix that ends in ``/`` (every watch cache's ``/registry/<resource>/``)
    are found by the key's own ``/``-ended prefixes (looked up once per directory), so one
    write is not tested against every open watch; other watchers are tested one by one.
    The index is rebuilt on the first look-up after the set changed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._index: tuple[dict[bytes, list[EmbeddedWatcher]], list[EmbeddedWatcher]] | None = None
        self._by_directory: dict[bytes, list[EmbeddedWatcher]] = {}

    def add(self, watcher: EmbeddedWatcher) -> None:
        """Add ``watcher`` (set semantics)."""
        super().add(watcher)
        self._index = None

    def discard(self, watcher: EmbeddedWatcher) -> None:
        """Remove ``watcher`` if present (set semantics)."""
        super().discard(watcher)
        self._index = None

    def clear(self) -> None:
        """Remove every watcher."""
        super().clear()
        self._index = None

    def concerned(self, key: bytes) -> list[EmbeddedWatcher]:
        """The watchers whose range holds ``key``: a list to read, never to change (it may be
        the one the index keeps for the key's directory, which is never changed either)."""
        index = self._index
        if index is None:
            index = self._index = self._build()
        by_prefix, others = index
        found = [w for w in others if w._matches(key)] if others else None
        if not by_prefix:
            return found or []
        # every "/"-ended prefix of the key is one of its directory's: looked up once per directory
        directory = key[: key.rfind(b"/") + 1]
        by_directory = self._by_directory
        watchers = by_directory.get(directory)
        if watchers is None:
            watchers = []
            find = directory.find
            start = find(b"/")
            while start >= 0:
                watchers += by_prefix.get(directory[: start + 1], ())
                start = find(b"/", start + 1)
            if len(by_directory) >= _DIRECTORY_LIMIT:
                by_directory.clear()
            by_directory[directory] = watchers
        return watchers if found is None else found + watchers

    def _build(self) -> tuple[dict[bytes, list[EmbeddedWatcher]], list[EmbeddedWatcher]]:
        self._by_directory = {}
        by_prefix: dict[bytes, list[EmbeddedWatcher]] = {}
        others: list[EmbeddedWatcher] = []
        for watcher in self:
            start, end = watcher._key, watcher._end
            if start.endswith(b"/") and end and end != ALL_KEYS_END and end == prefix_end(start):
                by_prefix.setdefault(start, []).append(watcher)
            else:
                others.append(watcher)
        return by_prefix, others


class EmbeddedWatcher(Watcher):
    """A watch on an :class:`EmbeddedStore`: live events when caught up, else reads from the event log."""

    def __init__(
        self,
        store: "EmbeddedStore",
        key: bytes,
        end: bytes,
        start_revision: int,
        prev_kv: bool,
        progress_notify: bool,
    ) -> None:
        self._store = store
        self._key = key
        self._end = end
        self._prev_kv = prev_kv
        self.progress_notify = progress_notify
        self._queue: deque[WatchResponse] = deque()
        self._queued_events = 0
        self._waiter: asyncio.Future | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._progress_wanted = False
        self._last_activity = time.monotonic()
        self._min_revision = 0
        self._sink: Callable[[int, Sequence[Change]], None] | None = None
        published = store._published
        if start_revision <= 0:
            self._synced, self._cursor = True, 0
        elif start_revision < store._core.compact_revision:
            self._synced, self._cursor = False, start_revision
            self._error = CompactedError(start_revision, store._core.compact_revision)
        elif start_revision <= published:
            self._synced, self._cursor = False, start_revision
        else:
            self._synced, self._cursor = True, 0
            self._min_revision = start_revision

    # -- fed by the store

    def _matches(self, key: bytes) -> bool:
        return _in_range(key, self._key, self._end)

    def _hand(self, revision: int, changes: Sequence[Change]) -> None:
        """Pass the live changes of one revision to the sink (:meth:`deliver_to`)."""
        try:
            self._sink(revision, changes)  # type: ignore[misc]
        except Exception as exc:
            self._sink_failed(revision, exc)

    def _sink_failed(self, revision: int, exc: Exception) -> None:
        """The sink raised ``exc`` at ``revision``: log it and end the watch with a StoreError."""
        log.exception("the sink of the watcher on %r failed at revision %d", self._key, revision)
        self._fail(StoreError(f"the watch's sink failed at revision {revision}: {exc!r}"))

    def _deliver(self, revision: int, events: list[Event]) -> None:
        """Queue the live events of one revision (falling back to the log when too far behind)."""
        if self._queued_events + len(events) > MAX_PENDING_EVENTS:
            self._synced = False
            self._cursor = revision
            log.warning(
                "watcher on %r fell %d events behind; it continues from the event log at revision %d",
                self._key,
                self._queued_events,
                revision,
            )
            return
        self._enqueue(WatchResponse(revision, events))

    def _enqueue(self, response: WatchResponse) -> None:
        self._queue.append(response)
        self._queued_events += len(response.events)
        self._last_activity = time.monotonic()
        self._wake()

    def _progress(self) -> None:
        """Queue a progress notification at the published revision (deferred while catching up)."""
        if self._closed or self._error is not None:
            return
        if self._synced:
            self._enqueue(WatchResponse(self._store._published, progress=True))
        else:
            self._progress_wanted = True

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._closed:
            self._error = error
        self._store._watchers.discard(self)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _catch_up(self) -> None:
        """Read the next batch of logged events (never beyond the published revision)."""
        store = self._store
        core = store._core
        if self._cursor < core.compact_revision:
            self._fail(CompactedError(self._cursor, core.compact_revision))
            return
        published = store._published
        raw = core.events(self._cursor, self._key, self._end or b"", CATCH_UP_BATCH, self._prev_kv, published)
        if len(raw) >= CATCH_UP_BATCH:
            revision = raw[-1][1][3]
            self._cursor = revision + 1
        else:
            revision = published
            self._synced, self._cursor = True, 0
        if raw:
            events = [_to_event(r, self._prev_kv) for r in raw]
            self._queue.append(WatchResponse(revision, events))
            self._queued_events += len(events)
            self._last_activity = time.monotonic()
        if self._synced and self._progress_wanted:
            self._progress_wanted = False
            self._progress()

    # -- the Watcher contract

    async def __anext__(self) -> WatchResponse:
        """The next batch of events (consecutive batches merged) or progress notification."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._queue:
                return self._pop()
            if self._error is not None:
                raise self._error
            if not self._synced:
                self._catch_up()
                continue
            self._store._ensure_tasks()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _pop(self) -> WatchResponse:
        first = self._queue.popleft()
        self._queued_events -= len(first.events)
        if first.progress:
            return first
        events = list(first.events)
        revision = first.revision
        while self._queue and not self._queue[0].progress and len(events) < MAX_RESPONSE_EVENTS:
            nxt = self._queue.popleft()
            self._queued_events -= len(nxt.events)
            events.extend(nxt.events)
            revision = nxt.revision
        return WatchResponse(revision, events)

    async def cancel(self) -> None:
        """Stop the watch; pending and later iteration ends. Idempotent."""
        self._closed = True
        self._queue.clear()
        self._queued_events = 0
        self._store._watchers.discard(self)
        self._wake()

    async def request_progress(self) -> None:
        """Queue a progress notification carrying the published revision."""
        self._progress()

    def deliver_to(self, sink: Callable[[int, Sequence[Change]], None]) -> bool:
        """Hand later live changes to ``sink`` as they are published (see :meth:`Watcher.deliver_to`).

        Live events reach a watcher only once it has caught up with the log, and the call
        that catches it up returns the last logged batch at once, so no logged batch is
        ever behind a sunk one. Refused while events wait in the queue, which the sink
        would overtake.
        """
        if self._queue:
            return False
        self._sink = sink
        return True


class EmbeddedStore(Store):
    """An etcd-semantics store held in this process by an :class:`MVCCStore` kernel.

    :param url: the URL the store was opened with.
    :param core: the kernel to serve (a fresh one if ``None``; a recovered one for ``file://``).
    :param journal: the durability layer (see the module docstring), or ``None`` for a volatile store.
    :param leases: leases to restore, ``{lease_id: granted_ttl}``; they restart their full TTL.
    :param progress_interval: seconds between progress notifications to idle
        ``progress_notify`` watchers.
    """

    def __init__(
        self,
        url: str,
        core: MVCCStore | None = None,
        *,
        journal: Journal | None = None,
        leases: Mapping[int, int] | None = None,
        progress_interval: float = 10.0,
    ) -> None:
        self.url = url
        self.core = MVCCStore() if core is None else core
        self.progress_interval = progress_interval
        self._core = self.core
        self._journal = journal
        self._published = self._core.revision
        self._watchers = _Watchers()
        self._leases: dict[int, _LeaseState] = {}
        self._tail: asyncio.Future | None = None
        self._closed = False
        self._failure: StoreError | None = None
        self._expiry_task: asyncio.Task | None = None
        self._progress_task: asyncio.Task | None = None
        #: The journal when it is ordered (see the module docstring), else ``None``.
        self._ordered: OrderedJournal | None = None
        #: Events of applied, unpublished revisions saved from a compaction (ordered journal only).
        self._held: list = []
        if journal is not None and hasattr(journal, "listen") and hasattr(journal, "put"):
            self._ordered = journal  # type: ignore[assignment]
            journal.listen(self._on_durable, self._on_journal_failure)
        self._restore_leases(dict(leases or {}))

    def _restore_leases(self, leases: dict[int, int]) -> None:
        now = time.monotonic()
        for lease_id, ttl in leases.items():
            self._leases[lease_id] = _LeaseState(lease_id, ttl, now + ttl)
        if self._core.revision == 0:
            return
        for key, lease_id in self._core.leased_keys():
            state = self._leases.get(lease_id)
            if state is None:
                state = self._leases[lease_id] = _LeaseState(lease_id, 0, now, orphan=True)
            state.keys.add(key)

    # ------------------------------------------------------------------ plumbing

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise StoreClosedError()
        if self._leases and self._expiry_task is None:
            self._ensure_tasks()

    def _check_revision(self, revision: int) -> None:
        if revision > 0:
            current = self._core.revision
            if revision > current:
                raise FutureRevisionError(revision, current)
            compacted = self._core.compact_revision
            if revision < compacted:
                raise CompactedError(revision, compacted)

    def _require_lease(self, lease_id: int, *, expired_ok: bool = False) -> _LeaseState:
        """The live lease ``lease_id``; one past its deadline counts as gone unless ``expired_ok``."""
        state = self._leases.get(lease_id)
        if state is None or state.orphan or (not expired_ok and state.deadline <= time.monotonic()):
            raise LeaseNotFoundError(lease_id)
        return state

    def _ensure_tasks(self) -> None:
        """Start the lease expiry and progress tasks once an event loop runs."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: started on the next call inside it
            return
        if self._leases and (self._expiry_task is None or self._expiry_task.done()):
            self._expiry_task = loop.create_task(self._expire_leases())
        if self._progress_task is None and any(w.progress_notify for w in self._watchers):
            self._progress_task = loop.create_task(self._notify_progress())

    def _committed(self, revision: int) -> Awaitable[None] | None:
        """Bookkeeping right after the kernel applied a write at ``revision``.

        Updates lease key sets, hands the write to the journal (synchronously,
        so journal calls follow revision order) and publishes it to watchers,
        at once or, with a journal, once durable. Returns what the writer must
        await, if anything.
        """
        if self._journal is None and not self._watchers and not self._leases:
            self._published = revision
            return None
        raw = self._core.events(revision, b"\0", ALL_KEYS_END, 0, True, revision)
        if self._leases:
            for kind, kv, prev in raw:
                if prev is not None and prev[5]:
                    state = self._leases.get(prev[5])
                    if state is not None:
                        state.keys.discard(kv[0])
                if kind == PUT and kv[5]:
                    state = self._leases.get(kv[5])
                    if state is not None:
                        state.keys.add(kv[0])
        if self._journal is None:
            self._publish(revision, raw)
            return None
        mutations = [
            Mutation("put", kv[0], kv[1], kv[5]) if kind == PUT else Mutation("delete", kv[0])
            for kind, kv, _ in raw
        ]
        try:
            durable = self._journal.write(revision, mutations)
        except Exception as exc:
            self._break(StoreUnavailableError(f"journal write of revision {revision} failed: {exc!r}"))
            raise self._failure from exc
        if self._ordered is not None:
            return durable  # published per batch by _on_durable
        previous = self._tail
        done = asyncio.get_running_loop().create_future()
        self._tail = done
        return asyncio.ensure_future(self._publish_when_durable(revision, raw, durable, previous, done))

    async def _publish_when_durable(
        self,
        revision: int,
        raw: list,
        durable: Awaitable[None],
        previous: asyncio.Future | None,
        done: asyncio.Future,
    ) -> None:
        try:
            try:
                await durable
            except Exception as exc:
                self._break(StoreUnavailableError(f"journal write of revision {revision} failed: {exc!r}"))
                raise self._failure from exc
            if previous is not None and not previous.done():
                await previous
            if self._failure is not None:
                raise self._failure
            self._publish(revision, raw)
        finally:
            if not done.done():
                done.set_result(None)

    def _on_durable(self, revision: int) -> None:
        """The ordered journal made every write up to ``revision`` durable: publish them in order."""
        published = self._published
        if revision <= published:
            return
        if self._watchers:
            raw = [r for r in self._held if r[1][3] <= revision]
            after = max(published, raw[-1][1][3] if raw else published)
            if after < revision:
                raw.extend(self._core.events(after + 1, b"\0", ALL_KEYS_END, 0, True, revision))
            start = 0
            for i in range(1, len(raw) + 1):
                if i == len(raw) or raw[i][1][3] != raw[start][1][3]:
                    self._publish(raw[start][1][3], raw[start:i])
                    start = i
        if self._held:
            self._held = [r for r in self._held if r[1][3] > revision]
        self._published = revision

    def _on_journal_failure(self, error: BaseException) -> None:
        """The ordered journal failed: nothing after the published revision is durable."""
        self._break(StoreUnavailableError(f"journal write after revision {self._published} failed: {error!r}"))

    def _hold_unpublished(self, revision: int) -> None:
        """Before compacting to ``revision``: keep the events of unpublished revisions up to it
        (those before it leave the log, and the previous versions of those at it go)."""
        start = max(self._published, self._held[-1][1][3] if self._held else 0) + 1
        if start <= revision:
            self._held.extend(self._core.events(start, b"\0", ALL_KEYS_END, 0, True, revision))

    def _break(self, failure: StoreError) -> None:
        """The journal failed: memory and disk disagree, refuse everything from now on."""
        if self._failure is None:
            self._failure = failure
            log.error("store %s is unusable: %s", self.url, failure)
            for watcher in list(self._watchers):
                watcher._fail(failure)

    def _publish(self, revision: int, raw: list) -> None:
        """Make ``revision`` visible to watchers: fan its events out to the caught-up ones."""
        self._published = revision
        if not self._watchers or not raw:
            return
        if len(raw) == 1:  # most revisions are one write: only the watchers of its key are visited
            kind, kv, _ = raw[0]
            self._publish_one(revision, kind, kv[0], kv[1], raw[0])
            return
        all_changes: list[Change] | None = None
        plain: list[Event] | None = None
        full: list[Event] | None = None
        for watcher in list(self._watchers):
            if not watcher._synced or revision < watcher._min_revision:
                continue
            if watcher._sink is not None:
                if all_changes is None:
                    all_changes = [("PUT", kv[0], kv[1]) if kind == PUT else ("DELETE", kv[0], b"") for kind, kv, _ in raw]
                changes = [c for c in all_changes if watcher._matches(c[1])]
                if changes:
                    watcher._hand(revision, changes)
                continue
            if watcher._prev_kv:
                if full is None:
                    full = [_to_event(r, True) for r in raw]
                source = full
            else:
                if plain is None:
                    plain = [_to_event(r, False) for r in raw]
                source = plain
            if len(source) == 1:  # most revisions are one write: no list scan per watcher
                if watcher._matches(source[0].kv.key):
                    watcher._deliver(revision, [source[0]])
                continue
            events = [e for e in source if watcher._matches(e.kv.key)]
            if events:
                watcher._deliver(revision, events)

    def _publish_one(self, revision: int, kind: int, key: bytes, value: bytes, raw: tuple | None) -> None:
        """Fan the one change of ``revision`` (``kind`` of ``key``, its new ``value``) out to the
        caught-up watchers of ``key``. ``raw``: the change as the kernel's event log holds it,
        or None to read it from the log only if a watcher without a sink wants an :class:`Event`."""
        changes: list[Change] | None = None
        plain_event = full_event = None
        for watcher in self._watchers.concerned(key):
            if not watcher._synced or revision < watcher._min_revision:
                continue
            sink = watcher._sink
            if sink is not None:
                if changes is None:
                    changes = [("PUT", key, value) if kind == PUT else ("DELETE", key, b"")]
                try:  # watcher._hand inlined: most writes pass here
                    sink(revision, changes)
                except Exception as exc:
                    watcher._sink_failed(revision, exc)
                continue
            if raw is None:
                raw = self._core.events(revision, key, b"", 0, True, revision)[0]
            if watcher._prev_kv:
                if full_event is None:
                    full_event = _to_event(raw, True)
                watcher._deliver(revision, [full_event])
            else:
                if plain_event is None:
                    plain_event = _to_event(raw, False)
                watcher._deliver(revision, [plain_event])

    def _committed_one(self, revision: int, kind: int, key: bytes, value: bytes, lease: int,
                       prev: tuple | None) -> Awaitable[None] | None:
        """:meth:`_committed` of a write that changed one key, told what the change was: ``kind``
        of ``key`` with ``value`` on ``lease``, the key's kernel tuple before it ``prev``.

        Without a journal the event log is not read (see :meth:`_publish_one`); with one, the
        general :meth:`_committed` runs.
        """
        if self._journal is not None:
            return self._committed(revision)
        if self._leases:
            self._track_put(key, lease if kind == PUT else 0, prev)
        self._published = revision
        if self._watchers:
            self._publish_one(revision, kind, key, value, None)
        return None

    def _durable(self, pending: Awaitable[None]) -> Awaitable[None]:
        """What a writer awaits of the ``pending`` part of its write's bookkeeping: the ordered
        journal's own future, else the publication shielded (a cancelled writer must not stop it)."""
        return pending if self._ordered is not None else asyncio.shield(pending)

    async def _finish_write(self, revision_before: int) -> None:
        """Run the post-write bookkeeping if the kernel advanced past ``revision_before``."""
        revision = self._core.revision
        if revision == revision_before:
            return
        pending = self._committed(revision)
        if pending is not None:
            await self._durable(pending)

    # ------------------------------------------------------------------ KV

    async def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> RangeResult:
        """Key-values in ``[key, range_end)`` at ``revision``, sorted by key (see :meth:`Store.range`)."""
        self._check_usable()
        check_key(key)
        self._check_revision(revision)
        return self._range(key, range_end, limit, revision, keys_only, count_only)

    async def get(self, key: bytes, *, revision: int = 0) -> KeyValue | None:
        """The key-value of one key, or ``None`` (see :meth:`Store.get`)."""
        if revision:
            return await super().get(key, revision=revision)
        self._check_usable()
        check_key(key)
        kv = self._core.get_kv(key)
        return _key_value(*kv) if kv is not None else None

    def _range(
        self, key: bytes, range_end: bytes | None, limit: int, revision: int, keys_only: bool, count_only: bool
    ) -> RangeResult:
        kvs, count, more = self._core.range(
            key, _end(range_end), max(revision, 0), max(limit, 0), keys_only, count_only
        )
        return RangeResult([_key_value(*kv) for kv in kvs], count, more, self._core.revision)

    async def put(self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> PutResult:
        """Write ``value`` under ``key`` (see :meth:`Store.put`)."""
        journal = self._ordered
        if journal is None or self._failure is not None or self._closed or self._leases or lease or prev_kv:
            return await self._put(key, value, lease, prev_kv)
        # the durable write path without leases or prev_kv: kept to the minimum
        check_put(key, value)
        revision = self._core.put(key, value, 0)
        try:
            durable = journal.put(revision, key, value, 0)
        except Exception as exc:
            self._break(StoreUnavailableError(f"journal write of revision {revision} failed: {exc!r}"))
            raise self._failure from exc
        await durable
        return PutResult(revision, None)

    async def _put(self, key: bytes, value: bytes, lease: int, prev_kv: bool) -> PutResult:
        """:meth:`put` in general."""
        self._check_usable()
        check_put(key, value)
        if lease:
            self._require_lease(lease)
        core = self._core
        journal = self._ordered
        if journal is None:
            prev = core.get_kv(key) if prev_kv or self._leases else None
            revision = core.put(key, value, lease)
            pending = self._committed_one(revision, PUT, key, value, lease, prev)
            if pending is not None:
                await self._durable(pending)
            return PutResult(revision, _key_value(*prev) if prev_kv and prev is not None else None)
        leases = self._leases
        prev = core.get_kv(key) if prev_kv or leases else None
        revision = core.put(key, value, lease)
        if leases:
            self._track_put(key, lease, prev)
        try:
            durable = journal.put(revision, key, value, lease)
        except Exception as exc:
            self._break(StoreUnavailableError(f"journal write of revision {revision} failed: {exc!r}"))
            raise self._failure from exc
        await durable
        return PutResult(revision, _key_value(*prev) if prev_kv and prev is not None else None)

    def _track_put(self, key: bytes, lease: int, prev: tuple | None) -> None:
        """Move ``key`` from its previous lease's key set to ``lease``'s."""
        if prev is not None and prev[5]:
            state = self._leases.get(prev[5])
            if state is not None:
                state.keys.discard(key)
        if lease:
            state = self._leases.get(lease)
            if state is not None:
                state.keys.add(key)

    async def delete_range(
        self, key: bytes, range_end: bytes | None = None, *, prev_kv: bool = False
    ) -> DeleteResult:
        """Delete the keys in ``[key, range_end)`` (see :meth:`Store.delete_range`)."""
        self._check_usable()
        check_key(key)
        before = self._core.revision
        revision, deleted = self._core.delete_range(key, _end(range_end))
        await self._finish_write(before)
        return DeleteResult(revision, len(deleted), [_key_value(*kv) for kv in deleted] if prev_kv else [])

    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """Evaluate ``compare`` and run one branch atomically at one revision (see :meth:`Store.txn`)."""
        self._check_usable()
        check_txn(compare, success, failure)
        core = self._core
        succeeded = all(self._compare(c) for c in compare)
        ops = success if succeeded else failure
        for op in ops:
            if isinstance(op, PutOp):
                check_put(op.key, op.value)
                if op.lease:
                    self._require_lease(op.lease)
            elif isinstance(op, RangeOp):
                self._check_revision(op.revision)
            elif not isinstance(op, DeleteOp):
                raise TypeError(f"a txn operation is a RangeOp, PutOp or DeleteOp, got {type(op).__name__}")
        before = core.revision
        results: list[Any] = []
        core.begin()
        try:
            for op in ops:
                if isinstance(op, RangeOp):
                    results.append(
                        self._range(op.key, op.range_end, op.limit, op.revision, op.keys_only, op.count_only)
                    )
                elif isinstance(op, PutOp):
                    prev = core.get_kv(op.key) if op.prev_kv else None
                    core.put(op.key, op.value, op.lease)
                    results.append(prev)
                else:
                    _, deleted = core.delete_range(op.key, _end(op.range_end))
                    results.append(deleted)
        finally:
            revision = core.commit()
        responses: list[Any] = []
        # As in etcd, each result carries the revision as of that operation: the old one
        # until the transaction's first write, the new one from then on.
        at = before
        for op, result in zip(ops, results):
            if isinstance(op, RangeOp):
                responses.append(RangeResult(result.kvs, result.count, result.more, at))
            elif isinstance(op, PutOp):
                at = revision
                responses.append(PutResult(at, _key_value(*result) if result is not None else None))
            else:
                if result:
                    at = revision
                prev_kvs = [_key_value(*kv) for kv in result] if op.prev_kv else []
                responses.append(DeleteResult(at, len(result), prev_kvs))
        await self._finish_write(before)
        return TxnResult(succeeded, revision, responses)

    async def put_if_revision(self, key: bytes, value: bytes, mod_revision: int, *, lease: int = 0) -> int:
        """Put if the key's mod revision is ``mod_revision`` (see :meth:`Store.put_if_revision`)."""
        self._check_usable()
        check_key(key)
        size = len(key) + 8 + len(key) + len(value)  # as check_txn counts the compare and the put
        if size > MAX_REQUEST_BYTES:
            raise RequestTooLargeError(size, MAX_REQUEST_BYTES)
        core = self._core
        kv = core.get_kv(key)
        if (kv[3] if kv is not None else 0) != mod_revision:
            return 0
        if lease:
            self._require_lease(lease)
        revision = core.put(key, value, lease)
        pending = self._committed_one(revision, PUT, key, value, lease, kv)
        if pending is not None:
            await self._durable(pending)
        return revision

    async def delete_if_revision(self, key: bytes, mod_revision: int) -> int:
        """Delete if the key's mod revision is ``mod_revision`` (see :meth:`Store.delete_if_revision`)."""
        self._check_usable()
        check_key(key)
        core = self._core
        kv = core.get_kv(key)
        if kv is None or kv[3] != mod_revision:
            return 0
        revision, _ = core.delete_range(key, b"")
        pending = self._committed_one(revision, DELETE, key, b"", 0, kv)
        if pending is not None:
            await self._durable(pending)
        return revision

    def _compare(self, c: Compare) -> bool:
        check_key(c.key)
        if c.range_end is None:
            return _compare_holds(self._core.get_kv(c.key), c)
        kvs, _, _ = self._core.range(c.key, c.range_end, 0, 0, False, False)
        if not kvs:
            return _compare_holds(None, c)
        return all(_compare_holds(kv, c) for kv in kvs)

    # ------------------------------------------------------------------ watch

    def watch(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> EmbeddedWatcher:
        """Watch ``[key, range_end)`` from ``start_revision`` (see :meth:`Store.watch`)."""
        self._check_usable()
        check_key(key)
        watcher = EmbeddedWatcher(self, key, _end(range_end), start_revision, prev_kv, progress_notify)
        if watcher._error is None:
            self._watchers.add(watcher)
        return watcher

    async def _notify_progress(self) -> None:
        """Every ``progress_interval``: a progress notification to each idle progress watcher."""
        while not self._closed:
            await asyncio.sleep(self.progress_interval)
            idle_since = time.monotonic() - self.progress_interval
            for watcher in list(self._watchers):
                if watcher.progress_notify and not watcher._queue and watcher._last_activity <= idle_since:
                    watcher._progress()

    # ------------------------------------------------------------------ maintenance

    async def compact(self, revision: int) -> None:
        """Drop history before ``revision`` (see :meth:`Store.compact`)."""
        self._check_usable()
        core = self._core
        if revision <= core.compact_revision:
            raise CompactedError(revision, core.compact_revision)
        if revision > core.revision:
            raise FutureRevisionError(revision, core.revision)
        if self._ordered is not None and revision > self._published:
            self._hold_unpublished(revision)
        core.compact(revision)
        if self._journal is not None:
            await self._journal.compacted(revision)

    async def current_revision(self) -> int:
        """The revision of the latest applied write."""
        self._check_usable()
        return self._core.revision

    # ------------------------------------------------------------------ leases

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> Lease:
        """Grant a lease of ``ttl`` seconds (at least 1); ``lease_id`` 0 picks a free ID."""
        self._check_usable()
        if lease_id < 0:
            raise LeaseNotFoundError(lease_id)
        if lease_id == 0:
            lease_id = random.getrandbits(62) + 1
            while lease_id in self._leases:
                lease_id = random.getrandbits(62) + 1
        elif lease_id in self._leases:
            raise LeaseExistsError(lease_id)
        ttl = max(int(ttl), 1)
        self._leases[lease_id] = _LeaseState(lease_id, ttl, time.monotonic() + ttl)
        self._ensure_tasks()
        if self._journal is not None:
            await self._journal.lease_granted(lease_id, ttl)
        return Lease(lease_id, ttl)

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease to its granted TTL; returns that TTL."""
        self._check_usable()
        state = self._require_lease(lease_id)
        state.deadline = time.monotonic() + state.ttl
        return state.ttl

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke a lease and delete its keys at one revision."""
        self._check_usable()
        await self._revoke(self._require_lease(lease_id, expired_ok=True))

    async def _revoke(self, state: _LeaseState) -> None:
        del self._leases[state.id]
        recorded = None
        if self._journal is not None and not state.orphan:
            recorded = self._journal.lease_revoked(state.id)
        pending = None
        if state.keys:
            core = self._core
            core.begin()
            try:
                for key in sorted(state.keys):
                    core.delete_range(key, b"")
            finally:
                revision = core.commit()
            pending = self._committed(revision)
        if recorded is not None:
            await recorded
        if pending is not None:
            await self._durable(pending)

    async def lease_time_to_live(self, lease_id: int, *, keys: bool = False) -> LeaseStatus:
        """Remaining and granted TTL of a lease, and its keys (sorted) if asked."""
        self._check_usable()
        state = self._require_lease(lease_id)
        remaining = max(0, math.ceil(state.deadline - time.monotonic()))
        return LeaseStatus(lease_id, remaining, state.ttl, sorted(state.keys) if keys else [])

    async def _expire_leases(self) -> None:
        """Revoke leases whose deadline passed; sleeps until the next deadline (at most EXPIRY_TICK)."""
        while not self._closed and self._leases:
            now = time.monotonic()
            for state in [s for s in self._leases.values() if s.deadline <= now]:
                if self._leases.get(state.id) is not state:
                    continue
                try:
                    await self._revoke(state)
                except StoreError as exc:
                    log.error("lease %x expired but could not be revoked: %s", state.id, exc)
                    return
            if not self._leases:
                break
            next_deadline = min(s.deadline for s in self._leases.values())
            await asyncio.sleep(min(max(next_deadline - time.monotonic(), 0.001), EXPIRY_TICK))
        self._expiry_task = None

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Stop background tasks, end every watch with :class:`StoreClosedError`, flush the journal."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        tasks = [t for t in (self._expiry_task, self._progress_task) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watcher in list(self._watchers):
            watcher._fail(StoreClosedError())
        self._watchers.clear()
        if self._tail is not None and not self._tail.done():
            await asyncio.shield(self._tail)
        if self._journal is not None:
            await self._journal.close()
