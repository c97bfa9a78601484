"""Snapshot files: layout, round trips, damage detection."""

from __future__ import annotations

import os
import struct
import zlib

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


def test_encoded_snapshot_keeps_the_entries_as_written(tmp_path):
    written = image()
    path = snap.write_snapshot(str(tmp_path), written)
    encoded = snap.read_encoded_snapshot(path)
    assert (encoded.path, encoded.lsn, encoded.revision, encoded.compact_revision, encoded.leases) == (
        path,
        9,
        12,
        3,
        [(7, 30), (8, 60)],
    )
    assert (encoded.base_count, encoded.change_count) == (1, 3)
    assert encoded.entries_offset == 64 + 2 * 16
    assert encoded.data == open(path, "rb").read()
    assert snap.decode_entries(encoded.data, encoded.entries_offset, 4, path) == written.base + written.changes


@pytest.mark.parametrize("where", ["header", "body", "leases"])
def test_damaged_encoded_snapshot_is_refused(tmp_path, where):
    path = snap.write_snapshot(str(tmp_path), image())
    data = bytearray(open(path, "rb").read())
    if where == "header":
        data[10] ^= 1
    elif where == "body":
        data[-5] ^= 1
    else:  # a file cut inside its lease table, header and CRC made to match
        path = snap.write_snapshot(str(tmp_path), snap.SnapshotImage(10, 0, 0, [(1, 2)] * 4, [], []))
        data = bytearray(open(path, "rb").read())[:-20]
        struct.pack_into("<I", data, 56, zlib.crc32(bytes(data[64:])))
        struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:60])))
    open(path, "wb").write(data)
    with pytest.raises(CorruptionError) as info:
        snap.read_encoded_snapshot(path)
    assert info.value.path == path


def test_an_encoded_image_is_written_exactly_as_its_decoded_form(tmp_path):
    decoded = image()
    encoded = snap.EncodedImage(
        decoded.lsn,
        decoded.revision,
        decoded.compact_revision,
        decoded.leases,
        len(decoded.base),
        len(decoded.changes),
        snap.encode_entries(decoded.base + decoded.changes),
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = snap.write_snapshot(str(tmp_path / "a"), decoded)
    second = snap.write_snapshot(str(tmp_path / "b"), encoded)
    assert open(first, "rb").read() == open(second, "rb").read()
    assert snap.read_snapshot(str(tmp_path / "b" / snap.snapshot_name(9))) == decoded
