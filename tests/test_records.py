"""Frozen records made and copied slot by slot: the same objects as the attrs constructors make."""

from __future__ import annotations

import attrs
import pytest

from orchestra import records
from orchestra.scheduler.podinfo import PodInfo
from orchestra.store.types import KeyValue

compiled = pytest.mark.skipif(records.SlotRecord is None, reason="the compiled extension (orchestra._ext.codec) is not built")


@attrs.frozen
class Point:
    x: int
    y: int
    label: str = ""


@attrs.frozen
class Noted:
    """A private field (its __init__ argument is ``note``) with a None default."""

    x: int
    _note: str | None = None


@attrs.frozen
class Checked:
    x: int = attrs.field(validator=attrs.validators.instance_of(int))


@attrs.frozen
class Converted:
    x: int = attrs.field(converter=int)


@attrs.frozen
class Hooked:
    x: int

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "x", self.x * 2)


@attrs.frozen(cache_hash=True)
class CachedHash:
    x: int


@attrs.frozen
class KeywordOnly:
    x: int = attrs.field(kw_only=True)


@attrs.frozen(slots=False)
class WithDict:
    x: int


@compiled
def test_a_made_record_is_what_the_constructor_makes_and_stays_frozen():
    make = records.maker(KeyValue)
    assert make is not KeyValue
    kv = make(b"/k", b"v", 2, 5, 3, 0)
    assert kv == KeyValue(b"/k", b"v", 2, 5, 3, 0) and hash(kv) == hash(KeyValue(b"/k", b"v", 2, 5, 3, 0))
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (b"/k", b"v", 2, 5, 3, 0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        kv.lease = 1
    with pytest.raises(TypeError, match="takes 6 field values, not 2"):
        make(b"/k", b"v")


@compiled
def test_a_replaced_record_is_what_attrs_evolve_makes_and_the_original_is_kept():
    point = Point(1, 2, "a")
    replace = records.replacer(Point)
    moved = replace(point, "y", 9)
    assert moved == attrs.evolve(point, y=9) and point == Point(1, 2, "a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        moved.x = 0
    with pytest.raises(AttributeError, match="no field 'z'"):
        replace(point, "z", 1)
    with pytest.raises(TypeError, match="expected a Point"):
        replace(KeyValue(b"/k", b"v", 1, 1, 1), "x", 1)


@compiled
def test_a_pod_info_with_a_newer_wire_dict_keeps_everything_else():
    raw = {"metadata": {"name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}]}}
    pod = PodInfo.from_dict(raw)
    newer = {**raw, "status": {"phase": "Running"}}
    updated = pod.with_raw(newer)
    assert updated.raw is newer and pod.raw is raw
    assert attrs.asdict(updated, recurse=False) == {**attrs.asdict(pod, recurse=False), "raw": newer}


@compiled
def test_trailing_fields_defaulting_to_none_may_be_left_out_and_private_fields_are_replaced_by_name():
    make, replace = records.maker(Noted), records.replacer(Noted)
    assert make is not Noted
    assert make(1) == Noted(1) and make(1, "n") == Noted(1, "n")
    assert replace(make(1), "_note", "m") == Noted(1, "m")
    with pytest.raises(TypeError, match="takes 1 to 2 field values, not 3"):
        make(1, "n", "extra")
    with pytest.raises(TypeError, match="takes 3 field values, not 2"):
        records.maker(Point)(1, 2)  # its last default is "", not None: every field is needed


@pytest.mark.parametrize("cls", [Checked, Converted, Hooked, CachedHash, KeywordOnly, WithDict])
def test_classes_whose_init_does_more_than_store_keep_their_own_constructor(cls):
    assert records.maker(cls) is cls
    obj = cls(x=3)
    assert records.replacer(cls)(obj, "x", 4) == attrs.evolve(obj, x=4)


def test_without_the_extension_the_attrs_constructors_serve(monkeypatch):
    monkeypatch.setattr(records, "SlotRecord", None)
    assert records.maker(Point) is Point
    assert records.replacer(Point)(Point(1, 2), "label", "b") == Point(1, 2, "b")
    assert records.replacer(Noted)(Noted(1), "_note", "m") == Noted(1, "m")  # evolve takes the argument name


@attrs.frozen
class Derived:
    x: int
    doubled: int = attrs.field(init=False, default=attrs.Factory(lambda self: 2 * self.x, takes_self=True))


@compiled
def test_a_slot_maker_fills_every_slot_a_derived_field_included():
    make = records.slot_maker(Derived, ("x", "doubled"))
    made = make(3, 6)
    assert made == Derived(3) and made.doubled == 6 and hash(made) == hash(Derived(3))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.x = 1
    with pytest.raises(TypeError, match="has the slots"):
        records.slot_maker(Derived, ("x",))
