"""Snapshot files of the ``file://`` store: the whole key-value state at one log position.

A snapshot is named ``<lsn, 20 digits>.snap`` after the last log record it holds;
records after that LSN are replayed on top of it. It is written to a ``.tmp``
file, fsynced, renamed into place and the directory fsynced, so a reader sees a
whole snapshot or none.

Layout (little-endian)::

    header (64 bytes): magic b"ORCHSNP1" | lsn u64 | revision i64 | compact_revision i64
                       | lease_count u64 | base_count u64 | change_count u64
                       | body_crc32 u32 | header_crc32 u32
    leases:  lease_count x (lease_id i64, ttl i64)
    entries: (base_count + change_count) x (key_len u32, value_len i32, create_revision i64,
                                            mod_revision i64, version i64, lease i64, key, value)

The entries are the kernel's MVCC state as :meth:`MVCCStore.dump_image` gives it: first
the *base*, for each key live at the compact revision the version current then;
then the *changes*, every change after the compact revision in log order (so
history and watch catch-up survive a restart exactly). ``value_len`` is -1 for a
deletion. ``body_crc32`` is :func:`zlib.crc32` (IEEE polynomial) of everything
after the header; ``header_crc32`` covers the header's first 60 bytes. A reader
reads the file with one ``read`` and parses it in one tight loop (measured faster
than a columnar layout unpacked with :func:`struct.iter_unpack`, whose
intermediate lists cost more than they save).
"""

from __future__ import annotations

import itertools
import os
import re
import struct
import zlib
from typing import Iterable, Optional

import attrs

from orchestra.store.errors import CorruptionError

__all__ = [
    "SNAPSHOT_MAGIC",
    "Entry",
    "SnapshotImage",
    "snapshot_name",
    "list_snapshots",
    "write_snapshot",
    "read_snapshot",
    "EncodedImage",
    "EncodedSnapshot",
    "encode_entries",
    "decode_entries",
    "read_encoded_snapshot",
]

SNAPSHOT_MAGIC = b"ORCHSNP1"

_HEADER = struct.Struct("<8sQqqQQQII")
_LEASE = struct.Struct("<qq")
_ENTRY = struct.Struct("<Iiqqqq")
_SNAPSHOT_RE = re.compile(r"^(\d{20})\.snap$")
_CHUNK = 4 << 20

#: One stored version: ``(key, value or None for a deletion, create_revision, mod_revision, version, lease)``.
Entry = tuple[bytes, Optional[bytes], int, int, int, int]


@attrs.frozen(slots=True)
class SnapshotImage:
    """The state a snapshot holds as of log record ``lsn``: revisions, leases, versions.

    ``leases`` are ``(lease_id, ttl)`` pairs; ``base`` and ``changes`` are the
    kernel's dump (see the module docstring), given back to it unchanged.
    """

    lsn: int
    revision: int
    compact_revision: int
    leases: list[tuple[int, int]]
    base: list[Entry]
    changes: list[Entry]


@attrs.frozen(slots=True)
class EncodedImage:
    """A :class:`SnapshotImage` whose ``base_count + change_count`` entries are already
    encoded, back to back, in ``entries`` (as ``MVCCStore.dump_image`` makes them)."""

    lsn: int
    revision: int
    compact_revision: int
    leases: list[tuple[int, int]]
    base_count: int
    change_count: int
    entries: bytes


@attrs.frozen(slots=True)
class EncodedSnapshot:
    """A checked snapshot whose entries are left encoded, for :meth:`MVCCStore.load_image`.

    ``data`` is the whole file; its ``base_count + change_count`` entries start
    at ``entries_offset`` and run to its end. ``path`` names the file for errors.
    """

    path: str
    lsn: int
    revision: int
    compact_revision: int
    leases: list[tuple[int, int]]
    base_count: int
    change_count: int
    data: bytes
    entries_offset: int


def snapshot_name(lsn: int) -> str:
    """The file name of the snapshot that holds every record up to ``lsn``."""
    return f"{lsn:020d}.snap"


def list_snapshots(directory: str) -> list[tuple[int, str]]:
    """``(lsn, path)`` of every snapshot file in ``directory``, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = _SNAPSHOT_RE.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    found.sort()
    return found


def encode_entries(entries: Iterable[Entry]) -> bytes:
    """``entries`` encoded back to back in the snapshot layout."""
    return b"".join(_encode_entries([], entries))


def _encode_body(image: SnapshotImage | EncodedImage) -> Iterable[bytes]:
    """The body in chunks of a few MiB."""
    pack_lease = _LEASE.pack
    parts: list[bytes] = [pack_lease(lease_id, ttl) for lease_id, ttl in image.leases]
    if isinstance(image, EncodedImage):
        parts.append(image.entries)
        return parts
    return _encode_entries(parts, itertools.chain(image.base, image.changes))


def _encode_entries(parts: list[bytes], entries: Iterable[Entry]) -> Iterable[bytes]:
    """``parts`` followed by ``entries`` encoded, in chunks of a few MiB."""
    size = 0
    pack = _ENTRY.pack
    for key, value, create, mod, version, lease in entries:
        if value is None:
            parts.append(pack(len(key), -1, create, mod, version, lease))
            parts.append(key)
            size += 40 + len(key)
        else:
            parts.append(pack(len(key), len(value), create, mod, version, lease))
            parts.append(key)
            parts.append(value)
            size += 40 + len(key) + len(value)
        if size >= _CHUNK:
            yield b"".join(parts)
            parts, size = [], 0
    yield b"".join(parts)


def write_snapshot(directory: str, image: SnapshotImage | EncodedImage) -> str:
    """Write ``image`` durably as ``directory/<lsn>.snap``; returns its path.

    The data goes to a temporary file that is fsynced, renamed into place, and
    the directory fsynced: after a crash the snapshot is either whole or absent.
    """
    final = os.path.join(directory, snapshot_name(image.lsn))
    tmp = final + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.pwrite(fd, bytes(_HEADER.size), 0)
        offset = _HEADER.size
        crc = 0
        for chunk in _encode_body(image):
            crc = zlib.crc32(chunk, crc)
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, offset)
                offset += written
                view = view[written:]
        head = _HEADER.pack(
            SNAPSHOT_MAGIC,
            image.lsn,
            image.revision,
            image.compact_revision,
            len(image.leases),
            image.base_count if isinstance(image, EncodedImage) else len(image.base),
            image.change_count if isinstance(image, EncodedImage) else len(image.changes),
            crc,
            0,
        )[:-4]
        os.pwrite(fd, head + struct.pack("<I", zlib.crc32(head)), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def read_encoded_snapshot(path: str) -> EncodedSnapshot:
    """Read the snapshot at ``path`` and check its header and CRCs, leaving the entries encoded.

    :class:`CorruptionError` if it is damaged; whether the entries parse is
    left to their reader.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _HEADER.size:
        raise CorruptionError(path, 0, f"snapshot is {len(data)} bytes, shorter than its header")
    magic, lsn, revision, compact, lease_count, base_count, change_count, body_crc, head_crc = _HEADER.unpack_from(
        data, 0
    )
    if magic != SNAPSHOT_MAGIC:
        raise CorruptionError(path, 0, f"not a snapshot (magic {magic!r})")
    if zlib.crc32(memoryview(data)[: _HEADER.size - 4]) != head_crc:
        raise CorruptionError(path, 0, "snapshot header CRC mismatch")
    view = memoryview(data)
    if zlib.crc32(view[_HEADER.size :]) != body_crc:
        raise CorruptionError(path, _HEADER.size, "snapshot body CRC mismatch")
    pos = _HEADER.size
    if len(data) - pos < lease_count * _LEASE.size:
        raise CorruptionError(path, pos, f"snapshot ends early: {lease_count} leases do not fit")
    leases = [_LEASE.unpack_from(data, pos + 16 * i) for i in range(lease_count)]
    pos += 16 * lease_count
    return EncodedSnapshot(path, lsn, revision, compact, leases, base_count, change_count, data, pos)


def read_snapshot(path: str) -> SnapshotImage:
    """Read and check the snapshot at ``path``; :class:`CorruptionError` if it is damaged."""
    encoded = read_encoded_snapshot(path)
    data, pos, base_count = encoded.data, encoded.entries_offset, encoded.base_count
    try:
        entries = decode_entries(data, pos, base_count + encoded.change_count, path)
    except struct.error as exc:
        raise CorruptionError(path, pos, f"snapshot ends early: {exc}") from None
    return SnapshotImage(
        encoded.lsn,
        encoded.revision,
        encoded.compact_revision,
        encoded.leases,
        entries[:base_count],
        entries[base_count:],
    )


def decode_entries(data: bytes, pos: int, count: int, path: str) -> list[Entry]:
    """The ``count`` entries starting at ``pos`` of ``data`` (read from ``path``), which must
    end right after them; :class:`CorruptionError` if not, ``struct.error`` if they run short."""
    unpack = _ENTRY.unpack_from
    entries: list[Entry] = [None] * count  # type: ignore[list-item]
    for i in range(count):
        klen, vlen, create, mod, version, lease = unpack(data, pos)
        pos += 40
        key = data[pos : pos + klen]
        pos += klen
        if vlen < 0:
            entries[i] = (key, None, create, mod, version, lease)
        else:
            entries[i] = (key, data[pos : pos + vlen], create, mod, version, lease)
            pos += vlen
    if pos != len(data):
        raise CorruptionError(path, min(pos, len(data)), "snapshot length does not match its entries")
    return entries
