"""Kernel images: capture through public reads, restore by replay, exactly the same kernel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra._ext.kvstore import MVCCStore
from orchestra.plugins.stores import kernel_image
from orchestra.plugins.stores.snapshot import SnapshotImage

def observable(core: MVCCStore):
    """Every read the kernel still serves: each revision's full range, and all events."""
    compact = core.compact_revision
    ranges = [core.range(b"\0", b"\0", r, 0, False, False) for r in range(max(compact, 1), core.revision + 1)]
    events = core.events(compact + 1, prev_kv=True) if core.revision > compact else []
    return core.revision, compact, ranges, events


def image_of(core: MVCCStore) -> SnapshotImage:
    state = kernel_image.capture(core)
    assert state is not None
    return SnapshotImage(7, state.revision, state.compact_revision, [], state.base, state.changes)


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
