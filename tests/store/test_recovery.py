"""Recovery: the reopened store equals the one that stopped, revisions, history, leases and all."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.plugins.stores import kernel_image, wal
from orchestra.plugins.stores.embedded import EmbeddedStore
from orchestra.plugins.stores.journal import Journal, JournalSettings
from orchestra.plugins.stores import snapshot as snap
from orchestra.plugins.stores.recovery import recover
from orchestra.plugins.stores.file import open_file_store
from orchestra.store.errors import CorruptionError
from orchestra.store.types import Compare, DeleteOp, PutOp, prefix_range


async def state_of(store):
    """Everything observable without timing: keys with revisions, history, events, leases."""
    core = store.core
    revision = core.revision
    compact = core.compact_revision
    history = {
        r: core.range(b"\0", b"\0", r, 0, False, False)[0] for r in range(max(compact, 1), revision + 1)
    }
    events = core.events(compact + 1) if revision > compact else []
    return revision, compact, history, events


async def test_reopened_store_equals_the_closed_one(tmp_path):
    url = f"file://{tmp_path}"
    store = await open_file_store(url)
    lease = await store.lease_grant(60)
    doomed = await store.lease_grant(60)
    await store.put(b"/a", b"1")
    await store.put(b"/a", b"2", lease=lease.id)
    await store.put(b"/b", b"3", lease=doomed.id)
    await store.txn(
        [Compare.version(b"/a", "=", 2)],
        [PutOp(b"/c", b"4"), DeleteOp(b"/b"), PutOp(b"/d", b"5")],
    )
    await store.delete_range(*prefix_range(b"/d"))
    await store.put(b"/e", b"6", lease=doomed.id)
    await store.lease_revoke(doomed.id)
    await store.compact(3)
    await store.put(b"/f", b"7")
    before = await state_of(store)
    await store.close()

    store = await open_file_store(url)
    try:
        assert await state_of(store) == before
        status = await store.lease_time_to_live(lease.id, keys=True)
        assert (status.granted_ttl, status.keys) == (60, [b"/a"])
        with pytest.raises(Exception, match="not found"):
            await store.lease_time_to_live(doomed.id)
        a = await store.get(b"/a")
        assert a.lease == lease.id
        with pytest.raises(Exception, match="compacted"):
            await store.get(b"/a", revision=2)
    finally:
        await store.close()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from([b"a", b"b", b"c", b"d"]), st.binary(max_size=20)),
        st.tuples(st.just("delete"), st.sampled_from([b"a", b"b", b"c", b"d"]), st.just(b"")),
        st.tuples(st.just("txn"), st.sampled_from([b"a", b"b", b"c"]), st.binary(max_size=5)),
        st.tuples(st.just("compact"), st.just(b""), st.just(b"")),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=ops, snapshot_every=st.sampled_from([0, 2, 5]))
def test_any_history_survives_reopening(tmp_path_factory, operations, snapshot_every):
    directory = tmp_path_factory.mktemp("store")
    url = f"file://{directory}?snapshot_every={snapshot_every}"

    async def run():
        store = await open_file_store(url)
        for kind, key, value in operations:
            if kind == "put":
                await store.put(key, value)
            elif kind == "delete":
                await store.delete_range(key)
            elif kind == "txn":
                await store.txn([], [PutOp(key, value), PutOp(key + b"2", value), DeleteOp(b"d")])
            else:
                revision = await store.current_revision()
                if revision > store.core.compact_revision:
                    await store.compact(revision)
        before = await state_of(store)
        await store.close()
        store = await open_file_store(url)
        after = await state_of(store)
        await store.close()
        assert after == before

    asyncio.run(run())


def test_a_write_whose_revision_does_not_follow_is_corruption(tmp_path):
    writer = wal.SegmentWriter(str(tmp_path), 1, 1 << 20)
    mutation = wal.LoggedMutation("put", b"k", b"v")
    writer.append([wal.encode_write(1, 1, [mutation]), wal.encode_write(2, 3, [mutation])], 1, 2)
    writer.close()
    with pytest.raises(CorruptionError, match="revision 3, expected 2") as info:
        recover(str(tmp_path))
    assert info.value.path.endswith(".wal") and info.value.offset > 0


def test_a_write_that_changes_nothing_is_corruption(tmp_path):
    writer = wal.SegmentWriter(str(tmp_path), 1, 1 << 20)
    writer.append([wal.encode_write(1, 1, [wal.LoggedMutation("delete", b"absent")])], 1, 1)
    writer.close()
    with pytest.raises(CorruptionError, match="changes nothing"):
        recover(str(tmp_path))


def test_recovering_an_empty_directory(tmp_path):
    recovered = recover(str(tmp_path))
    assert (recovered.core.revision, recovered.next_lsn, recovered.leases) == (0, 1, {})


async def test_recovery_from_a_snapshot_and_the_log_after_it(tmp_path):
    directory = str(tmp_path)
    core = recover(directory).core
    journal = Journal(
        directory,
        1,
        capture=lambda: kernel_image.capture(core),
        settings=JournalSettings(snapshot_every=0, snapshot_bytes=0, segment_bytes=4096),
    )
    store = EmbeddedStore(f"file://{directory}", core, journal=journal)
    lease = await store.lease_grant(120)
    for i in range(40):
        await store.put(b"/k%d" % (i % 9), b"v%d" % i, lease=lease.id if i % 4 == 0 else 0)
        if i % 5 == 0:
            await store.delete_range(b"/k%d" % ((i + 3) % 9))
    await store.compact(20)
    await store.put(b"/k1", b"after compaction")
    await journal.snapshot()
    for i in range(3):
        await store.put(b"/after%d" % i, b"x")
    before = await state_of(store)
    await store.close()

    ((_, path),) = snap.list_snapshots(directory)
    assert snap.read_snapshot(path).compact_revision == 20
    assert all(s.first_lsn > 1 for s in wal.list_segments(directory)), "covered segments are deleted"
    recovered = recover(directory)
    assert recovered.replayed == 3
    assert recovered.snapshot_lsn + recovered.replayed == recovered.next_lsn - 1
    assert recovered.leases == {lease.id: 120}
    assert recovered.core.compact_revision == 20

    store = await open_file_store(f"file://{directory}")
    try:
        assert await state_of(store) == before
        status = await store.lease_time_to_live(lease.id, keys=True)
        assert status.keys == sorted(kv.key for kv in (await store.range(b"/", b"0")).kvs if kv.lease == lease.id)
    finally:
        await store.close()


def test_a_snapshot_that_does_not_restore_names_the_file(tmp_path):
    path = snap.write_snapshot(str(tmp_path), snap.SnapshotImage(3, 9, 0, [], [], [(b"a", b"1", 1, 1, 1, 0)]))
    with pytest.raises(CorruptionError, match="does not restore") as info:
        recover(str(tmp_path))
    assert info.value.path == path


def test_leftover_temporary_snapshot_is_removed(tmp_path):
    leftover = tmp_path / (snap.snapshot_name(4) + ".tmp")
    leftover.write_bytes(b"half a snapshot")
    recover(str(tmp_path))
    assert not leftover.exists()
