"""Kernel images: capture through public reads, restore by replay, exactly the same kernel."""

from __future__ import annotations

import re
import struct

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra._ext.kvstore import PUT, MVCCStore
from orchestra.plugins.stores import kernel_image
from orchestra.plugins.stores.snapshot import EncodedSnapshot, SnapshotImage, read_encoded_snapshot, write_snapshot

def observable(core: MVCCStore):
    """Every read the kernel still serves: each revision's full range, and all events."""
    compact = core.compact_revision
    ranges = [core.range(b"\0", b"\0", r, 0, False, False) for r in range(max(compact, 1), core.revision + 1)]
    events = core.events(compact + 1, prev_kv=True) if core.revision > compact else []
    return core.revision, compact, ranges, events


def image_of(core: MVCCStore) -> SnapshotImage:
    """The image captured from ``core``, checked against the kernel's public reads."""
    image = kernel_image.decoded(kernel_image.capture(core), 7)
    compact = core.compact_revision
    base = core.range(b"\0", b"\0", compact, 0, False, False)[0] if compact else []
    events = core.events(compact + 1) if core.revision > compact else []
    changes = [kv if kind == PUT else (kv[0], None, 0, kv[3], 0, 0) for kind, kv, _ in events]
    assert (image.base, image.changes) == (base, changes)
    return image


writes = st.lists(
    st.lists(
        st.tuples(st.sampled_from(["put", "delete", "range-delete"]), st.sampled_from([b"a", b"b", b"c"]),
                  st.binary(max_size=4), st.integers(0, 3)),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=20,
)


def apply(core: MVCCStore, groups) -> None:
    for group in groups:
        core.begin()
        for kind, key, value, lease in group:
            if kind == "put":
                core.put(key, value, lease)
            elif kind == "delete":
                core.delete_range(key, b"")
            else:
                core.delete_range(key, b"\0")
        core.commit()


@settings(max_examples=80, deadline=None)
@given(groups=writes)
def test_restore_reproduces_a_never_compacted_kernel(groups):
    core = MVCCStore()
    apply(core, groups)
    copy = MVCCStore()
    kernel_image.restore(copy, image_of(core))
    assert observable(copy) == observable(core)


def test_restored_kernel_goes_on_like_the_original():
    core = MVCCStore()
    apply(core, [[("put", b"a", b"1", 0)], [("put", b"a", b"2", 5), ("put", b"b", b"x", 0)]])
    copy = MVCCStore()
    kernel_image.restore(copy, image_of(core))
    for kernel in (core, copy):
        kernel.put(b"a", b"3")
        kernel.delete_range(b"b", b"")
    assert observable(copy) == observable(core)


def test_an_image_that_does_not_replay_is_refused():
    image = SnapshotImage(1, 3, 0, [], [], [(b"a", b"1", 1, 1, 1, 0), (b"a", None, 0, 3, 0, 0)])
    with pytest.raises(kernel_image.ImageMismatchError, match="revision 3 follows revision 1"):
        kernel_image.restore(MVCCStore(), image)


def test_an_image_whose_revision_disagrees_is_refused():
    image = SnapshotImage(1, 5, 0, [], [], [(b"a", b"1", 1, 1, 1, 0)])
    with pytest.raises(kernel_image.ImageMismatchError, match="records 5"):
        kernel_image.restore(MVCCStore(), image)


@settings(max_examples=80, deadline=None)
@given(groups=writes, data=st.data())
def test_restore_reproduces_a_compacted_kernel(groups, data):
    core = MVCCStore()
    apply(core, groups)
    if core.revision:
        core.compact(data.draw(st.integers(1, core.revision)))
    copy = MVCCStore()
    kernel_image.restore(copy, image_of(core))
    assert observable(copy) == observable(core)


def test_a_base_that_does_not_load_is_refused():
    image = SnapshotImage(1, 2, 2, [], [(b"a", b"1", 3, 3, 1, 0)], [])
    with pytest.raises(kernel_image.ImageMismatchError, match="base does not load"):
        kernel_image.restore(MVCCStore(), image)


# --------------------------------------------------------------------------- bulk load from encoded entries


def encoded(tmp_path, image: SnapshotImage) -> EncodedSnapshot:
    """``image`` written as a snapshot file and read back with its entries left encoded."""
    return read_encoded_snapshot(write_snapshot(str(tmp_path), image))


@settings(max_examples=60, deadline=None)
@given(groups=writes, data=st.data())
def test_load_builds_the_same_kernel_as_restore(tmp_path_factory, groups, data):
    core = MVCCStore()
    apply(core, groups)
    if core.revision and data.draw(st.booleans()):
        core.compact(data.draw(st.integers(1, core.revision)))
    image = image_of(core)
    restored, loaded = MVCCStore(), MVCCStore()
    kernel_image.restore(restored, image)
    kernel_image.load(loaded, encoded(tmp_path_factory.mktemp("snap"), image))
    assert observable(loaded) == observable(restored) == observable(core)
    sizes = ("keys", "records", "versions", "events", "bytes")  # memory differs: the loader sizes its index up front
    assert {k: loaded.stats()[k] for k in sizes} == {k: restored.stats()[k] for k in sizes}


def test_loaded_kernel_goes_on_like_the_original(tmp_path):
    core = MVCCStore()
    apply(core, [[("put", b"b", b"1", 0)], [("put", b"a", b"2", 5), ("put", b"c", b"x", 0)], [("put", b"a", b"3", 0)]])
    core.compact(2)
    copy = MVCCStore()
    kernel_image.load(copy, encoded(tmp_path, image_of(core)))
    assert copy.leased_keys() == core.leased_keys() == []
    for kernel in (core, copy):
        kernel.put(b"aa", b"3", 9)
        kernel.delete_range(b"b", b"")
    assert observable(copy) == observable(core)
    assert copy.range(b"a", b"\0") == core.range(b"a", b"\0")
    assert sorted(copy.leased_keys()) == [(b"aa", 9)]


def test_load_image_refuses_a_kernel_that_is_not_empty():
    core = MVCCStore()
    core.put(b"a", b"1")
    with pytest.raises(RuntimeError, match="empty kernel"):
        core.load_image(b"", 0, 0, 0, 0, 1)


def entry(key: bytes, value: bytes | None, create: int, mod: int, version: int, lease: int = 0) -> bytes:
    vlen = -1 if value is None else len(value)
    return struct.pack("<Iiqqqq", len(key), vlen, create, mod, version, lease) + key + (value or b"")


@pytest.mark.parametrize(
    "data, base, changes, compact, revision, message",
    [
        (entry(b"a", b"1", 1, 1, 1)[:30], 0, 1, 0, 1, "entry 0 at byte 0: the buffer ends inside its header"),
        (entry(b"a", b"12", 1, 1, 1)[:-1], 0, 1, 0, 1, "entry 0 at byte 0: the buffer ends inside its key or value"),
        (entry(b"", b"1", 1, 1, 1), 0, 1, 0, 1, "entry 0 at byte 0: empty key"),
        (entry(b"a", b"1", 1, 1, 1) + b"junk", 0, 1, 0, 1, "image ends at byte 42 but the buffer has 46 bytes"),
        (entry(b"a", b"1", 1, 1, 1) + entry(b"b", b"2", 3, 3, 1), 0, 2, 0, 3,
         "entry 1 at byte 42: a change at revision 3 follows revision 1"),
        (entry(b"a", b"1", 1, 1, 1) + entry(b"a", b"1", 1, 1, 1), 2, 0, 1, 1, "entry 1 at byte 42: key b'a' appears twice"),
        (entry(b"a", b"1", 1, 5, 1), 1, 0, 4, 4, "revisions 1..5 and version 1 do not fit compact revision 4"),
        (entry(b"a", None, 0, 2, 0), 1, 0, 2, 2, "entry 0 at byte 0: a base entry is a deletion"),
        (entry(b"a", b"1", 1, 1, 1), 1, 0, 0, 1, "a base but no compact revision"),
        (entry(b"a", None, 0, 1, 0), 0, 1, 0, 1, "changes at revision 1 change nothing"),
        (entry(b"a", b"1", 1, 1, 1), 0, 1, 0, 2, "replays to revision 1, it records 2"),
        (struct.pack("<Iiqqqq", 1, -7, 1, 1, 1, 0) + b"a", 0, 1, 0, 1, "value length -7"),
    ],
)
def test_load_image_names_what_is_wrong_with_a_corrupt_buffer(data, base, changes, compact, revision, message):
    core = MVCCStore()
    with pytest.raises(ValueError, match=re.escape(message)):
        core.load_image(data, 0, base, changes, compact, revision)
    assert core.pending_revision == 0


def test_load_reports_a_corrupt_snapshot_as_an_image_mismatch(tmp_path):
    snapshot = encoded(tmp_path, SnapshotImage(3, 1, 0, [], [], [(b"a", b"1", 1, 1, 1, 0)]))
    damaged = attrs.evolve(snapshot, data=snapshot.data[:-1])
    with pytest.raises(kernel_image.ImageMismatchError, match="buffer ends inside its key or value"):
        kernel_image.load(MVCCStore(), damaged)


@settings(max_examples=60, deadline=None)
@given(groups=writes, data=st.data())
def test_dump_image_loads_back_into_the_same_kernel(groups, data):
    core = MVCCStore()
    apply(core, groups)
    if core.revision and data.draw(st.booleans()):
        core.compact(data.draw(st.integers(1, core.revision)))
    revision, compact, base_count, change_count, entries = core.dump_image()
    copy = MVCCStore()
    copy.load_image(entries, 0, base_count, change_count, compact, revision)
    assert observable(copy) == observable(core)


def test_dump_image_refuses_an_open_write_group():
    core = MVCCStore()
    core.begin()
    with pytest.raises(RuntimeError, match="write group is open"):
        core.dump_image()
