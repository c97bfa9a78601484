"""Tests for the model conventions shared by every class in the API group modules."""

from __future__ import annotations

import re

import attrs
import pytest

import orchestra.api as api
from orchestra.api import apps, autoscaling, batch, codec, coordination, core, meta
from orchestra.api._model import wire_name
from orchestra.api.registry import resource_types

MODULES = [meta, core, apps, batch, autoscaling, coordination]
CLASSES = [getattr(m, name) for m in MODULES for name in m.__all__]
CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")


def test_every_module_exports_only_model_classes() -> None:
    assert CLASSES
    for cls in CLASSES:
        assert attrs.has(cls), cls


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_model_conventions(cls: type) -> None:
    assert cls.__doc__ and cls.__doc__.strip()
    assert "__slots__" in cls.__dict__
    fields = attrs.fields(cls)
    assert fields[-1].name == "extra"
    assert fields[-1].repr is False
    instance = cls()
    assert instance.extra == {}
    wires = set()
    for field in fields[:-1]:
        assert field.default is None, f"{cls.__name__}.{field.name}"
        assert field.kw_only
        wire = wire_name(field)
        assert CAMEL.fullmatch(wire) or wire == "$ref", wire
        assert wire not in wires
        wires.add(wire)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_has_a_codec_table(cls: type) -> None:
    table = codec._codec(cls)
    assert set(table.by_wire) == {wire_name(f) for f in attrs.fields(cls)[:-1]}
    assert codec.encode(cls()) == {}


def test_wire_names() -> None:
    by_attr = {f.name: wire_name(f) for f in attrs.fields(core.PodStatus)}
    assert by_attr["pod_ip"] == "podIP"
    assert by_attr["host_ips"] == "hostIPs"
    assert by_attr["nominated_node_name"] == "nominatedNodeName"
    assert {f.name: wire_name(f) for f in attrs.fields(meta.ListMeta)}["continue_"] == "continue"
    assert {f.name: wire_name(f) for f in attrs.fields(core.NodeSpec)}["pod_cidr"] == "podCIDR"
    assert {f.name: wire_name(f) for f in attrs.fields(core.PodSpec)}[
        "termination_grace_period_seconds"
    ] == "terminationGracePeriodSeconds"


def test_top_level_kinds_carry_type_and_object_meta() -> None:
    for rt in resource_types():
        names = [f.name for f in attrs.fields(rt.cls)]
        assert names[:3] == ["api_version", "kind", "metadata"], rt.kind
        assert rt.cls.__name__ == rt.kind


def test_models_are_mutable_and_compare_as_data() -> None:
    pod = core.Pod(metadata=meta.ObjectMeta(name="a"))
    pod.status = core.PodStatus(phase="Running")
    assert pod.status.phase == "Running"
    assert pod == core.Pod(metadata=meta.ObjectMeta(name="a"), status=core.PodStatus(phase="Running"))
    assert pod != core.Pod(metadata=meta.ObjectMeta(name="b"), status=core.PodStatus(phase="Running"))
    with pytest.raises(AttributeError):
        pod.no_such_field = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        core.Pod("v1")  # type: ignore[misc]


def test_public_names_are_pinned() -> None:
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        assert hasattr(api, name), name
    for name in (
        "Pod",
        "Deployment",
        "decode",
        "encode",
        "loads",
        "load_documents",
        "dumps_json",
        "dumps_yaml",
        "validate",
        "validate_or_raise",
        "apply_defaults",
        "by_kind",
        "by_resource",
        "resource_types",
        "FieldError",
        "ValidationError",
        "DecodeError",
        "Quantity",
        "LabelSelector",
        "FieldSelector",
        "LabelSelectorSpec",
        "HorizontalPodAutoscaler",
        "Lease",
        "Document",
    ):
        assert name in api.__all__, name
