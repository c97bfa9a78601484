"""The journal of the ``file://`` store: group commit of log records, and snapshots.

:class:`Journal` is what :class:`~orchestra.plugins.stores.embedded.EmbeddedStore`
calls after each change. Each call encodes one record synchronously (so records
are in call order, which is revision order) and returns a future that completes
once the record is on disk.

Group commit: records wait in a pending batch; a single committer task hands the
whole batch to a worker thread that writes it with one ``os.write`` and calls
``os.fdatasync``, while the event loop goes on accepting writes into the next
batch. Only after that sync does the committer complete the batch's futures,
in record order. A listener registered with :meth:`Journal.listen` hears once
per synced batch the last write revision it made durable (before the batch's
futures complete), and once of a disk failure: the store publishes to its
watchers per batch instead of per write.

Snapshots: after ``snapshot_every`` records or ``snapshot_bytes`` bytes of log,
the journal captures the kernel state (at a moment between two writes, so it is
exactly the state after the last record), waits until the log holds that record
durably, writes the snapshot from another worker thread, then deletes older
snapshots and the log segments the snapshot covers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from typing import Awaitable, Callable, Sequence

import attrs

from orchestra.plugins.stores import snapshot as snapshot_files
from orchestra.plugins.stores import wal
from orchestra.plugins.stores.wal import encode_put
from orchestra.store.errors import StoreClosedError, StoreUnavailableError

__all__ = ["JournalSettings", "CapturedState", "Journal", "write_and_truncate"]

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class JournalSettings:
    """Tuning of the journal (``file://`` URL query parameters of the same names).

    ``snapshot_every``: records between snapshots (0 disables the count trigger).
    ``snapshot_bytes``: log bytes between snapshots (0 disables the size trigger).
    ``segment_bytes``: size at which a log segment is closed and a new one started.
    """

    snapshot_every: int = 100_000
    snapshot_bytes: int = 256 << 20
    segment_bytes: int = 64 << 20


@attrs.frozen(slots=True)
class CapturedState:
    """The kernel state a snapshot is made of: revisions and the versions, ``base_count``
    then ``change_count`` entries encoded in ``entries`` (see :mod:`.snapshot`)."""

    revision: int
    compact_revision: int
    base_count: int
    change_count: int
    entries: bytes

    @classmethod
    def of_entries(
        cls,
        revision: int,
        compact_revision: int,
        base: Sequence[snapshot_files.Entry],
        changes: Sequence[snapshot_files.Entry],
    ) -> "CapturedState":
        """The state made of decoded ``base`` and ``changes`` entries."""
        entries = snapshot_files.encode_entries(list(base) + list(changes))
        return cls(revision, compact_revision, len(base), len(changes), entries)


class Journal:
    """A durable, group-committed log of store changes, with periodic snapshots.

    ``next_lsn`` is where the recovered log ends and ``leases`` (``{id: ttl}``)
    the recovered leases; the journal keeps that table up to date from the
    records it is given. ``capture`` returns the current kernel state; it is
    called on the event loop between two writes. Without it no snapshots are
    taken. ``on_close`` runs last in :meth:`close` (the plugin releases the
    directory lock there).

    The record methods return awaitables that complete when the record is
    durable, or fail with :class:`StoreUnavailableError` if the disk failed
    (after which every later record fails too: the store must be reopened).
    """

    def __init__(
        self,
        directory: str,
        next_lsn: int,
        *,
        capture: Callable[[], CapturedState] | None = None,
        leases: dict[int, int] | None = None,
        settings: JournalSettings = JournalSettings(),
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """A journal appending at ``next_lsn`` in ``directory``; opens files on first use."""
        self.directory = directory
        self.settings = settings
        self._capture = capture
        self._leases = dict(leases or {})
        self._on_close = on_close
        self._writer = wal.SegmentWriter(directory, next_lsn, settings.segment_bytes)
        self._next_lsn = next_lsn
        self._durable_lsn = next_lsn - 1
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._sync_waiters: list[tuple[int, asyncio.Future]] = []
        self._records_left = 0
        self._bytes_left = 0
        self._reset_snapshot_countdown()
        self._snapshotting = False
        self._snapshot_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: asyncio.Future | None = None
        self._committer: asyncio.Task | None = None
        self._commit_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._snapshot_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._last_revision = 0
        self._on_durable: Callable[[int], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None

    # ------------------------------------------------------------------ records

    def listen(self, on_durable: Callable[[int], None], on_failure: Callable[[BaseException], None]) -> None:
        """Call ``on_durable(revision)`` after each synced batch, with the last write revision it
        holds (before the batch's futures complete), and ``on_failure(error)`` once if the disk fails."""
        self._on_durable = on_durable
        self._on_failure = on_failure

    def write(self, revision: int, mutations: Sequence) -> Awaitable[None]:
        """Log a write the kernel applied at ``revision``; completes when durable."""
        record = wal.encode_write(self._next_lsn, revision, mutations)
        self._last_revision = revision
        return self._enqueue(record)

    def put(self, revision: int, key: bytes, value: bytes, lease: int) -> asyncio.Future:
        """Log a write at ``revision`` that is one put (the record :meth:`write` makes of it)."""
        record = encode_put(self._next_lsn, revision, key, value, lease)
        self._last_revision = revision
        loop = self._loop
        if loop is None or self._idle is not None or self._error is not None or self._closed:
            return self._enqueue(record)
        # _enqueue's common case, inlined: this is the path of most writes
        future = loop.create_future()
        self._next_lsn += 1
        self._pending.append(record)
        self._waiters.append(future)
        self._records_left -= 1
        self._bytes_left -= len(record)
        if (self._records_left <= 0 or self._bytes_left <= 0) and not self._snapshotting:
            self._schedule_snapshot()
        return future

    def lease_granted(self, lease_id: int, ttl: int) -> Awaitable[None]:
        """Log a lease grant; completes when durable."""
        future = self._enqueue(wal.encode_lease_grant(self._next_lsn, lease_id, ttl))
        self._leases[lease_id] = ttl
        return future

    def lease_revoked(self, lease_id: int) -> Awaitable[None]:
        """Log a lease revocation (its key deletions come as the next write); completes when durable."""
        future = self._enqueue(wal.encode_lease_revoke(self._next_lsn, lease_id))
        self._leases.pop(lease_id, None)
        return future

    def compacted(self, revision: int) -> Awaitable[None]:
        """Log a compaction up to ``revision``; completes when durable."""
        return self._enqueue(wal.encode_compact(self._next_lsn, revision))

    @property
    def leases(self) -> dict[int, int]:
        """The live leases as logged, ``{lease_id: granted_ttl}`` (a copy)."""
        return dict(self._leases)

    @property
    def last_lsn(self) -> int:
        """The LSN of the last record handed to the journal."""
        return self._next_lsn - 1

    @property
    def durable_lsn(self) -> int:
        """The LSN of the last record known to be on disk."""
        return self._durable_lsn

    def _enqueue(self, record: bytes) -> asyncio.Future:
        """Add an encoded record to the pending batch; the future completes after its sync."""
        if self._loop is None:
            self._start()
        future = self._loop.create_future()
        if self._error is not None or self._closed:
            future.set_exception(self._refusal())
            return future
        self._next_lsn += 1
        self._pending.append(record)
        self._waiters.append(future)
        idle = self._idle
        if idle is not None:
            self._idle = None
            idle.set_result(None)
        self._records_left -= 1
        self._bytes_left -= len(record)
        if (self._records_left <= 0 or self._bytes_left <= 0) and not self._snapshotting:
            self._schedule_snapshot()
        return future

    def _schedule_snapshot(self) -> None:
        """The countdown ran out: restart it and take a snapshot between this write and the next."""
        self._reset_snapshot_countdown()
        if self._capture is not None:
            self._snapshotting = True
            self._loop.call_soon(self._begin_snapshot)

    def _refusal(self) -> BaseException:
        """The error a record gets when the journal no longer accepts any."""
        if self._error is not None:
            error = StoreUnavailableError(f"write-ahead log in {self.directory} failed: {self._error}")
            error.__cause__ = self._error
            return error
        return StoreClosedError()

    # ------------------------------------------------------------------ group commit

    def _start(self) -> None:
        """Bind to the running loop and start the committer."""
        self._loop = asyncio.get_running_loop()
        self._commit_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="orchestra-wal")
        self._snapshot_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="orchestra-snapshot")
        self._committer = self._loop.create_task(self._commit_loop(), name=f"wal committer {self.directory}")

    async def _commit_loop(self) -> None:
        """Write and sync pending batches one after the other until closed."""
        loop = self._loop
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._idle = loop.create_future()
                await self._idle
                continue
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            revision = self._last_revision
            first_lsn = self._next_lsn - len(batch)
            try:
                await loop.run_in_executor(self._commit_thread, self._writer.append, batch, first_lsn, len(batch))
            except Exception as exc:  # the disk failed: nothing after this point is durable
                log.error("write-ahead log in %s failed: %s", self.directory, exc)
                self._error = exc
                if self._on_failure is not None:
                    self._on_failure(exc)
                self._fail(waiters + self._waiters)
                self._pending, self._waiters = [], []
                self._fail([f for _, f in self._sync_waiters])
                self._sync_waiters = []
                return
            self._durable_lsn = first_lsn + len(batch) - 1
            if self._on_durable is not None:
                try:
                    self._on_durable(revision)
                except Exception:
                    log.exception("durability listener of %s failed at revision %d", self.directory, revision)
            for future in waiters:
                if not future.done():
                    future.set_result(None)
            if self._sync_waiters:
                self._release_sync_waiters()

    def _fail(self, futures: list[asyncio.Future]) -> None:
        """Fail ``futures`` with the journal's refusal."""
        for future in futures:
            if not future.done():
                future.set_exception(self._refusal())

    def _release_sync_waiters(self) -> None:
        """Complete the :meth:`_durable` waits that the last sync satisfied."""
        still = []
        for lsn, future in self._sync_waiters:
            if lsn <= self._durable_lsn:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((lsn, future))
        self._sync_waiters = still

    async def _durable(self, lsn: int) -> None:
        """Return once every record up to ``lsn`` is on disk."""
        if self._error is not None:
            raise self._refusal()
        if lsn <= self._durable_lsn:
            return
        future = self._loop.create_future()
        self._sync_waiters.append((lsn, future))
        await future

    async def flush(self) -> None:
        """Return once every record handed to the journal so far is on disk."""
        if self._loop is not None:
            await self._durable(self._next_lsn - 1)

    # ------------------------------------------------------------------ snapshots

    def _reset_snapshot_countdown(self) -> None:
        """Count records and bytes towards the next snapshot from zero (0 settings never trigger)."""
        never = 1 << 62
        self._records_left = self.settings.snapshot_every or never
        self._bytes_left = self.settings.snapshot_bytes or never

    def _begin_snapshot(self) -> None:
        """Capture the state (between two writes) and start writing it out."""
        if self._closed or self._error is not None:
            self._snapshotting = False
            return
        lsn = self._next_lsn - 1
        try:
            state = self._capture()
        except Exception:
            log.exception("could not capture the store state for a snapshot of %s", self.directory)
            self._snapshotting = False
            return
        leases = sorted(self._leases.items())
        image = snapshot_files.EncodedImage(
            lsn, state.revision, state.compact_revision, leases, state.base_count, state.change_count, state.entries
        )
        self._snapshot_task = self._loop.create_task(self._finish_snapshot(image), name=f"snapshot {lsn}")

    async def snapshot(self) -> None:
        """Take a snapshot now (after one being written) and wait for it; a failure is logged, not raised."""
        if self._capture is None:
            raise RuntimeError(f"the journal of {self.directory} was opened without a state capture")
        if self._loop is None:
            self._start()
        while self._snapshotting:  # one is scheduled or being written: let it finish first
            if self._snapshot_task is not None:
                await asyncio.shield(self._snapshot_task)
            else:
                await asyncio.sleep(0)
        self._snapshotting = True
        self._begin_snapshot()
        if self._snapshot_task is not None:
            await asyncio.shield(self._snapshot_task)

    async def _finish_snapshot(self, image: snapshot_files.EncodedImage) -> None:
        """Once the log holds ``image.lsn`` durably, write the snapshot and truncate the log."""
        try:
            await self._durable(image.lsn)
            # On the committer's thread, so between two batches: the segment holding
            # image.lsn gets a successor and becomes deletable once the snapshot is written.
            await self._loop.run_in_executor(self._commit_thread, self._writer.rotate)
            await self._loop.run_in_executor(self._snapshot_thread, write_and_truncate, self.directory, image)
        except Exception:
            log.exception("snapshot at record %d of %s failed; the log keeps everything", image.lsn, self.directory)
        finally:
            self._snapshotting = False
            self._snapshot_task = None

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Write out every pending record, finish a running snapshot, close the files. Idempotent."""
        if self._closed:
            return
        try:
            if self._loop is not None:
                await self._close_files()
            else:
                self._closed = True
        finally:
            if self._on_close is not None:
                self._on_close()

    async def _close_files(self) -> None:
        """Flush, stop the committer, finish a running snapshot, close the segment."""
        try:
            await self.flush()
        except StoreUnavailableError:
            pass
        self._closed = True
        if self._idle is not None:
            self._idle.set_result(None)
            self._idle = None
        await self._committer
        if self._snapshot_task is not None:
            await asyncio.shield(self._snapshot_task)
        try:
            await self._loop.run_in_executor(self._commit_thread, self._writer.close)
        finally:
            self._commit_thread.shutdown(wait=False)
            self._snapshot_thread.shutdown(wait=False)


def write_and_truncate(directory: str, image: snapshot_files.SnapshotImage | snapshot_files.EncodedImage) -> None:
    """Write ``image`` as a snapshot, then delete older snapshots and the segments it covers."""
    snapshot_files.write_snapshot(directory, image)
    for lsn, path in snapshot_files.list_snapshots(directory):
        if lsn < image.lsn:
            os.unlink(path)
    segments = wal.list_segments(directory)
    for current, following in zip(segments, segments[1:]):
        if following.first_lsn <= image.lsn + 1:
            os.unlink(current.path)
    wal.fsync_directory(directory)
