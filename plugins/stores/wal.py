"""The write-ahead log of the ``file://`` store: record format, segment files, reading back.

Everything here is synchronous and knows nothing of asyncio; :mod:`.journal` runs
it from worker threads. :func:`encode_put`, the record of the most common write
(one put), is built in C by ``orchestra._ext.walcodec``; it is byte for byte what
:func:`encode_write` makes of the same write.

Record layout (little-endian), 20-byte header then payload::

    crc32 u32 | magic u16 (0x57A1) | type u8 | reserved u8 (0) | length u32 | lsn u64 | payload

``length`` is the payload size. ``crc32`` is :func:`zlib.crc32` (the IEEE polynomial)
of every byte of the record after the CRC itself, so a damaged header is caught as
surely as a damaged payload. ``lsn`` (log sequence
number) counts records from 1 with no gaps; a snapshot names the last LSN it holds.

Payloads by type:

* ``WRITE`` (1): ``revision i64, count u32`` then per mutation
  ``kind u8 (0 put, 1 delete), key_len u32, value_len u32, lease i64, key, value``.
* ``LEASE_GRANT`` (2): ``lease_id i64, ttl i64``.
* ``LEASE_REVOKE`` (3): ``lease_id i64`` (the key deletions follow as a ``WRITE``).
* ``COMPACT`` (4): ``revision i64``.
* ``BATCH`` (5): ``count u32``. Not a log entry: the committer writes one before
  each batch it syncs, carrying the LSN of the batch's first record, which does
  not advance the LSN sequence.

A segment file is named ``<first lsn, 20 digits>.wal`` and starts with a 16-byte
header, ``b"ORCHWAL1"`` and the first LSN as u64. Records never span segments.

Reading back (:func:`scan_log`) checks every record. A batch is written whole and
then synced before the next one is written, so a crash can damage only the last
batch, and not necessarily at its end (the kernel may write its pages in any
order). Hence: a bad record in the last segment that no later ``BATCH`` marker
follows is a torn write; the file is truncated there and a warning logged. A bad
record followed by a valid batch marker was synced, so it is real damage; that,
damage in any other segment and any gap in LSNs raise
:class:`~orchestra.store.CorruptionError` naming the file and byte offset. (Damage
to the last, already synced batch is indistinguishable from a torn write; like
etcd, the log then drops that batch.)
"""

from __future__ import annotations

import logging
import os
import re
import struct
import zlib
from typing import Iterable, Sequence, Union

import attrs

from orchestra._ext.walcodec import encode_put  # the record of a one-put write, built in C
from orchestra.store.errors import CorruptionError

__all__ = [
    "RECORD_MAGIC",
    "SEGMENT_MAGIC",
    "HEADER_SIZE",
    "SEGMENT_HEADER_SIZE",
    "WRITE",
    "LEASE_GRANT",
    "LEASE_REVOKE",
    "COMPACT",
    "BATCH",
    "LoggedMutation",
    "WriteRecord",
    "LeaseGrantRecord",
    "LeaseRevokeRecord",
    "CompactRecord",
    "Record",
    "encode_write",
    "encode_put",
    "encode_lease_grant",
    "encode_lease_revoke",
    "encode_compact",
    "encode_batch_marker",
    "decode_segment",
    "segment_name",
    "list_segments",
    "Segment",
    "LogScan",
    "scan_log",
    "SegmentWriter",
    "fsync_directory",
]

log = logging.getLogger(__name__)

RECORD_MAGIC = 0x57A1
SEGMENT_MAGIC = b"ORCHWAL1"

WRITE = 1
LEASE_GRANT = 2
LEASE_REVOKE = 3
COMPACT = 4
BATCH = 5
_TYPES = (WRITE, LEASE_GRANT, LEASE_REVOKE, COMPACT, BATCH)

_HEADER = struct.Struct("<IHBBIQ")
_CRC = struct.Struct("<I")
_HEAD_AFTER_CRC = struct.Struct("<HBBIQ")
_ONE_MUTATION_WRITE = struct.Struct("<HBBIQqIBIIq")
_ONE_MUTATION_PAYLOAD = struct.Struct("<qIBIIq")
_SEGMENT_HEADER = struct.Struct("<8sQ")
_WRITE_HEAD = struct.Struct("<qI")
_MUTATION = struct.Struct("<BIIq")
_I64 = struct.Struct("<q")
_TWO_I64 = struct.Struct("<qq")
_U32 = struct.Struct("<I")

HEADER_SIZE = _HEADER.size
SEGMENT_HEADER_SIZE = _SEGMENT_HEADER.size

_KIND_CODES = {"put": 0, "delete": 1}
_KIND_NAMES = ("put", "delete")
_SEGMENT_RE = re.compile(r"^(\d{20})\.wal$")


# Records are read back by the million during recovery: attrs.define builds them
# about three times faster than attrs.frozen. Treat them as read-only.


@attrs.define(slots=True)
class LoggedMutation:
    """One mutation as read back from the log (same fields as ``embedded.Mutation``)."""

    kind: str
    key: bytes
    value: bytes = b""
    lease: int = 0


@attrs.define(slots=True)
class WriteRecord:
    """A write applied at ``revision``: its mutations in operation order."""

    lsn: int
    revision: int
    mutations: list[LoggedMutation]


@attrs.define(slots=True)
class LeaseGrantRecord:
    """A lease granted with ``ttl`` seconds."""

    lsn: int
    lease_id: int
    ttl: int


@attrs.define(slots=True)
class LeaseRevokeRecord:
    """A lease revoked (its keys' deletion is the next write record)."""

    lsn: int
    lease_id: int


@attrs.define(slots=True)
class CompactRecord:
    """History compacted up to ``revision``."""

    lsn: int
    revision: int


Record = Union[WriteRecord, LeaseGrantRecord, LeaseRevokeRecord, CompactRecord]


def _frame(record_type: int, lsn: int, payload: bytes) -> bytes:
    """Header plus payload for one record."""
    rest = _HEAD_AFTER_CRC.pack(RECORD_MAGIC, record_type, 0, len(payload), lsn) + payload
    return _CRC.pack(zlib.crc32(rest)) + rest


def encode_write(lsn: int, revision: int, mutations: Sequence) -> bytes:
    """The record of a write at ``revision``; ``mutations`` have ``kind, key, value, lease``."""
    if len(mutations) == 1:  # the common case, packed in one go
        m = mutations[0]
        key = m.key
        value = m.value
        kind = _KIND_CODES.get(m.kind)
        if kind is not None:
            rest = (
                _ONE_MUTATION_WRITE.pack(
                    RECORD_MAGIC, WRITE, 0, 29 + len(key) + len(value), lsn,
                    revision, 1, kind, len(key), len(value), m.lease,
                )
                + key
                + value
            )
            return _CRC.pack(zlib.crc32(rest)) + rest
    parts = [_WRITE_HEAD.pack(revision, len(mutations))]
    pack = _MUTATION.pack
    for m in mutations:
        try:
            kind = _KIND_CODES[m.kind]
        except KeyError:
            raise ValueError(f"mutation kind must be 'put' or 'delete', not {m.kind!r}") from None
        parts.append(pack(kind, len(m.key), len(m.value), m.lease))
        parts.append(m.key)
        parts.append(m.value)
    return _frame(WRITE, lsn, b"".join(parts))


def encode_lease_grant(lsn: int, lease_id: int, ttl: int) -> bytes:
    """The record of a lease grant."""
    return _frame(LEASE_GRANT, lsn, _TWO_I64.pack(lease_id, ttl))


def encode_lease_revoke(lsn: int, lease_id: int) -> bytes:
    """The record of a lease revocation."""
    return _frame(LEASE_REVOKE, lsn, _I64.pack(lease_id))


def encode_compact(lsn: int, revision: int) -> bytes:
    """The record of a compaction up to ``revision``."""
    return _frame(COMPACT, lsn, _I64.pack(revision))


def encode_batch_marker(first_lsn: int, count: int) -> bytes:
    """The marker written before a batch of ``count`` records starting at ``first_lsn``."""
    return _frame(BATCH, first_lsn, _U32.pack(count))


class _BadRecord(Exception):
    """A record that does not check out, at ``offset`` for ``reason``."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(reason)


def _decode_payload(record_type: int, lsn: int, payload: memoryview, offset: int) -> Record | None:
    """Turn a checked payload into its record (``None`` for a batch marker).

    Raises :class:`_BadRecord` on a malformed payload.
    """
    try:
        if record_type == WRITE:
            payload = bytes(payload)  # one copy: slicing bytes is much cheaper than slicing a memoryview
            revision, count = _WRITE_HEAD.unpack_from(payload, 0)
            pos = _WRITE_HEAD.size
            mutations = []
            unpack = _MUTATION.unpack_from
            msize = _MUTATION.size
            for _ in range(count):
                kind, klen, vlen, lease = unpack(payload, pos)
                pos += msize
                key = payload[pos : pos + klen]
                pos += klen
                value = payload[pos : pos + vlen]
                pos += vlen
                if len(key) != klen or len(value) != vlen or kind > 1:
                    raise _BadRecord(offset, "malformed mutation in write record")
                mutations.append(LoggedMutation(_KIND_NAMES[kind], key, value, lease))
            if pos != len(payload):
                raise _BadRecord(offset, "write record has trailing bytes")
            return WriteRecord(lsn, revision, mutations)
        if record_type == LEASE_GRANT:
            lease_id, ttl = _TWO_I64.unpack(payload)
            return LeaseGrantRecord(lsn, lease_id, ttl)
        if record_type == LEASE_REVOKE:
            (lease_id,) = _I64.unpack(payload)
            return LeaseRevokeRecord(lsn, lease_id)
        if record_type == COMPACT:
            (revision,) = _I64.unpack(payload)
            return CompactRecord(lsn, revision)
        _U32.unpack(payload)
        return None
    except struct.error as exc:
        raise _BadRecord(offset, f"malformed payload: {exc}") from None


def _check_record(data: memoryview, pos: int) -> tuple[int, int, int, int]:
    """``(type, lsn, payload_start, end)`` of the record at ``pos``; :class:`_BadRecord` if it is bad."""
    if len(data) - pos < HEADER_SIZE:
        raise _BadRecord(pos, "incomplete record header")
    crc, magic, record_type, reserved, length, lsn = _HEADER.unpack_from(data, pos)
    if magic != RECORD_MAGIC:
        raise _BadRecord(pos, f"bad record magic {magic:#06x}")
    if record_type not in _TYPES or reserved != 0:
        raise _BadRecord(pos, f"unknown record type {record_type}")
    start = pos + HEADER_SIZE
    end = start + length
    if end > len(data):
        raise _BadRecord(pos, f"record of {length} bytes runs past the end of the file")
    actual = zlib.crc32(data[pos + 4 : end])
    if actual != crc:
        raise _BadRecord(pos, f"CRC mismatch (stored {crc:#010x}, computed {actual:#010x})")
    return record_type, lsn, start, end


def _valid_batch_after(data: bytes, pos: int) -> int | None:
    """Offset of a checksum-valid batch marker starting after ``pos``, or ``None``."""
    needle = struct.pack("<HB", RECORD_MAGIC, BATCH)
    view = memoryview(data)
    at = data.find(needle, pos + 5)
    while at != -1:
        try:
            _check_record(view, at - 4)
            return at - 4
        except _BadRecord:
            at = data.find(needle, at + 1)
    return None


def decode_segment(
    data: bytes, path: str = "<segment>"
) -> tuple[int, list[Record], list[int], int, str | None]:
    """Parse one segment's bytes.

    Returns ``(first_lsn, records, offsets, good_end, tail_reason)``: the header's
    first LSN, every valid record in order and the byte offset of each, the offset
    where valid data ends and, if the segment does not end cleanly there, why
    (``None`` when it does). Raises
    :class:`CorruptionError` when a bad record is followed by a valid one, when
    LSNs inside the segment are not consecutive or the header is unreadable.
    """
    if len(data) < SEGMENT_HEADER_SIZE:
        return 0, [], [], 0, "incomplete segment header"
    magic, first_lsn = _SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC:
        raise CorruptionError(path, 0, f"not a log segment (magic {magic!r})")
    view = memoryview(data)
    size = len(data)
    pos = SEGMENT_HEADER_SIZE
    expected = first_lsn
    records: list[Record] = []
    offsets: list[int] = []
    unpack_header = _HEADER.unpack_from
    unpack_one = _ONE_MUTATION_PAYLOAD.unpack_from
    crc32 = zlib.crc32
    while pos < size:
        # Fast path: a whole, checksum-valid record; anything else goes to _check_record for the reason.
        end = -1
        if size - pos >= HEADER_SIZE:
            crc, magic, record_type, reserved, length, lsn = unpack_header(data, pos)
            end = pos + HEADER_SIZE + length
            if (
                magic != RECORD_MAGIC
                or reserved
                or not WRITE <= record_type <= BATCH
                or end > size
                or crc32(view[pos + 4 : end]) != crc
            ):
                end = -1
        try:
            if end < 0:
                record_type, lsn, _, end = _check_record(view, pos)
                length = end - pos - HEADER_SIZE
            record = None
            if record_type == WRITE and length >= 29:
                revision, count, kind, klen, vlen, lease = unpack_one(data, pos + HEADER_SIZE)
                if count == 1 and kind <= 1 and length == 29 + klen + vlen:
                    k = pos + HEADER_SIZE + 29
                    v = k + klen
                    record = WriteRecord(lsn, revision, [LoggedMutation(_KIND_NAMES[kind], data[k:v], data[v:end], lease)])
            if record is None:
                record = _decode_payload(record_type, lsn, view[pos + HEADER_SIZE : end], pos)
        except _BadRecord as bad:
            later = _valid_batch_after(data, pos)
            if later is not None:
                raise CorruptionError(
                    path, bad.offset, f"{bad.reason}, followed by a valid batch at offset {later}"
                ) from None
            return first_lsn, records, offsets, pos, bad.reason
        if lsn != expected:
            raise CorruptionError(path, pos, f"log sequence gap: expected record {expected}, found {lsn}")
        if record_type != BATCH:
            records.append(record)
            offsets.append(pos)
            expected += 1
        pos = end
    return first_lsn, records, offsets, pos, None


def segment_name(first_lsn: int) -> str:
    """The file name of the segment whose first record is ``first_lsn``."""
    return f"{first_lsn:020d}.wal"


@attrs.frozen(slots=True)
class Segment:
    """A segment file on disk and the LSN its name says it starts at."""

    path: str
    first_lsn: int


def list_segments(directory: str) -> list[Segment]:
    """The segment files of ``directory``, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = _SEGMENT_RE.match(name)
        if match:
            found.append(Segment(os.path.join(directory, name), int(match.group(1))))
    found.sort(key=lambda s: s.first_lsn)
    return found


@attrs.frozen(slots=True)
class LogScan:
    """What :func:`scan_log` found: records to replay, where to continue, files no longer needed.

    ``offsets[i]`` is the byte offset of ``records[i]`` in the segment file
    ``files[j][1]`` for the last ``j`` whose ``files[j][0] <= i``.
    """

    records: list[Record]
    next_lsn: int
    obsolete: list[Segment]
    offsets: list[int] = attrs.field(factory=list)
    files: list[tuple[int, str]] = attrs.field(factory=list)

    def locate(self, index: int) -> tuple[str, int]:
        """``(segment path, byte offset)`` of ``records[index]``, for error messages."""
        path = ""
        for start, candidate in self.files:
            if start > index:
                break
            path = candidate
        return path, self.offsets[index]


def scan_log(directory: str, after_lsn: int = 0) -> LogScan:
    """Read every segment of ``directory`` and return the records with LSN above ``after_lsn``.

    ``after_lsn`` is the last LSN held by the snapshot being recovered from (0
    without one). Segments wholly at or below it are listed as obsolete and not
    read. A torn tail of the last segment is truncated (with a warning); any
    other damage or a gap raises :class:`CorruptionError`.
    """
    segments = list_segments(directory)
    obsolete = []
    while len(segments) > 1 and segments[1].first_lsn <= after_lsn + 1:
        obsolete.append(segments.pop(0))
    records: list[Record] = []
    offsets: list[int] = []
    files: list[tuple[int, str]] = []
    next_lsn = after_lsn + 1
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        with open(segment.path, "rb") as f:
            data = f.read()
        first_lsn, found, found_offsets, good_end, tail_reason = decode_segment(data, segment.path)
        if tail_reason is not None and good_end == 0:
            first_lsn = segment.first_lsn
        if first_lsn != segment.first_lsn:
            raise CorruptionError(
                segment.path, 0, f"segment header says it starts at record {first_lsn}, its name says {segment.first_lsn}"
            )
        if first_lsn > next_lsn:
            raise CorruptionError(
                segment.path, 0, f"log sequence gap: records {next_lsn} to {first_lsn - 1} are missing"
            )
        if index > 0 and first_lsn != next_lsn:
            raise CorruptionError(
                segment.path, 0, f"segment starts at record {first_lsn}, the previous one ends before {next_lsn}"
            )
        if tail_reason is not None:
            if not last:
                raise CorruptionError(segment.path, good_end, f"{tail_reason} in a segment that is not the last")
            _truncate_tail(segment.path, good_end, len(data), tail_reason)
        files.append((len(records), segment.path))
        skip = 0
        while skip < len(found) and found[skip].lsn <= after_lsn:
            skip += 1
        records.extend(found[skip:])
        offsets.extend(found_offsets[skip:])
        next_lsn = max(next_lsn, found[-1].lsn + 1 if found else first_lsn)
    return LogScan(records, next_lsn, obsolete, offsets, files)


def _truncate_tail(path: str, good_end: int, size: int, reason: str) -> None:
    """Cut a torn tail off the last segment, durably, and say so."""
    log.warning(
        "%s: torn tail at offset %d (%s); truncating %d bytes left by an interrupted write",
        path,
        good_end,
        reason,
        size - good_end,
    )
    if good_end < SEGMENT_HEADER_SIZE:
        os.unlink(path)
        fsync_directory(os.path.dirname(path))
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, good_end)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: str) -> None:
    """Make renames, creations and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """Appends batches of encoded records to the current segment, rotating by size.

    Not thread-safe: one committer thread uses it. Every batch goes whole into
    one segment; a new segment starts before a batch when the current one has
    reached ``segment_bytes``, or at once on :meth:`rotate`.
    """

    def __init__(self, directory: str, next_lsn: int, segment_bytes: int) -> None:
        """A writer whose first batch starts a new segment at ``next_lsn``; opens nothing yet."""
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._fd = -1
        self._size = 0
        self._rotate = True
        self._next_lsn = next_lsn

    def rotate(self) -> None:
        """Close the current segment and start the next one now, so a snapshot can delete the old one."""
        if self._fd >= 0:
            self._open_segment(self._next_lsn)

    def append(self, chunks: Iterable[bytes], first_lsn: int, count: int, sync: bool = True) -> None:
        """Write ``count`` records starting at ``first_lsn`` and, with ``sync``, ``fdatasync`` them."""
        if first_lsn != self._next_lsn:
            raise ValueError(f"batch starts at record {first_lsn}, the log is at {self._next_lsn}")
        if self._rotate or self._size >= self.segment_bytes:
            self._open_segment(first_lsn)
        parts = [encode_batch_marker(first_lsn, count)]
        parts.extend(chunks)
        data = b"".join(parts)
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(self._fd, view[written:])
        self._size += len(data)
        self._next_lsn = first_lsn + count
        if sync:
            os.fdatasync(self._fd)

    def _open_segment(self, first_lsn: int) -> None:
        """Close the current segment (already synced) and start one at ``first_lsn``."""
        if self._fd >= 0:
            os.fdatasync(self._fd)
            os.close(self._fd)
        path = os.path.join(self.directory, segment_name(first_lsn))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        os.write(fd, _SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_lsn))
        os.fsync(fd)
        fsync_directory(self.directory)
        self._fd = fd
        self._size = SEGMENT_HEADER_SIZE
        self._rotate = False

    def close(self) -> None:
        """Sync and close the current segment. Idempotent."""
        if self._fd >= 0:
            os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = -1

