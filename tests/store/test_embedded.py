"""Behaviour specific to the embedded store: watch fan-out and catch-up, progress, slow
watchers, lease expiry, the journal hook and replay. The store contract itself is
covered by the cross-backend conformance suite."""

from __future__ import annotations

import asyncio

import pytest

from orchestra._ext.kvstore import MVCCStore
from orchestra.plugins.stores import embedded
from orchestra.plugins.stores.embedded import EmbeddedStore, Mutation, apply_mutations
from orchestra.store import (
    CompactedError,
    DeleteOp,
    LeaseNotFoundError,
    PutOp,
    StoreClosedError,
    StoreUnavailableError,
    prefix_end,
    prefix_range,
)

WAIT = 10.0  # generous bound for anything that should happen "soon"


async def next_response(watcher, timeout: float = WAIT):
    return await asyncio.wait_for(watcher.__anext__(), timeout)


async def collect_events(watcher, count: int) -> list:
    events = []
    while len(events) < count:
        response = await next_response(watcher)
        events.extend(response.events)
    return events


@pytest.fixture
async def store():
    s = EmbeddedStore("memory://")
    yield s
    await s.close()


class RecordingJournal:
    """A journal that records every call; with ``hold`` set, writes stay pending until released."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.hold = False
        self.held: list[asyncio.Future] = []
        self.fail = False

    def _ack(self) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(OSError("disk full"))
        elif self.hold:
            self.held.append(fut)
        else:
            fut.set_result(None)
        return fut

    def release(self) -> None:
        for fut in self.held:
            fut.set_result(None)
        self.held.clear()

    def write(self, revision, mutations):
        self.calls.append(("write", revision, list(mutations)))
        return self._ack()

    def lease_granted(self, lease_id, ttl):
        self.calls.append(("lease_granted", lease_id, ttl))
        return self._ack()

    def lease_revoked(self, lease_id):
        self.calls.append(("lease_revoked", lease_id))
        return self._ack()

    def compacted(self, revision):
        self.calls.append(("compacted", revision))
        return self._ack()

    async def close(self):
        self.calls.append(("close",))


# --------------------------------------------------------------------------- watch


async def test_fan_out_to_matching_watchers_only(store):
    pods = store.watch(*prefix_range(b"/pods/"))
    nodes = store.watch(*prefix_range(b"/nodes/"))
    one = store.watch(b"/pods/a")
    await store.put(b"/pods/a", b"1")
    await store.put(b"/nodes/n", b"2")
    await store.put(b"/pods/b", b"3")
    assert [e.kv.key for e in await collect_events(pods, 2)] == [b"/pods/a", b"/pods/b"]
    assert [e.kv.key for e in await collect_events(nodes, 1)] == [b"/nodes/n"]
    assert [e.kv.value for e in await collect_events(one, 1)] == [b"1"]


async def test_each_write_reaches_exactly_the_watchers_whose_range_holds_its_key(store):
    ranges = {
        "registry": prefix_range(b"/registry/"),
        "pods": prefix_range(b"/registry/pods/"),
        "pods-again": prefix_range(b"/registry/pods/"),
        "default-pods": prefix_range(b"/registry/pods/default/"),
        "partial": prefix_range(b"/registry/po"),  # a prefix not ending in "/"
        "one": (b"/registry/pods/default/a", None),
        "span": (b"/registry/pods/default/a", b"/registry/pods/default/c"),
        "everything": (b"\0", b"\0"),
        "nodes": prefix_range(b"/registry/nodes/"),
    }
    watchers = {name: store.watch(start, end) for name, (start, end) in ranges.items()}
    keys = [b"/registry/pods/default/a", b"/registry/pods/default/b", b"/registry/pods/kube/x", b"/registry/nodes/n",
            b"/registry/pods", b"/other/registry/pods/default/a"]
    for key in keys:
        await store.put(key, b"v")

    def holds(start, end, key):
        if end is None:
            return key == start
        if end == b"\0":
            return key >= start
        return start <= key < end

    for name, (start, end) in ranges.items():
        wanted = [k for k in keys if holds(start, end, k)]
        assert [e.kv.key for e in await collect_events(watchers[name], len(wanted))] == wanted, name
        assert not watchers[name]._queue, name  # and nothing else
        await watchers[name].cancel()
    # A cancelled watcher is out of the index: writes go on for the others.
    late = store.watch(*prefix_range(b"/registry/pods/"))
    await store.put(b"/registry/pods/default/z", b"v")
    assert [e.kv.key for e in await collect_events(late, 1)] == [b"/registry/pods/default/z"]


async def test_catch_up_then_live_without_gap_or_duplicate(store, monkeypatch):
    monkeypatch.setattr(embedded, "CATCH_UP_BATCH", 3)
    for i in range(10):
        await store.put(b"k%d" % i, b"v")
    watcher = store.watch(b"k", b"l", start_revision=2)
    first = await next_response(watcher)
    assert [e.kv.mod_revision for e in first.events] == [2, 3, 4]
    for i in range(10, 15):
        await store.put(b"k%d" % i, b"v")
    events = first.events + await collect_events(watcher, 10)
    assert [e.kv.mod_revision for e in events] == list(range(2, 16))


async def test_watch_prev_kv_and_delete_event(store):
    await store.put(b"a", b"1")
    watcher = store.watch(b"a", prev_kv=True)
    await store.put(b"a", b"2")
    await store.delete_range(b"a")
    put, delete = await collect_events(watcher, 2)
    assert (put.type, put.kv.value, put.prev_kv.value) == ("PUT", b"2", b"1")
    assert (delete.type, delete.kv.mod_revision, delete.prev_kv.value) == ("DELETE", 3, b"2")


async def test_txn_events_share_one_response(store):
    watcher = store.watch(b"\0", b"\0")
    await store.txn([], [PutOp(b"a", b"1"), PutOp(b"b", b"2"), DeleteOp(b"c")])
    response = await next_response(watcher)
    assert response.revision == 1
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in response.events] == [("PUT", b"a", 1), ("PUT", b"b", 1)]


async def test_watch_future_start_revision_waits(store):
    watcher = store.watch(b"k", start_revision=3)
    for i in range(4):
        await store.put(b"k", b"%d" % i)
    assert [e.kv.mod_revision for e in await collect_events(watcher, 2)] == [3, 4]


async def test_watch_below_compact_revision_fails(store):
    for i in range(5):
        await store.put(b"k", b"%d" % i)
    await store.compact(3)
    with pytest.raises(CompactedError) as info:
        await next_response(store.watch(b"k", start_revision=2))
    assert info.value.compact_revision == 3
    watcher = store.watch(b"k", start_revision=3)  # as in etcd, the compact revision itself is readable
    assert [e.kv.mod_revision for e in await collect_events(watcher, 3)] == [3, 4, 5]


async def test_progress_notification_when_idle():
    store = EmbeddedStore("memory://", progress_interval=0.05)
    try:
        await store.put(b"a", b"1")
        watcher = store.watch(b"a", progress_notify=True)
        response = await next_response(watcher)
        assert response.progress and response.events == [] and response.revision == 1
    finally:
        await store.close()


async def test_no_progress_without_progress_notify():
    store = EmbeddedStore("memory://", progress_interval=0.01)
    try:
        watcher = store.watch(b"a")
        with pytest.raises(asyncio.TimeoutError):
            await next_response(watcher, timeout=0.2)
    finally:
        await store.close()


async def test_request_progress(store):
    await store.put(b"x", b"1")
    watcher = store.watch(b"a")
    await watcher.request_progress()
    response = await next_response(watcher)
    assert response.progress and response.revision == 1


async def test_request_progress_while_catching_up_comes_after_the_backlog(store):
    await store.put(b"a", b"1")
    await store.put(b"a", b"2")
    watcher = store.watch(b"a", start_revision=1)
    await watcher.request_progress()
    events = await next_response(watcher)
    progress = await next_response(watcher)
    assert [e.kv.mod_revision for e in events.events] == [1, 2]
    assert progress.progress and progress.revision == 2


async def test_slow_watcher_falls_back_to_the_log(store, monkeypatch):
    monkeypatch.setattr(embedded, "MAX_PENDING_EVENTS", 5)
    watcher = store.watch(b"k", b"l")
    for i in range(30):
        await store.put(b"k%02d" % i, b"v")
    assert watcher._queued_events <= 5
    events = await collect_events(watcher, 30)
    assert [e.kv.mod_revision for e in events] == list(range(1, 31))
    await store.put(b"k99", b"v")
    assert [e.kv.mod_revision for e in await collect_events(watcher, 1)] == [31]


async def test_slow_watcher_overtaken_by_compaction_fails(store, monkeypatch):
    monkeypatch.setattr(embedded, "MAX_PENDING_EVENTS", 2)
    watcher = store.watch(b"k", b"l")
    for i in range(10):
        await store.put(b"k%d" % i, b"v")
    await store.compact(8)
    with pytest.raises(CompactedError):
        await collect_events(watcher, 10)


async def test_cancel_ends_iteration(store):
    watcher = store.watch(b"a")
    await store.put(b"a", b"1")
    await watcher.cancel()
    with pytest.raises(StopAsyncIteration):
        await next_response(watcher)
    await watcher.cancel()
    assert watcher not in store._watchers


async def test_close_fails_watchers_and_calls():
    store = EmbeddedStore("memory://")
    watcher = store.watch(b"a")
    waiting = asyncio.ensure_future(next_response(watcher))
    await asyncio.sleep(0)
    await store.close()
    with pytest.raises(StoreClosedError):
        await waiting
    with pytest.raises(StoreClosedError):
        await store.put(b"a", b"1")
    await store.close()


# --------------------------------------------------------------------------- leases


async def test_lease_expiry_deletes_keys_in_one_revision(store):
    lease = await store.lease_grant(1)
    await store.put(b"l/a", b"1", lease=lease.id)
    await store.put(b"l/b", b"2", lease=lease.id)
    await store.put(b"l/c", b"3")
    watcher = store.watch(*prefix_range(b"l/"))
    events = await collect_events(watcher, 2)
    assert [(e.type, e.kv.key) for e in events] == [("DELETE", b"l/a"), ("DELETE", b"l/b")]
    assert events[0].kv.mod_revision == events[1].kv.mod_revision == 4
    assert (await store.range(*prefix_range(b"l/"))).count == 1
    with pytest.raises(LeaseNotFoundError):
        await store.lease_time_to_live(lease.id)


async def test_lease_keys_follow_overwrites_and_deletes(store):
    lease = await store.lease_grant(60, 42)
    await store.put(b"a", b"1", lease=lease.id)
    await store.put(b"b", b"1", lease=lease.id)
    await store.put(b"c", b"1", lease=lease.id)
    await store.put(b"a", b"2")  # detached
    await store.delete_range(b"b")
    status = await store.lease_time_to_live(42, keys=True)
    assert status.keys == [b"c"] and status.granted_ttl == 60
    await store.lease_revoke(42)
    assert await store.get(b"a") is not None
    assert await store.get(b"c") is None


async def test_keepalive_of_unknown_lease(store):
    with pytest.raises(LeaseNotFoundError):
        await store.lease_keepalive(7)
    with pytest.raises(LeaseNotFoundError):
        await store.put(b"a", b"1", lease=7)


# --------------------------------------------------------------------------- journal


async def test_journal_receives_writes_in_revision_order():
    journal = RecordingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    await store.put(b"a", b"1")
    await store.delete_range(b"nothing")
    await store.txn([], [PutOp(b"b", b"2"), DeleteOp(b"a", b"b")])
    lease = await store.lease_grant(30, 9)
    await store.put(b"c", b"3", lease=lease.id)
    await store.lease_revoke(9)
    await store.compact(2)
    await store.close()
    assert journal.calls == [
        ("write", 1, [Mutation("put", b"a", b"1")]),
        ("write", 2, [Mutation("put", b"b", b"2"), Mutation("delete", b"a")]),
        ("lease_granted", 9, 30),
        ("write", 3, [Mutation("put", b"c", b"3", 9)]),
        ("lease_revoked", 9),
        ("write", 4, [Mutation("delete", b"c")]),
        ("compacted", 2),
        ("close",),
    ]


async def test_replay_reproduces_revisions():
    journal = RecordingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    for i in range(5):
        await store.put(b"k%d" % (i % 3), b"%d" % i)
    await store.delete_range(b"k0", b"k2")
    await store.txn([], [PutOp(b"z", b"1"), PutOp(b"k0", b"again")])
    core = MVCCStore()
    for call in journal.calls:
        if call[0] == "write":
            assert apply_mutations(core, call[2]) == call[1]
    assert core.range(b"\0", b"\0") == store.core.range(b"\0", b"\0")
    await store.close()


async def test_watchers_and_writer_wait_for_durability():
    journal = RecordingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"a")
    journal.hold = True
    writing = asyncio.ensure_future(store.put(b"a", b"1"))
    await asyncio.sleep(0.01)
    assert not writing.done()
    assert (await store.get(b"a")).value == b"1"  # reads see the applied write
    late = store.watch(b"a", start_revision=1)  # catch-up stops at the durable revision
    with pytest.raises(asyncio.TimeoutError):
        await next_response(watcher, timeout=0.05)
    journal.release()
    assert (await asyncio.wait_for(writing, WAIT)).revision == 1
    assert [e.kv.value for e in await collect_events(watcher, 1)] == [b"1"]
    assert [e.kv.value for e in await collect_events(late, 1)] == [b"1"]
    await store.close()


async def test_journal_failure_makes_store_unavailable():
    journal = RecordingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"a")
    journal.fail = True
    with pytest.raises(StoreUnavailableError, match="revision 1"):
        await store.put(b"a", b"1")
    with pytest.raises(StoreUnavailableError):
        await store.range(b"a")
    with pytest.raises(StoreUnavailableError):
        await next_response(watcher)


async def test_recovered_leases_and_orphan_keys():
    core = MVCCStore()
    core.put(b"kept", b"1", 5)
    core.put(b"orphan", b"1", 6)
    journal = RecordingJournal()
    store = EmbeddedStore("file:///x", core, journal=journal, leases={5: 60})
    assert (await store.lease_time_to_live(5, keys=True)).keys == [b"kept"]
    with pytest.raises(LeaseNotFoundError):
        await store.lease_time_to_live(6)
    watcher = store.watch(b"orphan")
    events = await collect_events(watcher, 1)
    assert events[0].type == "DELETE"
    assert ("lease_revoked", 6) not in journal.calls
    assert journal.calls[0] == ("write", 3, [Mutation("delete", b"orphan")])
    await store.close()


def test_apply_mutations_rejects_unknown_kind():
    core = MVCCStore()
    with pytest.raises(ValueError, match="unknown mutation kind"):
        apply_mutations(core, [Mutation("put", b"a", b"1"), Mutation("erase", b"a")])  # type: ignore[arg-type]
    assert core.pending_revision == 0
    assert core.revision == 0


class ShuffledJournal(RecordingJournal):
    """Acknowledges writes after random delays, so durability completes out of order."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = __import__("random").Random(seed)

    def write(self, revision, mutations):
        self.calls.append(("write", revision, list(mutations)))
        fut = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(self.rng.random() * 0.01, fut.set_result, None)
        return fut


async def test_concurrent_writers_publish_in_revision_order():
    journal = ShuffledJournal(seed=11)
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"\0", b"\0")

    async def writer(n: int) -> list[int]:
        revisions = []
        for i in range(20):
            if i % 3 == 0:
                result = await store.txn([], [PutOp(b"w%d/a" % n, b"%d" % i), PutOp(b"w%d/b" % n, b"%d" % i)])
            else:
                result = await store.put(b"w%d/%d" % (n, i), b"v")
            revisions.append(result.revision)
        return revisions

    results = await asyncio.gather(*(writer(n) for n in range(5)))
    seen = []
    while len(seen) < 100:
        response = await next_response(watcher)
        seen.extend(sorted({e.kv.mod_revision for e in response.events}))
        assert response.revision == seen[-1]
    assert seen == list(range(1, 101))
    assert sorted(r for rs in results for r in rs) == seen
    assert [c[1] for c in journal.calls] == seen
    await store.close()


# --------------------------------------------------------------------------- ordered journal


class BatchingJournal(RecordingJournal):
    """An ordered journal: records stay pending until :meth:`sync`, which makes them all durable
    at once, tells the listener the last write revision, then completes their futures in order."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[asyncio.Future] = []
        self.last_revision = 0
        self.on_durable = None
        self.on_failure = None

    def listen(self, on_durable, on_failure) -> None:
        self.on_durable, self.on_failure = on_durable, on_failure

    def _ack(self) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        return fut

    def write(self, revision, mutations):
        self.last_revision = revision
        return super().write(revision, mutations)

    def put(self, revision, key, value, lease):
        return self.write(revision, [Mutation("put", key, value, lease)])

    def sync(self) -> None:
        batch, self.pending = self.pending, []
        self.on_durable(self.last_revision)
        for fut in batch:
            if not fut.done():
                fut.set_result(None)

    def break_disk(self) -> None:
        error = OSError("disk gone")
        self.on_failure(error)
        for fut in self.pending:
            fut.set_exception(StoreUnavailableError(f"log failed: {error}"))
        self.pending = []


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_ordered_journal_publishes_per_batch_in_revision_order():
    journal = BatchingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"\0", b"\0")
    writers = [asyncio.ensure_future(store.put(b"k%d" % i, b"v")) for i in range(5)]
    deleting = asyncio.ensure_future(store.delete_range(b"k0"))
    await settle()
    assert not any(w.done() for w in writers) and not deleting.done()
    assert await store.current_revision() == 6
    journal.sync()
    assert [r.revision for r in await asyncio.gather(*writers)] == [1, 2, 3, 4, 5]
    assert (await deleting).deleted == 1
    response = await next_response(watcher)
    assert [(e.type, e.kv.mod_revision) for e in response.events] == [("PUT", r) for r in range(1, 6)] + [
        ("DELETE", 6)
    ]
    assert journal.calls[0] == ("write", 1, [Mutation("put", b"k0", b"v")])
    await store.close()


async def test_ordered_journal_a_cancelled_writer_still_publishes():
    journal = BatchingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"a")
    writing = asyncio.ensure_future(store.put(b"a", b"1"))
    await settle()
    writing.cancel()
    await settle()
    journal.sync()
    assert [e.kv.value for e in await collect_events(watcher, 1)] == [b"1"]
    await store.close()


async def test_ordered_journal_compaction_keeps_unpublished_events_for_watchers():
    journal = BatchingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"a", prev_kv=True)
    writers = [asyncio.ensure_future(store.put(b"a", b"%d" % i)) for i in range(4)]
    await settle()
    compacting = asyncio.ensure_future(store.compact(3))
    await settle()
    journal.sync()
    await asyncio.gather(*writers, compacting)
    events = await collect_events(watcher, 4)
    assert [(e.kv.mod_revision, e.kv.value, e.prev_kv and e.prev_kv.value) for e in events] == [
        (1, b"0", None),
        (2, b"1", b"0"),
        (3, b"2", b"1"),
        (4, b"3", b"2"),
    ]
    await store.close()


async def test_ordered_journal_tracks_lease_keys_of_puts():
    journal = BatchingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    granting = asyncio.ensure_future(store.lease_grant(60, 7))
    await settle()
    journal.sync()
    await granting
    putting = [asyncio.ensure_future(store.put(b"a", b"1", lease=7)), asyncio.ensure_future(store.put(b"b", b"1", lease=7))]
    await settle()
    journal.sync()
    await asyncio.gather(*putting)
    moving = asyncio.ensure_future(store.put(b"a", b"2", prev_kv=True))
    await settle()
    journal.sync()
    assert (await moving).prev_kv.lease == 7
    assert (await store.lease_time_to_live(7, keys=True)).keys == [b"b"]
    await store.close()


async def test_ordered_journal_failure_makes_store_unavailable():
    journal = BatchingJournal()
    store = EmbeddedStore("file:///x", journal=journal)
    watcher = store.watch(b"a")
    writing = asyncio.ensure_future(store.put(b"a", b"1"))
    await settle()
    journal.break_disk()
    with pytest.raises(StoreUnavailableError):
        await writing
    with pytest.raises(StoreUnavailableError, match="after revision 0"):
        await store.put(b"b", b"1")
    with pytest.raises(StoreUnavailableError):
        await next_response(watcher)


async def test_a_write_reaches_exactly_the_watchers_whose_range_holds_its_key(store):
    """Prefix watchers are found per directory of the key; the lookup follows watchers coming and going."""
    pods = store.watch(b"/registry/pods/", prefix_end(b"/registry/pods/"))
    everything = store.watch(b"/registry/", prefix_end(b"/registry/"))
    one_key = store.watch(b"/registry/pods/ns/a")
    events = store.watch(b"/registry/events/", prefix_end(b"/registry/events/"))
    await store.put(b"/registry/pods/ns/a", b"1")
    assert set(store._watchers.concerned(b"/registry/pods/ns/a")) == {pods, everything, one_key}
    assert set(store._watchers.concerned(b"/registry/pods/ns/b")) == {pods, everything}
    assert set(store._watchers.concerned(b"/registry/podsx/ns/b")) == {everything}
    await pods.cancel()
    assert set(store._watchers.concerned(b"/registry/pods/ns/b")) == {everything}
    nested = store.watch(b"/registry/pods/ns/", prefix_end(b"/registry/pods/ns/"))
    assert set(store._watchers.concerned(b"/registry/pods/ns/b")) == {everything, nested}
    for watcher in (everything, one_key, events, nested):
        await watcher.cancel()
