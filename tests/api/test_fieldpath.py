"""Tests for orchestra.api.fieldpath."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.api import fieldpath

POD = {
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "labels": {"app": "web", "a.b/c": "slash"},
        "annotations": {"a.b/c": "note"},
    },
    "spec": {
        "nodeName": "node-1",
        "unschedulable": False,
        "containers": [{"name": "main", "image": "busybox"}, {"name": "side", "image": "nginx"}],
    },
    "status": {"phase": "Running"},
    "involvedObject": {"kind": "Pod"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-0"),
        ("spec.nodeName", "node-1"),
        ("status.phase", "Running"),
        ("involvedObject.kind", "Pod"),
        ("metadata.labels['app']", "web"),
        ('metadata.labels["app"]', "web"),
        ("metadata.annotations['a.b/c']", "note"),
        ("spec.containers[0].image", "busybox"),
        ("spec.containers[1].name", "side"),
        ("spec.unschedulable", False),
        ("metadata.labels", {"app": "web", "a.b/c": "slash"}),
        # Absent anywhere along the way: None.
        ("metadata.uid", None),
        ("metadata.labels['missing']", None),
        ("spec.containers[5].image", None),
        ("spec.containers.image", None),
        ("metadata[0]", None),
        ("status.phase.more", None),
        ("nothing.at.all", None),
    ],
)
def test_get_field(path: str, expected: object) -> None:
    assert fieldpath.get_field(POD, path) == expected


@pytest.mark.parametrize(
    "path",
    ["", ".a", "a.", "a..b", "a[", "a[x]", "a['x]", "a[-1]", "a b", "a.[0]", "[0]", "a]", "a['x']b"],
)
def test_get_field_rejects_malformed_paths(path: str) -> None:
    with pytest.raises(ValueError, match="invalid field path"):
        fieldpath.get_field(POD, path)


def test_parse_steps() -> None:
    assert fieldpath.parse("metadata.labels['app']") == ("metadata", "labels", "app")
    assert fieldpath.parse("spec.containers[0].image") == ("spec", "containers", 0, "image")
    assert fieldpath.parse("a[0][1]") == ("a", 0, 1)


def test_path_builders() -> None:
    assert fieldpath.child("spec", "replicas") == "spec.replicas"
    assert fieldpath.child("", "metadata") == "metadata"
    assert fieldpath.index("spec.containers", 0) == "spec.containers[0]"
    assert fieldpath.key("data", "a.b") == "data[a.b]"
    assert fieldpath.child(fieldpath.index("spec.containers", 2), "ports") == "spec.containers[2].ports"


_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
_keys = st.text(alphabet=st.characters(blacklist_characters="'", blacklist_categories=("Cs",)), max_size=10)


@given(_names, _names, _keys, st.integers(0, 5))
def test_get_field_finds_what_was_put(a: str, b: str, k: str, i: int) -> None:
    items: list[object] = [None] * i + [{b: {k: "found"}}]
    obj = {a: items}
    assert fieldpath.get_field(obj, f"{a}[{i}].{b}['{k}']") == "found"
