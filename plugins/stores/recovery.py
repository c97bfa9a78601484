"""Recovery of a ``file://`` store: newest snapshot, then the log after it, into a fresh kernel.

:func:`recover` is synchronous; the plugin runs it in a worker thread. It
reproduces the revisions, leases and compact revision the store had when it
stopped (every acknowledged write, and possibly some that were written but not
yet acknowledged). A torn log tail is cut off with a warning; anything else that
does not check out raises :class:`~orchestra.store.CorruptionError` naming the
file and byte offset, and then no file is deleted or rewritten (a torn tail cut
before the damage was found stays cut).
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import attrs

from orchestra._ext.kvstore import MVCCStore
from orchestra.plugins.stores import kernel_image
from orchestra.plugins.stores import snapshot as snapshot_files
from orchestra.plugins.stores import wal
from orchestra.plugins.stores.embedded import apply_mutations
from orchestra.store.errors import CorruptionError

__all__ = ["Recovered", "recover"]

log = logging.getLogger(__name__)

#: Loads an encoded snapshot into an empty kernel.
LoadSnapshot = Callable[[MVCCStore, snapshot_files.EncodedSnapshot], None]


@attrs.frozen(slots=True)
class Recovered:
    """The state rebuilt from disk, and where the log continues.

    ``leases`` maps lease IDs to granted TTLs. ``snapshot_lsn`` is the LSN of
    the snapshot used (0 without one), ``replayed`` how many log records were
    applied on top of it.
    """

    core: MVCCStore
    leases: dict[int, int]
    next_lsn: int
    snapshot_lsn: int
    replayed: int


def _newest_snapshot(directory: str) -> snapshot_files.EncodedSnapshot | None:
    """The newest snapshot of ``directory``, entries still encoded (damage raises CorruptionError), or ``None``."""
    snapshots = snapshot_files.list_snapshots(directory)
    if not snapshots:
        return None
    return snapshot_files.read_encoded_snapshot(snapshots[-1][1])


def _remove_leftovers(directory: str) -> None:
    """Delete temporary files of snapshots a crash interrupted."""
    for name in os.listdir(directory):
        if name.endswith(".snap.tmp"):
            os.unlink(os.path.join(directory, name))


def recover(directory: str, load: LoadSnapshot = kernel_image.load) -> Recovered:
    """Rebuild the store kept in ``directory``; ``load`` loads the encoded snapshot into a fresh kernel."""
    _remove_leftovers(directory)
    image = _newest_snapshot(directory)
    core = MVCCStore()
    leases: dict[int, int] = {}
    after_lsn = 0
    had_snapshot = image is not None
    if image is not None:
        try:
            load(core, image)
        except Exception as exc:
            raise CorruptionError(image.path, 0, f"snapshot does not restore: {exc}") from exc
        leases = dict(image.leases)
        after_lsn = image.lsn
        image = None  # let the file's bytes go while the log replays
    scan = wal.scan_log(directory, after_lsn)
    _replay(core, leases, scan)
    for segment in scan.obsolete:
        os.unlink(segment.path)
    for lsn, path in snapshot_files.list_snapshots(directory):
        if lsn < after_lsn:
            os.unlink(path)
    if scan.obsolete:
        wal.fsync_directory(directory)
    if had_snapshot or scan.records:
        log.info(
            "recovered %s: revision %d, %d keys, snapshot at record %d, %d records replayed",
            directory,
            core.revision,
            len(core),
            after_lsn,
            len(scan.records),
        )
    return Recovered(core, leases, scan.next_lsn, after_lsn, len(scan.records))


def _replay(core: MVCCStore, leases: dict[int, int], scan: wal.LogScan) -> None:
    """Apply the scanned records to ``core`` and ``leases``, checking each write's revision."""
    put = core.put  # a one-put write is a kernel put of its own: same revision as apply_mutations
    for index, record in enumerate(scan.records):
        if type(record) is wal.WriteRecord:
            expected = core.revision + 1
            if record.revision != expected:
                path, offset = scan.locate(index)
                raise CorruptionError(
                    path, offset, f"record {record.lsn} is a write at revision {record.revision}, expected {expected}"
                )
            mutations = record.mutations
            if len(mutations) == 1 and mutations[0].kind == "put":
                m = mutations[0]
                revision = put(m.key, m.value, m.lease)
            else:
                revision = apply_mutations(core, mutations)
            if revision != record.revision:
                path, offset = scan.locate(index)
                raise CorruptionError(
                    path, offset, f"record {record.lsn} changes nothing when replayed at revision {expected}"
                )
        elif type(record) is wal.LeaseGrantRecord:
            leases[record.lease_id] = record.ttl
        elif type(record) is wal.LeaseRevokeRecord:
            leases.pop(record.lease_id, None)
        else:
            if record.revision <= core.compact_revision:
                continue
            if record.revision > core.revision:
                path, offset = scan.locate(index)
                raise CorruptionError(
                    path, offset, f"record {record.lsn} compacts revision {record.revision}, beyond {core.revision}"
                )
            core.compact(record.revision)
