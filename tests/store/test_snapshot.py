"""Snapshot files: layout, round trips, damage detection."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.plugins.stores import snapshot as snap
from orchestra.store.errors import CorruptionError


def image(lsn=9, base=None, changes=None):
    return snap.SnapshotImage(
        lsn=lsn,
        revision=12,
        compact_revision=3,
        leases=[(7, 30), (8, 60)],
        base=base if base is not None else [(b"a", b"1", 2, 3, 2, 0)],
        changes=changes
        if changes is not None
        else [(b"a", b"2", 2, 4, 3, 0), (b"b", None, 0, 6, 0, 0), (b"c", b"x" * 300, 5, 12, 3, 7)],
    )


def test_snapshot_round_trip(tmp_path):
    path = snap.write_snapshot(str(tmp_path), image())
    assert os.path.basename(path) == snap.snapshot_name(9)
    assert snap.read_snapshot(path) == image()
    assert snap.list_snapshots(str(tmp_path)) == [(9, path)]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


entries = st.lists(
    st.tuples(
        st.binary(min_size=1, max_size=20),
        st.none() | st.binary(max_size=100),
        st.integers(0, 2**40),
        st.integers(0, 2**40),
        st.integers(0, 1000),
        st.integers(0, 2**62),
    ),
    max_size=30,
)


@settings(max_examples=30, deadline=None)
@given(base=entries, changes=entries)
def test_snapshot_round_trips_any_entries(tmp_path_factory, base, changes):
    directory = tmp_path_factory.mktemp("snap")
    path = snap.write_snapshot(str(directory), image(base=base, changes=changes))
    read = snap.read_snapshot(path)
    assert (read.base, read.changes) == (base, changes)


def test_large_values_span_write_chunks(tmp_path):
    big = [(b"k%d" % i, bytes([i % 256]) * 70_000, i + 1, i + 1, 1, 0) for i in range(100)]
    path = snap.write_snapshot(str(tmp_path), image(base=big, changes=[]))
    assert snap.read_snapshot(path).base == big


@pytest.mark.parametrize("where", ["header", "body", "truncated"])
def test_damaged_snapshot_is_refused(tmp_path, where):
    path = snap.write_snapshot(str(tmp_path), image())
    data = bytearray(open(path, "rb").read())
    if where == "header":
        data[10] ^= 1
    elif where == "body":
        data[-5] ^= 1
    else:
        del data[-5:]
    open(path, "wb").write(data)
    with pytest.raises(CorruptionError) as info:
        snap.read_snapshot(path)
    assert info.value.path == path
