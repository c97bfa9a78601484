"""The write-ahead log: record format, CRC, torn tails, corruption, segments and snapshots."""

from __future__ import annotations

import logging
import os
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.plugins.stores import wal
from orchestra.store.errors import CorruptionError

M = wal.LoggedMutation


def write_log(directory, batches, segment_bytes=1 << 20):
    """Append ``batches`` (lists of encoded records) with a fresh writer starting at LSN 1."""
    writer = wal.SegmentWriter(str(directory), 1, segment_bytes)
    lsn = 1
    for batch in batches:
        writer.append(batch, lsn, len(batch))
        lsn += len(batch)
    writer.close()


def puts(first_lsn, count, first_revision=None):
    """``count`` one-put write records from ``first_lsn`` (revision = LSN unless given)."""
    base = first_revision if first_revision is not None else first_lsn
    return [
        wal.encode_write(first_lsn + i, base + i, [M("put", b"k%d" % (base + i), b"v%d" % (base + i))])
        for i in range(count)
    ]


# ---------------------------------------------------------------- format


def test_record_header_layout_and_crc():
    record = wal.encode_compact(7, 42)
    crc, magic, rtype, reserved, length, lsn = struct.unpack_from("<IHBBIQ", record)
    assert (magic, rtype, reserved, length, lsn) == (wal.RECORD_MAGIC, wal.COMPACT, 0, 8, 7)
    assert record[wal.HEADER_SIZE :] == struct.pack("<q", 42)
    assert crc == zlib.crc32(record[4:])


def test_one_mutation_fast_path_matches_the_general_layout():
    one = wal.encode_write(3, 9, [M("put", b"key", b"value", 5)])
    payload = struct.pack("<qI", 9, 1) + struct.pack("<BIIq", 0, 3, 5, 5) + b"key" + b"value"
    rest = struct.pack("<HBBIQ", wal.RECORD_MAGIC, wal.WRITE, 0, len(payload), 3) + payload
    assert one == struct.pack("<I", zlib.crc32(rest)) + rest


def test_every_record_type_round_trips(tmp_path):
    records = [
        wal.encode_lease_grant(1, 0x1234, 30),
        wal.encode_write(2, 1, [M("put", b"a", b"1", 0x1234), M("delete", b"b")]),
        wal.encode_lease_revoke(3, 0x1234),
        wal.encode_compact(4, 1),
    ]
    write_log(tmp_path, [records])
    scan = wal.scan_log(str(tmp_path))
    assert scan.next_lsn == 5
    assert scan.records == [
        wal.LeaseGrantRecord(1, 0x1234, 30),
        wal.WriteRecord(2, 1, [M("put", b"a", b"1", 0x1234), M("delete", b"b", b"", 0)]),
        wal.LeaseRevokeRecord(3, 0x1234),
        wal.CompactRecord(4, 1),
    ]


mutations = st.lists(
    st.builds(
        M,
        kind=st.sampled_from(["put", "delete"]),
        key=st.binary(min_size=1, max_size=40),
        value=st.binary(max_size=300),
        lease=st.integers(min_value=0, max_value=2**62),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(writes=st.lists(mutations, min_size=1, max_size=12), split=st.integers(min_value=1, max_value=5))
def test_writes_round_trip_in_any_batching(tmp_path_factory, writes, split):
    directory = tmp_path_factory.mktemp("wal")
    encoded = [wal.encode_write(i + 1, i + 1, ms) for i, ms in enumerate(writes)]
    batches = [encoded[i : i + split] for i in range(0, len(encoded), split)]
    write_log(directory, batches, segment_bytes=512)
    scan = wal.scan_log(str(directory))
    assert [(r.revision, r.mutations) for r in scan.records] == [(i + 1, ms) for i, ms in enumerate(writes)]
    assert scan.next_lsn == len(writes) + 1


def test_unknown_mutation_kind_is_refused():
    with pytest.raises(ValueError, match="'put' or 'delete'"):
        wal.encode_write(1, 1, [M("replace", b"k")])


def test_segments_rotate_by_size(tmp_path):
    write_log(tmp_path, [puts(i * 10 + 1, 10) for i in range(5)], segment_bytes=200)
    segments = wal.list_segments(str(tmp_path))
    assert [s.first_lsn for s in segments] == [1, 11, 21, 31, 41]
    assert len(wal.scan_log(str(tmp_path)).records) == 50


# ---------------------------------------------------------------- torn tails


def only_segment(directory):
    (segment,) = wal.list_segments(str(directory))
    return segment.path


@pytest.mark.parametrize("cut", [1, 5, 19, 20, 30])
def test_partial_last_record_is_truncated_with_a_warning(tmp_path, caplog, cut):
    write_log(tmp_path, [puts(1, 3), puts(4, 2)])
    path = only_segment(tmp_path)
    size = os.path.getsize(path)
    last_len = len(puts(5, 1)[0])
    good_end = size - last_len
    with open(path, "r+b") as f:
        f.truncate(good_end + cut)
    with caplog.at_level(logging.WARNING):
        scan = wal.scan_log(str(tmp_path))
    assert [r.lsn for r in scan.records] == [1, 2, 3, 4]
    assert scan.next_lsn == 5
    assert os.path.getsize(path) == good_end
    assert any("torn tail" in r.message and path in r.message for r in caplog.records)


def test_bad_crc_in_the_last_batch_is_a_torn_tail(tmp_path, caplog):
    """Pages of an unsynced batch may land in any order: damage inside the last batch is torn."""
    write_log(tmp_path, [puts(1, 2), puts(3, 3)])
    path = only_segment(tmp_path)
    data = bytearray(open(path, "rb").read())
    third = data.find(b"k3")
    data[third] ^= 0xFF
    open(path, "wb").write(data)
    with caplog.at_level(logging.WARNING):
        scan = wal.scan_log(str(tmp_path))
    assert [r.lsn for r in scan.records] == [1, 2]
    assert "CRC mismatch" in caplog.text


def test_zeroed_tail_is_torn(tmp_path, caplog):
    write_log(tmp_path, [puts(1, 2)])
    path = only_segment(tmp_path)
    with open(path, "ab") as f:
        f.write(bytes(4096))
    with caplog.at_level(logging.WARNING):
        scan = wal.scan_log(str(tmp_path))
    assert scan.next_lsn == 3
    assert "torn tail" in caplog.text


def test_segment_with_a_torn_header_is_removed(tmp_path):
    write_log(tmp_path, [puts(1, 2)], segment_bytes=1)
    path = os.path.join(tmp_path, wal.segment_name(3))
    with open(path, "wb") as f:
        f.write(wal.SEGMENT_MAGIC[:5])
    scan = wal.scan_log(str(tmp_path))
    assert scan.next_lsn == 3
    assert not os.path.exists(path)


# ---------------------------------------------------------------- corruption


def test_bad_record_followed_by_a_synced_batch_is_corruption(tmp_path):
    write_log(tmp_path, [puts(1, 2), puts(3, 2), puts(5, 2)])
    path = only_segment(tmp_path)
    data = bytearray(open(path, "rb").read())
    record_start = data.rfind(struct.pack("<HB", wal.RECORD_MAGIC, wal.WRITE), 0, data.find(b"k3")) - 4
    data[record_start + wal.HEADER_SIZE] ^= 0x01
    open(path, "wb").write(data)
    with pytest.raises(CorruptionError) as info:
        wal.scan_log(str(tmp_path))
    assert info.value.path == path
    assert info.value.offset == record_start
    assert "CRC mismatch" in str(info.value) and path in str(info.value)
    assert open(path, "rb").read() == bytes(data), "a refused log is left untouched"


def test_damage_in_an_older_segment_is_corruption(tmp_path):
    write_log(tmp_path, [puts(1, 2), puts(3, 2)], segment_bytes=1)
    first = wal.list_segments(str(tmp_path))[0].path
    with open(first, "r+b") as f:
        f.truncate(os.path.getsize(first) - 3)
    with pytest.raises(CorruptionError) as info:
        wal.scan_log(str(tmp_path))
    assert info.value.path == first


def test_missing_segment_is_a_gap(tmp_path):
    write_log(tmp_path, [puts(1, 2), puts(3, 2), puts(5, 2)], segment_bytes=1)
    middle = wal.list_segments(str(tmp_path))[1].path
    os.unlink(middle)
    with pytest.raises(CorruptionError, match="records 3 to 4 are missing|previous one ends"):
        wal.scan_log(str(tmp_path))


def test_log_starting_after_one_without_a_snapshot_is_a_gap(tmp_path):
    write_log(tmp_path, [puts(1, 2), puts(3, 2)], segment_bytes=1)
    os.unlink(wal.list_segments(str(tmp_path))[0].path)
    with pytest.raises(CorruptionError, match="records 1 to 2 are missing"):
        wal.scan_log(str(tmp_path))


def test_lsn_gap_inside_a_segment_is_corruption(tmp_path):
    writer = wal.SegmentWriter(str(tmp_path), 1, 1 << 20)
    writer.append(puts(1, 2), 1, 2)
    writer.append([wal.encode_write(4, 4, [M("put", b"x", b"y")])], 3, 1)
    writer.close()
    with pytest.raises(CorruptionError, match="expected record 3, found 4"):
        wal.scan_log(str(tmp_path))


def test_wrong_segment_magic_is_corruption(tmp_path):
    path = os.path.join(tmp_path, wal.segment_name(1))
    open(path, "wb").write(b"NOTAWAL!" + bytes(40))
    with pytest.raises(CorruptionError, match="not a log segment") as info:
        wal.scan_log(str(tmp_path))
    assert info.value.offset == 0


# ---------------------------------------------------------------- scanning after a snapshot


def test_scan_after_a_snapshot_skips_covered_records_and_lists_obsolete_segments(tmp_path):
    write_log(tmp_path, [puts(1, 3), puts(4, 3), puts(7, 3)], segment_bytes=1)
    scan = wal.scan_log(str(tmp_path), after_lsn=5)
    assert [r.lsn for r in scan.records] == [6, 7, 8, 9]
    assert [s.first_lsn for s in scan.obsolete] == [1]
    assert scan.next_lsn == 10


def test_scan_of_a_log_the_snapshot_covers_entirely(tmp_path):
    write_log(tmp_path, [puts(1, 3)])
    scan = wal.scan_log(str(tmp_path), after_lsn=8)
    assert scan.records == []
    assert scan.next_lsn == 9


def test_a_gap_right_after_the_snapshot_is_corruption(tmp_path):
    write_log(tmp_path, [puts(1, 3), puts(4, 3)], segment_bytes=1)
    os.unlink(wal.list_segments(str(tmp_path))[0].path)
    with pytest.raises(CorruptionError, match="records 3 to 3 are missing"):
        wal.scan_log(str(tmp_path), after_lsn=2)


def test_a_checksummed_record_of_unknown_type_is_not_accepted(tmp_path, caplog):
    write_log(tmp_path, [puts(1, 2)])
    path = only_segment(tmp_path)
    payload = b"\0" * 8
    rest = struct.pack("<HBBIQ", wal.RECORD_MAGIC, 9, 0, len(payload), 3) + payload
    with open(path, "ab") as f:
        f.write(struct.pack("<I", zlib.crc32(rest)) + rest)
    with caplog.at_level(logging.WARNING):
        scan = wal.scan_log(str(tmp_path))
    assert [r.lsn for r in scan.records] == [1, 2]
    assert "unknown record type 9" in caplog.text


def test_multi_mutation_records_take_the_general_path(tmp_path):
    record = wal.encode_write(1, 1, [M("put", b"a", b"1"), M("put", b"b", b"2"), M("delete", b"c")])
    write_log(tmp_path, [[record]])
    (read,) = wal.scan_log(str(tmp_path)).records
    assert read.mutations == [M("put", b"a", b"1"), M("put", b"b", b"2"), M("delete", b"c")]


def test_rotate_starts_the_next_segment_at_once(tmp_path):
    writer = wal.SegmentWriter(str(tmp_path), 1, 1 << 20)
    writer.rotate()  # nothing open yet: nothing to rotate
    writer.append(puts(1, 3), 1, 3)
    writer.rotate()
    assert [s.first_lsn for s in wal.list_segments(str(tmp_path))] == [1, 4]
    writer.append(puts(4, 2), 4, 2)
    writer.close()
    assert [r.lsn for r in wal.scan_log(str(tmp_path)).records] == [1, 2, 3, 4, 5]


@settings(max_examples=200, deadline=None)
@given(
    lsn=st.integers(0, 2**64 - 1),
    revision=st.integers(-(2**63), 2**63 - 1),
    key=st.binary(max_size=300),
    value=st.binary(max_size=3000),
    lease=st.integers(-(2**63), 2**63 - 1),
)
def test_encode_put_is_byte_for_byte_a_one_put_write(lsn, revision, key, value, lease):
    record = wal.encode_put(lsn, revision, key, value, lease)
    assert record == wal.encode_write(lsn, revision, [wal.LoggedMutation("put", key, value, lease)])
    assert struct.unpack_from("<I", record)[0] == zlib.crc32(record[4:])
