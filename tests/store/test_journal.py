"""The group-commit journal: durability before acknowledgement, batching, failures, snapshots."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from orchestra.plugins.stores import journal as journal_module
from orchestra.plugins.stores import snapshot as snap
from orchestra.plugins.stores import wal
from orchestra.plugins.stores.embedded import Mutation
from orchestra.plugins.stores.journal import CapturedState, Journal, JournalSettings
from orchestra.store.errors import StoreClosedError, StoreUnavailableError


def put(key: bytes, value: bytes = b"v", lease: int = 0) -> list[Mutation]:
    return [Mutation("put", key, value, lease)]


class GatedSync:
    """Replaces ``os.fdatasync`` in the log writer: each sync waits until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls = 0
        self.real = os.fdatasync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.release()
        self.gate.wait()
        self.real(fd)


async def wait_entered(gated: GatedSync) -> None:
    """Wait (without timing assumptions) until the committer thread is inside fdatasync."""
    await asyncio.to_thread(gated.entered.acquire)


async def test_write_is_acknowledged_only_after_fdatasync(tmp_path, monkeypatch):
    gated = GatedSync()
    monkeypatch.setattr(wal.os, "fdatasync", gated)
    journal = Journal(str(tmp_path), 1)
    first = journal.write(1, put(b"a"))
    await wait_entered(gated)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done(), "acknowledged before its batch was synced"
    # Writes arriving while the disk syncs form the next batch.
    second = [journal.write(2 + i, put(b"b%d" % i)) for i in range(50)]
    assert journal.durable_lsn == 0
    gated.gate.set()
    await first
    await asyncio.gather(*second)
    assert journal.durable_lsn == 51
    await journal.close()
    records = wal.scan_log(str(tmp_path)).records
    assert [r.revision for r in records] == list(range(1, 52))


async def test_concurrent_writers_share_syncs(tmp_path, monkeypatch):
    syncs = []
    real = os.fdatasync
    monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (syncs.append(fd), real(fd)))
    journal = Journal(str(tmp_path), 1)
    revision = 0

    async def writer(n: int) -> None:
        nonlocal revision
        for _ in range(n):
            revision += 1
            await journal.write(revision, put(b"k%d" % revision))

    await asyncio.gather(*(writer(20) for _ in range(64)))
    await journal.close()
    assert len(syncs) < 64 * 20 / 4, "group commit should batch concurrent writes"
    assert len(wal.scan_log(str(tmp_path)).records) == 64 * 20


async def test_records_are_logged_in_call_order_with_every_kind(tmp_path):
    journal = Journal(str(tmp_path), 1)
    await asyncio.gather(
        journal.lease_granted(7, 30),
        journal.write(1, [Mutation("put", b"a", b"1", 7), Mutation("delete", b"b")]),
        journal.lease_revoked(7),
        journal.write(2, [Mutation("delete", b"a")]),
        journal.compacted(2),
    )
    assert journal.leases == {}
    await journal.close()
    records = wal.scan_log(str(tmp_path)).records
    assert [type(r).__name__ for r in records] == [
        "LeaseGrantRecord",
        "WriteRecord",
        "LeaseRevokeRecord",
        "WriteRecord",
        "CompactRecord",
    ]
    assert [r.lsn for r in records] == [1, 2, 3, 4, 5]


async def test_lease_table_follows_grants_and_revocations(tmp_path):
    journal = Journal(str(tmp_path), 1, leases={1: 10})
    await journal.lease_granted(2, 20)
    await journal.lease_granted(3, 30)
    await journal.lease_revoked(1)
    assert journal.leases == {2: 20, 3: 30}
    await journal.close()


async def test_close_flushes_pending_records_and_runs_on_close(tmp_path):
    closed = []
    journal = Journal(str(tmp_path), 1, on_close=lambda: closed.append(True))
    futures = [journal.write(i, put(b"k%d" % i)) for i in range(1, 101)]
    await journal.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert closed == [True]
    assert len(wal.scan_log(str(tmp_path)).records) == 100
    with pytest.raises(StoreClosedError):
        await journal.write(101, put(b"late"))
    await journal.close()  # idempotent
    assert closed == [True]


async def test_a_failed_sync_fails_the_batch_and_every_later_record(tmp_path, monkeypatch):
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    journal = Journal(str(tmp_path), 1)
    await journal.write(1, put(b"ok"))
    monkeypatch.setattr(wal.os, "fdatasync", broken)
    with pytest.raises(StoreUnavailableError, match="Input/output error") as info:
        await journal.write(2, put(b"lost"))
    assert str(tmp_path) in str(info.value)
    monkeypatch.undo()
    with pytest.raises(StoreUnavailableError):
        await journal.write(3, put(b"refused"))
    await journal.close()
    assert [r.revision for r in wal.scan_log(str(tmp_path)).records][:1] == [1]


async def test_appending_continues_after_recovered_records(tmp_path):
    first = Journal(str(tmp_path), 1)
    await asyncio.gather(*(first.write(i, put(b"k%d" % i)) for i in range(1, 6)))
    await first.close()
    scan = wal.scan_log(str(tmp_path))
    second = Journal(str(tmp_path), scan.next_lsn)
    await second.write(6, put(b"k6"))
    await second.close()
    assert [r.revision for r in wal.scan_log(str(tmp_path)).records] == [1, 2, 3, 4, 5, 6]
    assert len(wal.list_segments(str(tmp_path))) == 2, "a reopened journal starts a new segment"


# ---------------------------------------------------------------- snapshots


class FakeKernel:
    """Stands in for the kernel's state capture: counts writes, reports them as versions."""

    def __init__(self) -> None:
        self.revision = 0
        self.captures = 0

    def apply(self) -> int:
        self.revision += 1
        return self.revision

    def capture(self) -> CapturedState:
        self.captures += 1
        changes = [(b"k%d" % r, b"v", r, r, 1, 0) for r in range(1, self.revision + 1)]
        return CapturedState.of_entries(self.revision, 0, [], changes)


async def test_snapshot_every_n_records_truncates_the_log(tmp_path):
    kernel = FakeKernel()
    settings = JournalSettings(snapshot_every=10, snapshot_bytes=0, segment_bytes=1 << 20)
    journal = Journal(str(tmp_path), 1, capture=kernel.capture, settings=settings, leases={9: 90})
    for _ in range(25):
        await journal.write(kernel.apply(), put(b"k"))
    await journal.snapshot()
    await journal.close()
    assert kernel.captures >= 2
    ((lsn, path),) = snap.list_snapshots(str(tmp_path))
    image = snap.read_snapshot(path)
    assert image.lsn == lsn == 25
    assert image.revision == 25 and len(image.changes) == 25 and image.base == []
    assert image.leases == [(9, 90)]
    scan = wal.scan_log(str(tmp_path), after_lsn=lsn)
    assert scan.records == [] and scan.next_lsn == 26
    (current,) = wal.list_segments(str(tmp_path))
    assert current.first_lsn > 1, "segments covered by the snapshot are deleted"


async def test_snapshot_waits_for_the_records_it_covers_to_be_durable(tmp_path, monkeypatch):
    kernel = FakeKernel()
    gated = GatedSync()
    journal = Journal(str(tmp_path), 1, capture=kernel.capture)
    await journal.write(kernel.apply(), put(b"a"))
    monkeypatch.setattr(wal.os, "fdatasync", gated)
    pending = journal.write(kernel.apply(), put(b"b"))
    await wait_entered(gated)
    snapshotting = asyncio.ensure_future(journal.snapshot())
    for _ in range(20):
        await asyncio.sleep(0)
    assert snap.list_snapshots(str(tmp_path)) == [], "snapshot published before the log held its records"
    gated.gate.set()
    await pending
    await snapshotting
    assert [lsn for lsn, _ in snap.list_snapshots(str(tmp_path))] == [2]
    await journal.close()


async def test_snapshot_size_trigger(tmp_path):
    kernel = FakeKernel()
    settings = JournalSettings(snapshot_every=0, snapshot_bytes=2000, segment_bytes=1 << 20)
    journal = Journal(str(tmp_path), 1, capture=kernel.capture, settings=settings)
    for _ in range(30):
        await journal.write(kernel.apply(), put(b"key", b"x" * 100))
    await journal.close()
    assert kernel.captures >= 1
    assert snap.list_snapshots(str(tmp_path))


def test_write_and_truncate_keeps_only_what_the_snapshot_does_not_cover(tmp_path):
    writer = wal.SegmentWriter(str(tmp_path), 1, 1)
    for lsn in range(1, 31, 10):
        writer.append([wal.encode_compact(lsn + i, 1) for i in range(10)], lsn, 10)
    writer.close()
    old = snap.SnapshotImage(5, 5, 0, [], [], [])
    snap.write_snapshot(str(tmp_path), old)
    journal_module.write_and_truncate(str(tmp_path), snap.SnapshotImage(15, 15, 0, [], [], []))
    assert [s.first_lsn for s in wal.list_segments(str(tmp_path))] == [11, 21]
    assert [lsn for lsn, _ in snap.list_snapshots(str(tmp_path))] == [15]


def test_encode_put_is_the_record_of_a_one_put_write():
    assert wal.encode_put(4, 9, b"/k", b"value", 3) == wal.encode_write(4, 9, put(b"/k", b"value", 3))


async def test_listener_hears_each_batch_before_its_writers(tmp_path, monkeypatch):
    gated = GatedSync()
    monkeypatch.setattr(wal.os, "fdatasync", gated)
    heard: list[tuple[int, int]] = []
    failures: list[BaseException] = []
    journal = Journal(str(tmp_path), 1)
    journal.listen(lambda revision: heard.append((revision, journal.durable_lsn)), failures.append)
    first = journal.put(1, b"a", b"1", 0)
    await wait_entered(gated)
    later = [journal.put(2, b"b", b"2", 0), journal.lease_granted(5, 30), journal.write(3, put(b"c"))]
    assert heard == []
    first.add_done_callback(lambda _: heard.append(("acknowledged", 1)))
    gated.gate.set()
    await first
    await asyncio.gather(*later)
    assert heard == [(1, 1), ("acknowledged", 1), (3, 4)]
    await journal.close()
    assert failures == []
    records = wal.scan_log(str(tmp_path)).records
    assert [(r.revision, r.mutations[0].key) for r in records if isinstance(r, wal.WriteRecord)] == [
        (1, b"a"),
        (2, b"b"),
        (3, b"c"),
    ]


async def test_listener_hears_a_disk_failure(tmp_path, monkeypatch):
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    heard: list[int] = []
    failures: list[BaseException] = []
    journal = Journal(str(tmp_path), 1)
    journal.listen(heard.append, failures.append)
    monkeypatch.setattr(wal.os, "fdatasync", broken)
    with pytest.raises(StoreUnavailableError, match="Input/output error"):
        await journal.put(1, b"lost", b"v", 0)
    assert heard == []
    assert [str(e) for e in failures] == ["[Errno 5] Input/output error"]
    monkeypatch.undo()
    await journal.close()
