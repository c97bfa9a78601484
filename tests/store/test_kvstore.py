"""The MVCC kernel on its own: revisions, versions, history, ranges, events, compaction."""

from __future__ import annotations

import gc
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra._ext.kvstore import DELETE, PUT, MVCCStore

ALL = b"\0"


def kv(key, value, create, mod, version, lease=0):
    return (key, value, create, mod, version, lease)


# --------------------------------------------------------------------------- revisions and versions


def test_empty_store():
    s = MVCCStore()
    assert s.revision == 0
    assert s.compact_revision == 0
    assert len(s) == 0
    assert s.get(b"a") is None
    assert s.get_kv(b"a") is None
    assert s.range(b"a", ALL) == ([], 0, False)


def test_put_bumps_revision_and_version():
    s = MVCCStore()
    assert s.put(b"a", b"1") == 1
    assert s.put(b"b", b"x", 7) == 2
    assert s.put(b"a", b"2") == 3
    assert s.revision == 3
    assert s.get(b"a") == b"2"
    assert s.get_kv(b"a") == kv(b"a", b"2", 1, 3, 2)
    assert s.get_kv(b"b") == kv(b"b", b"x", 2, 2, 1, 7)
    assert len(s) == 2


def test_get_returns_the_stored_object():
    s = MVCCStore()
    value = b"v" * 300
    s.put(b"k", value)
    assert s.get(b"k") is value


def test_equal_key_objects_find_the_same_record():
    s = MVCCStore()
    s.put(b"/registry/pods/a", b"1")
    other = b"/registry/" + b"pods/a"
    assert s.get(other) == b"1"


def test_delete_resets_version_and_starts_new_generation():
    s = MVCCStore()
    s.put(b"a", b"1")
    s.put(b"a", b"2")
    rev, deleted = s.delete_range(b"a")
    assert rev == 3
    assert deleted == [kv(b"a", b"2", 1, 2, 2)]
    assert s.get(b"a") is None
    assert len(s) == 0
    s.put(b"a", b"3")
    assert s.get_kv(b"a") == kv(b"a", b"3", 4, 4, 1)


def test_delete_of_nothing_keeps_revision():
    s = MVCCStore()
    s.put(b"a", b"1")
    assert s.delete_range(b"b") == (1, [])
    assert s.delete_range(b"x", b"z") == (1, [])
    s.delete_range(b"a")
    assert s.delete_range(b"a") == (2, [])
    assert s.revision == 2


def test_delete_range_in_key_order():
    s = MVCCStore()
    for k in (b"c", b"a", b"b", b"d"):
        s.put(k, k.upper())
    rev, deleted = s.delete_range(b"a", b"c")
    assert rev == 5
    assert [d[0] for d in deleted] == [b"a", b"b"]
    assert s.range(b"a", ALL)[1] == 2


def test_history_reads_at_revision():
    s = MVCCStore()
    s.put(b"a", b"1")  # 1
    s.put(b"a", b"2")  # 2
    s.delete_range(b"a")  # 3
    s.put(b"a", b"3")  # 4
    assert s.get_kv(b"a", 1) == kv(b"a", b"1", 1, 1, 1)
    assert s.get_kv(b"a", 2) == kv(b"a", b"2", 1, 2, 2)
    assert s.get_kv(b"a", 3) is None
    assert s.get_kv(b"a", 4) == kv(b"a", b"3", 4, 4, 1)
    with pytest.raises(ValueError, match="future"):
        s.get_kv(b"a", 5)


# --------------------------------------------------------------------------- ranges


def test_range_sorted_with_count_limit_and_more():
    s = MVCCStore()
    for k in (b"b", b"a", b"d", b"c"):
        s.put(k, k)
    kvs, count, more = s.range(b"a", ALL, 0, 2)
    assert [k[0] for k in kvs] == [b"a", b"b"]
    assert (count, more) == (4, True)
    kvs, count, more = s.range(b"b", b"d")
    assert [k[0] for k in kvs] == [b"b", b"c"]
    assert (count, more) == (2, False)
    assert s.range(b"a", ALL, 0, 4)[2] is False


def test_range_keys_only_and_count_only():
    s = MVCCStore()
    s.put(b"a", b"1", 5)
    s.put(b"b", b"2")
    assert s.range(b"a", ALL, 0, 0, True) == ([kv(b"a", b"", 1, 1, 1, 5), kv(b"b", b"", 2, 2, 1)], 2, False)
    assert s.range(b"a", ALL, 0, 1, False, True) == ([], 2, False)


def test_range_single_key_and_empty_interval():
    s = MVCCStore()
    s.put(b"a", b"1")
    s.put(b"ab", b"2")
    assert s.range(b"a", b"") == ([kv(b"a", b"1", 1, 1, 1)], 1, False)
    assert s.range(b"b", b"a") == ([], 0, False)


def test_range_bytes_order_is_unsigned():
    s = MVCCStore()
    for k in (b"\xff", b"\x01", b"\x7f", b"\x80"):
        s.put(k, b"")
    assert [k[0] for k in s.range(b"\x01", ALL)[0]] == [b"\x01", b"\x7f", b"\x80", b"\xff"]


def test_range_at_old_revision_sees_deleted_keys():
    s = MVCCStore()
    s.put(b"p/1", b"a")
    s.put(b"p/2", b"b")
    s.delete_range(b"p/", b"p0")
    assert s.range(b"p/", b"p0") == ([], 0, False)
    assert [k[0] for k in s.range(b"p/", b"p0", 2)[0]] == [b"p/1", b"p/2"]
    assert [k[0] for k in s.range(b"p/", b"p0", 1)[0]] == [b"p/1"]


# --------------------------------------------------------------------------- write groups


def test_write_group_shares_one_revision():
    s = MVCCStore()
    s.put(b"a", b"1")
    assert s.begin() == 2
    assert s.pending_revision == 2
    s.put(b"b", b"2")
    s.put(b"a", b"3")
    assert s.range(b"a", ALL)[1] == 2  # reads inside the group see its writes
    assert s.get_kv(b"a", 1) == kv(b"a", b"1", 1, 1, 1)
    assert s.commit() == 2
    assert s.get_kv(b"a") == kv(b"a", b"3", 1, 2, 2)
    assert s.get_kv(b"b") == kv(b"b", b"2", 2, 2, 1)


def test_empty_write_group_keeps_revision():
    s = MVCCStore()
    s.begin()
    s.delete_range(b"nothing")
    assert s.commit() == 0
    assert s.revision == 0


def test_put_then_delete_in_one_group():
    s = MVCCStore()
    s.put(b"a", b"1")
    s.begin()
    s.put(b"a", b"2")
    s.delete_range(b"a")
    s.commit()
    assert s.get(b"a") is None
    assert s.get_kv(b"a", 1) == kv(b"a", b"1", 1, 1, 1)
    events = s.events(2, b"a", b"", 0, True)
    assert [(e[0], e[1][1]) for e in events] == [(PUT, b"2"), (DELETE, b"")]
    assert events[1][2] == kv(b"a", b"2", 1, 2, 2)  # prev of the delete is the group's put


def test_nested_begin_and_stray_commit_refused():
    s = MVCCStore()
    with pytest.raises(RuntimeError):
        s.commit()
    s.begin()
    with pytest.raises(RuntimeError):
        s.begin()
    s.commit()


def test_write_ops():
    s = MVCCStore()
    assert s.write([("put", b"a", b"1", 0), ("put", b"b", b"2", 3)]) == 1
    assert s.write([("delete", b"a", b""), ("put", b"c", b"3", 0)]) == 2
    assert s.range(b"a", ALL)[0] == [kv(b"b", b"2", 1, 1, 1, 3), kv(b"c", b"3", 2, 2, 1)]
    with pytest.raises(ValueError, match="not a write op"):
        s.write([("put", b"a")])
    assert s.revision == 2


def test_key_and_value_types_checked():
    s = MVCCStore()
    with pytest.raises(TypeError):
        s.put("a", b"1")
    with pytest.raises(TypeError):
        s.put(b"a", None)
    with pytest.raises(TypeError):
        s.get(None)


# --------------------------------------------------------------------------- events


def test_events_in_revision_order_with_prev():
    s = MVCCStore()
    s.put(b"a", b"1")
    s.put(b"b", b"1")
    s.put(b"a", b"2")
    s.delete_range(b"a")
    events = s.events(1, b"a", b"", 0, True)
    assert events == [
        (PUT, kv(b"a", b"1", 1, 1, 1), None),
        (PUT, kv(b"a", b"2", 1, 3, 2), kv(b"a", b"1", 1, 1, 1)),
        (DELETE, (b"a", b"", 0, 4, 0, 0), kv(b"a", b"2", 1, 3, 2)),
    ]
    assert [e[1][3] for e in s.events(2)] == [2, 3, 4]
    assert s.events(3, b"a", b"", 0, False)[0][2] is None


def test_events_limit_keeps_revisions_whole_and_until():
    s = MVCCStore()
    s.write([("put", b"a", b"1", 0), ("put", b"b", b"1", 0)])
    s.put(b"c", b"1")
    assert len(s.events(1, ALL, ALL, 1)) == 2
    assert len(s.events(1, ALL, ALL, 3)) == 3
    assert len(s.events(1, ALL, ALL, 0, False, 1)) == 2


def test_events_range_filter():
    s = MVCCStore()
    for k in (b"/a/1", b"/b/1", b"/a/2"):
        s.put(k, b"")
    assert [e[1][0] for e in s.events(1, b"/a/", b"/a0")] == [b"/a/1", b"/a/2"]


# --------------------------------------------------------------------------- compaction


def test_compact_drops_old_versions_and_tombstones():
    s = MVCCStore()
    s.put(b"a", b"1")  # 1
    s.put(b"a", b"2")  # 2
    s.put(b"b", b"1")  # 3
    s.delete_range(b"b")  # 4
    s.put(b"a", b"3")  # 5
    assert s.stats()["versions"] == 5  # a@1, a@2, a@5, b@3, b deleted@4
    freed = s.compact(4)
    assert freed == 2  # a@1 and b@3; b's tombstone at 4 stays for watches starting at 4
    stats = s.stats()
    assert stats["records"] == 2
    assert stats["versions"] == 3  # a@2 (current at 4), a@5 and b's tombstone
    assert stats["events"] == 2  # the changes at 4 and 5
    assert s.compact_revision == 4
    assert s.get_kv(b"a", 4) == kv(b"a", b"2", 1, 2, 2)
    assert s.get_kv(b"b", 4) is None
    with pytest.raises(ValueError, match="compacted"):
        s.get_kv(b"a", 3)
    with pytest.raises(ValueError, match="compacted"):
        s.events(3)
    assert [e[1][3] for e in s.events(4)] == [4, 5]  # etcd: a watch may start at the compact revision
    s.compact(5)
    assert s.stats()["records"] == 1  # the tombstone goes at the next compaction


def test_compact_bounds():
    s = MVCCStore()
    s.put(b"a", b"1")
    with pytest.raises(ValueError, match="future"):
        s.compact(2)
    s.compact(1)
    with pytest.raises(ValueError, match="already compacted"):
        s.compact(1)
    s.begin()
    with pytest.raises(RuntimeError):
        s.compact(1)
    s.commit()


def test_compact_releases_values():
    s = MVCCStore()
    value = b"x" * 1000
    base = sys.getrefcount(value)
    for i in range(10):
        s.put(b"k", value)
    assert sys.getrefcount(value) > base
    s.delete_range(b"k")
    s.put(b"z", b"")  # the tombstone stays while it is at the compact revision
    s.compact(s.revision)
    gc.collect()
    assert sys.getrefcount(value) == base
    stats = s.stats()
    assert {k: stats[k] for k in ("keys", "records", "versions", "events", "bytes")} == {
        "keys": 1, "records": 1, "versions": 1, "events": 1, "bytes": 1
    }


def test_compact_keeps_keys_findable():
    s = MVCCStore()
    for i in range(1000):
        s.put(b"k%d" % i, b"v")
    for i in range(0, 1000, 2):
        s.delete_range(b"k%d" % i)
    s.compact(s.revision)
    assert len(s) == 500
    assert all(s.get(b"k%d" % i) == (None if i % 2 == 0 else b"v") for i in range(1000))
    s.put(b"k0", b"again")
    assert s.get_kv(b"k0")[2] == s.revision


def test_compacted_memory_within_twice_the_live_bytes():
    s = MVCCStore()
    for i in range(20_000):
        s.put(b"/registry/pods/ns-%03d/pod-%06d" % (i % 200, i), bytes([i % 251]) * 256)
    for i in range(0, 20_000, 3):
        s.put(b"/registry/pods/ns-%03d/pod-%06d" % (i % 200, i), bytes([i % 13]) * 256)
    s.compact(s.revision)
    stats = s.stats()
    assert stats["versions"] == 20_000 and stats["events"] == 1  # the change at the compact revision
    assert stats["memory"] <= 2 * stats["bytes"]


def test_stats_counts_bytes():
    s = MVCCStore()
    s.put(b"ab", b"123")
    s.put(b"ab", b"45")
    assert s.stats()["bytes"] == 2 + 3 + 2
    assert s.stats()["keys"] == 1


# --------------------------------------------------------------------------- against a model

keys = st.sampled_from([b"a", b"b", b"ba", b"c", b"d\xff"])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys, st.binary(max_size=3), st.integers(0, 2)),
        st.tuples(st.just("delete"), keys, st.sampled_from([b"", b"b", b"c", ALL])),
        st.tuples(
            st.just("group"),
            st.lists(st.tuples(st.just("put"), keys, st.binary(max_size=2), st.just(0)), max_size=3),
        ),
    ),
    max_size=25,
)


def model_apply(snapshots, events, op):
    """Apply one op to the list of snapshots (one dict per revision) and the event list."""
    state = dict(snapshots[-1])
    rev = len(snapshots)
    changed = []
    group = op[1] if op[0] == "group" else [op]
    for sub in group:
        if sub[0] == "put":
            _, key, value, lease = sub
            old = state.get(key)
            create = old[2] if old else rev
            version = old[4] + 1 if old else 1
            state[key] = kv(key, value, create, rev, version, lease)
            changed.append((PUT, state[key]))
        else:
            _, key, end = sub
            for k in sorted(state):
                if (k == key) if not end else (k >= key and (end == ALL or k < end)):
                    del state[k]
                    changed.append((DELETE, (k, b"", 0, rev, 0, 0)))
    if changed:
        snapshots.append(state)
        events.extend(changed)


@settings(max_examples=200, deadline=None)
@given(ops, st.integers(0, 30))
def test_matches_model(op_list, compact_at):
    s = MVCCStore()
    snapshots: list[dict] = [{}]
    events: list = []
    for op in op_list:
        if op[0] == "group":
            if op[1]:
                s.write(op[1])
        elif op[0] == "put":
            s.put(op[1], op[2], op[3])
        else:
            s.delete_range(op[1], op[2])
        model_apply(snapshots, events, op if op[0] != "group" or op[1] else ("group", []))
    assert s.revision == len(snapshots) - 1
    assert [(e[0], e[1]) for e in s.events(1)] == events
    low = 0
    if 0 < compact_at <= s.revision:
        s.compact(compact_at)
        low = compact_at
    for rev in range(max(low, 1), s.revision + 1):
        expected = sorted(snapshots[rev].values())
        assert s.range(b"\0", ALL, rev)[0] == expected
        assert s.range(b"b", b"c", rev)[0] == [e for e in expected if b"b" <= e[0] < b"c"]
    assert s.range(b"\0", ALL)[0] == sorted(snapshots[-1].values())
    assert len(s) == len(snapshots[-1])


# --------------------------------------------------------------------------- restoring a compacted state


def test_load_base_then_replay_matches_the_original():
    original = MVCCStore()
    original.put(b"a", b"1")
    original.put(b"b", b"1", 4)
    original.put(b"a", b"2")
    original.delete_range(b"b")
    original.put(b"c", b"1")
    original.compact(4)
    original.put(b"a", b"3")
    restored = MVCCStore()
    restored.load_base(4, original.range(b"\0", ALL, 4)[0])
    assert (restored.revision, restored.compact_revision) == (4, 4)
    for kind, kv_, _ in original.events(5):
        restored.put(kv_[0], kv_[1], kv_[5])
    assert restored.range(b"\0", ALL) == original.range(b"\0", ALL)
    assert restored.range(b"\0", ALL, 4) == original.range(b"\0", ALL, 4)
    assert restored.get_kv(b"a") == kv(b"a", b"3", 1, 6, 3)


def test_load_base_checks_its_input():
    s = MVCCStore()
    with pytest.raises(ValueError, match="do not fit"):
        s.load_base(3, [kv(b"a", b"1", 1, 4, 1)])
    with pytest.raises(ValueError, match="twice"):
        s.load_base(3, [kv(b"a", b"1", 1, 1, 1), kv(b"a", b"1", 1, 2, 2)])
    with pytest.raises(ValueError, match="must be bytes"):
        s.load_base(3, [("a", b"1", 1, 1, 1, 0)])
    assert s.revision == 0 and len(s) == 0
    s.put(b"x", b"1")
    with pytest.raises(RuntimeError, match="empty"):
        s.load_base(3, [])


def test_ordered_index_across_merges():
    """Creations interleaved with ranges: the unsorted, delta and main tiers stay one ordered index."""
    import random

    rng = random.Random(5)
    s = MVCCStore()
    model: dict[bytes, bytes] = {}
    ids = list(range(30_000))
    rng.shuffle(ids)
    position = 0
    while position < len(ids):
        chunk = ids[position : position + rng.choice((1, 7, 300, 5000))]
        position += len(chunk)
        for i in chunk:
            key = b"k%06d" % i
            s.put(key, key)
            model[key] = key
        start = b"k%06d" % rng.randrange(30_000)
        end = b"k%06d" % rng.randrange(30_000)
        expected = sorted(k for k in model if start <= k < end)
        kvs, count, _ = s.range(start, end)
        assert [kv_[0] for kv_ in kvs] == expected and count == len(expected)
        if rng.random() < 0.2:
            lo, hi = sorted((b"k%06d" % rng.randrange(30_000), b"k%06d" % rng.randrange(30_000)))
            _, deleted = s.delete_range(lo, hi)
            gone = sorted(k for k in model if lo <= k < hi)
            assert [d[0] for d in deleted] == gone
            for k in gone:
                del model[k]
        if rng.random() < 0.1:
            s.compact(s.revision)
    assert [kv_[0] for kv_ in s.range(b"\0", ALL)[0]] == sorted(model)
    assert len(s) == len(model)
