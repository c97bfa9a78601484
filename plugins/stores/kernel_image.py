"""Snapshot images of the MVCC kernel: what to save, and how to rebuild a kernel from it.

An image is the kernel's state at its compact revision C (the *base*: for each
key live at C, the version current then) plus every change after C in log order
(the *changes*), what ``range`` at C and ``events`` from C + 1 return. The kernel
encodes it in the snapshot layout itself (``MVCCStore.dump_image``, no Python
object per entry), and it keeps everything the kernel still serves: history
reads above C and watch catch-up from any revision above C.

Restoring loads the base with ``MVCCStore.load_base`` (which takes versions as
they are and sets the revision and compact revision to C), then replays the
changes with ``put``/``delete_range`` (in ``begin``/``commit`` groups when a
revision has several), which reproduces their revisions, versions and create
revisions exactly. :func:`load` does the same from a snapshot file's encoded
entries in one kernel call (``MVCCStore.load_image``), without making a Python
object per entry; recovery uses it.
"""

from __future__ import annotations

from orchestra._ext.kvstore import MVCCStore
from orchestra.plugins.stores.journal import CapturedState
from orchestra.plugins.stores.snapshot import EncodedSnapshot, SnapshotImage, decode_entries

__all__ = ["capture", "decoded", "restore", "load", "ImageMismatchError"]


class ImageMismatchError(Exception):
    """Replaying an image did not reproduce the versions it recorded (a damaged snapshot)."""


def capture(core: MVCCStore) -> CapturedState:
    """The image of ``core`` now, its entries encoded by the kernel (``MVCCStore.dump_image``)."""
    return CapturedState(*core.dump_image())


def decoded(state: CapturedState, lsn: int = 0) -> SnapshotImage:
    """``state`` with its entries decoded, as the snapshot image of log record ``lsn`` (no leases)."""
    entries = decode_entries(state.entries, 0, state.base_count + state.change_count, "<captured state>")
    return SnapshotImage(
        lsn, state.revision, state.compact_revision, [], entries[: state.base_count], entries[state.base_count :]
    )


def restore(core: MVCCStore, image: SnapshotImage) -> None:
    """Rebuild ``image`` in the empty kernel ``core``; :class:`ImageMismatchError` if it does not replay."""
    if image.compact_revision > 0:
        try:
            core.load_base(image.compact_revision, image.base)
        except ValueError as exc:
            raise ImageMismatchError(f"snapshot base does not load: {exc}") from exc
    elif image.base:
        raise ImageMismatchError("snapshot has a base but no compact revision")
    changes = image.changes
    count = len(changes)
    put = core.put
    i = 0
    while i < count:
        key, value, _, revision, _, lease = changes[i]
        if revision != core.revision + 1:
            raise ImageMismatchError(f"snapshot change at revision {revision} follows revision {core.revision}")
        if i + 1 == count or changes[i + 1][3] != revision:  # a revision of one change: no group needed
            if value is None:
                core.delete_range(key, b"")
            else:
                put(key, value, lease)
            i += 1
        else:
            core.begin()
            try:
                while i < count and changes[i][3] == revision:
                    key, value, _, _, _, lease = changes[i]
                    if value is None:
                        core.delete_range(key, b"")
                    else:
                        put(key, value, lease)
                    i += 1
            finally:
                core.commit()
        if core.revision != revision:
            raise ImageMismatchError(f"snapshot changes at revision {revision} change nothing when replayed")
    if core.revision != image.revision:
        raise ImageMismatchError(f"snapshot replays to revision {core.revision}, it records {image.revision}")


def load(core: MVCCStore, snapshot: EncodedSnapshot) -> None:
    """Rebuild the encoded ``snapshot`` in the empty kernel ``core``, as :func:`restore` would
    rebuild its decoded image; :class:`ImageMismatchError` if its entries do not parse or replay."""
    try:
        core.load_image(
            snapshot.data,
            snapshot.entries_offset,
            snapshot.base_count,
            snapshot.change_count,
            snapshot.compact_revision,
            snapshot.revision,
        )
    except ValueError as exc:
        raise ImageMismatchError(f"snapshot does not load: {exc}") from exc
