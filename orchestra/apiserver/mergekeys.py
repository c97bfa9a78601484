"""Patch strategies and merge keys of the built-in kinds, plus the field schema they hang on.

Kubernetes declares, on its Go struct fields, how a strategic merge patch treats each list
or struct (``patchStrategy:"merge" patchMergeKey:"name"``). :data:`PATCH_META` is that
declaration for Orchestra's model, keyed by (model class name, wire field name); it is the
single source for :mod:`orchestra.apiserver.patch` and for the
``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key`` extensions in
:mod:`orchestra.apiserver.openapi`. Fields missing from the table have no strategy: a
strategic merge patch replaces such lists whole and merges such objects key by key.

:func:`fields_of` describes every wire field of a model class (its shape, scalar type,
nested class and patch metadata). It is computed once per class from the attrs fields and
``typing.get_type_hints`` and cached. :func:`plain_shape` reads it to tell which wire values
the model would give back unchanged.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

import attrs

from orchestra.api._model import wire_name

__all__ = [
    "PatchMeta",
    "PATCH_META",
    "FieldInfo",
    "patch_meta",
    "fields_of",
    "field_info",
    "plain_shape",
]


@attrs.frozen
class PatchMeta:
    """How a strategic merge patch treats one field.

    ``strategy`` holds the parts of Kubernetes' ``patchStrategy`` tag (``("merge",)``,
    ``("merge", "retainKeys")``, ``("retainKeys",)``, ``("replace",)``); ``merge_key`` is
    ``patchMergeKey`` for lists of objects merged by key, ``None`` for primitive lists.
    """

    strategy: tuple[str, ...]
    merge_key: str | None = None

    @property
    def merges_lists(self) -> bool:
        """True when a list field is merged element by element rather than replaced."""
        return "merge" in self.strategy

    @property
    def tag(self) -> str:
        """The strategy as Kubernetes writes it: ``"merge,retainKeys"``."""
        return ",".join(self.strategy)


_MERGE = ("merge",)
_MERGE_RETAIN = ("merge", "retainKeys")

PATCH_META: dict[tuple[str, str], PatchMeta] = {
    # meta/v1 ObjectMeta
    ("ObjectMeta", "ownerReferences"): PatchMeta(_MERGE, "uid"),
    ("ObjectMeta", "finalizers"): PatchMeta(_MERGE),
    # core/v1 PodSpec
    ("PodSpec", "volumes"): PatchMeta(_MERGE_RETAIN, "name"),
    ("PodSpec", "initContainers"): PatchMeta(_MERGE, "name"),
    ("PodSpec", "containers"): PatchMeta(_MERGE, "name"),
    ("PodSpec", "ephemeralContainers"): PatchMeta(_MERGE, "name"),
    ("PodSpec", "imagePullSecrets"): PatchMeta(_MERGE, "name"),
    ("PodSpec", "hostAliases"): PatchMeta(_MERGE, "ip"),
    ("PodSpec", "topologySpreadConstraints"): PatchMeta(_MERGE, "topologyKey"),
    ("PodSpec", "schedulingGates"): PatchMeta(_MERGE, "name"),
    ("PodSpec", "resourceClaims"): PatchMeta(_MERGE_RETAIN, "name"),
    # core/v1 Container (and EphemeralContainer, which shares its fields)
    ("Container", "ports"): PatchMeta(_MERGE, "containerPort"),
    ("Container", "env"): PatchMeta(_MERGE, "name"),
    ("Container", "volumeMounts"): PatchMeta(_MERGE, "mountPath"),
    ("Container", "volumeDevices"): PatchMeta(_MERGE, "devicePath"),
    # core/v1 statuses
    ("PodStatus", "conditions"): PatchMeta(_MERGE, "type"),
    ("PodStatus", "podIPs"): PatchMeta(_MERGE, "ip"),
    ("PodStatus", "hostIPs"): PatchMeta(_MERGE, "ip"),
    ("PodStatus", "resourceClaimStatuses"): PatchMeta(_MERGE_RETAIN, "name"),
    ("ContainerStatus", "allocatedResourcesStatus"): PatchMeta(_MERGE, "name"),
    ("NodeSpec", "podCIDRs"): PatchMeta(_MERGE),
    ("NodeStatus", "conditions"): PatchMeta(_MERGE, "type"),
    ("NodeStatus", "addresses"): PatchMeta(_MERGE, "type"),
    ("NamespaceStatus", "conditions"): PatchMeta(_MERGE, "type"),
    ("ServiceSpec", "ports"): PatchMeta(_MERGE, "port"),
    ("ServiceStatus", "conditions"): PatchMeta(_MERGE, "type"),
    # apps/v1
    ("DeploymentSpec", "strategy"): PatchMeta(("retainKeys",)),
    ("DeploymentStatus", "conditions"): PatchMeta(_MERGE, "type"),
    ("ReplicaSetStatus", "conditions"): PatchMeta(_MERGE, "type"),
    # batch/v1
    ("JobStatus", "conditions"): PatchMeta(_MERGE, "type"),
    # autoscaling/v2
    ("HorizontalPodAutoscalerStatus", "conditions"): PatchMeta(_MERGE, "type"),
}
"""(model class name, wire field) → patch metadata, as Kubernetes' struct tags declare it.

Lists Kubernetes leaves without a strategy (``tolerations``, ``taints``, ``envFrom``,
Endpoints ``subsets``, CronJob ``status.active``, HPA ``metrics``…) are absent: a strategic
merge patch replaces them whole.
"""


def patch_meta(class_name: str, wire_field: str) -> PatchMeta | None:
    """The patch metadata of ``class_name.wire_field``, or None when it has no strategy."""
    return PATCH_META.get((class_name, wire_field))


# --------------------------------------------------------------------------- field schema

@attrs.frozen
class FieldInfo:
    """One wire field of a model class.

    ``shape`` is ``"scalar"``, ``"object"`` (a nested model class, ``cls``), ``"list"`` or
    ``"map"`` (whose items are ``cls`` when they are model objects, else the scalar
    ``scalar``); ``scalar`` is one of ``string``, ``integer``, ``boolean``, ``number``,
    ``int-or-string``, ``quantity``, ``any`` (free-form JSON), or ``None`` for objects.
    """

    attr: str
    wire: str
    shape: str
    scalar: str | None
    cls: type | None
    patch: PatchMeta | None
    item_shape: str | None = None


_FIELDS: dict[type, dict[str, FieldInfo]] = {}


def _scalar_name(hint: Any) -> str | None:
    """The scalar type name of a non-container hint, or None for model classes."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = frozenset(a for a in typing.get_args(hint) if a is not type(None))
        if len(members) == 1:
            return _scalar_name(next(iter(members)))
        if members == {int, str}:
            return "int-or-string"
        if members == {str, int, float}:
            return "quantity"
        return "any"
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(hint, "any")


def _strip_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = tuple(a for a in typing.get_args(hint) if a is not type(None))
        if len(members) == 1:
            return members[0]
    return hint


def _describe(attr: str, wire: str, hint: Any, meta: PatchMeta | None) -> FieldInfo:
    hint = _strip_optional(hint)
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        item = _strip_optional(typing.get_args(hint)[-1])
        shape = "list" if origin is list else "map"
        if attrs.has(item):
            return FieldInfo(attr, wire, shape, None, item, meta, "object")
        item_origin = typing.get_origin(item)
        if item_origin in (list, dict) or item is dict:
            return FieldInfo(attr, wire, shape, "any", None, meta, "any")
        return FieldInfo(attr, wire, shape, _scalar_name(item), None, meta, "scalar")
    if hint is dict:
        return FieldInfo(attr, wire, "map", "any", None, meta, "any")
    if attrs.has(hint):
        return FieldInfo(attr, wire, "object", None, hint, meta)
    return FieldInfo(attr, wire, "scalar", _scalar_name(hint), None, meta)


def fields_of(cls: type) -> dict[str, FieldInfo]:
    """Every wire field of the model class ``cls`` (except ``extra``), by wire name; cached."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]), localns={})
    table: dict[str, FieldInfo] = {}
    for attribute in attrs.fields(cls):
        if attribute.name == "extra":
            continue
        wire = wire_name(attribute)
        table[wire] = _describe(attribute.name, wire, hints[attribute.name], patch_meta(cls.__name__, wire))
    _FIELDS[cls] = table
    return table


def field_info(cls: type | None, wire_field: str) -> FieldInfo | None:
    """The description of ``cls.wire_field``; None when ``cls`` is None or lacks the field."""
    if cls is None:
        return None
    return fields_of(cls).get(wire_field)


#: The Python type of each scalar kind a plain value has exactly.
_EXACT_TYPES = {"string": str, "integer": int, "boolean": bool}
#: :func:`plain_shape` of each model class asked for.
_PLAIN_SHAPES: dict[type, dict[str, Any]] = {}


def plain_shape(cls: type) -> dict[str, Any]:
    """The shape (for ``matches_shape`` of :mod:`orchestra.api.validation`) of the wire values of
    model ``cls`` that decoding and encoding give back unchanged, but for the order of keys.

    It names every field that is a string, an integer or a boolean (each value of exactly that
    type: no null, no conversion), a nested model, or a list of these. Fields of other kinds
    (int-or-string, quantities, numbers, maps, free-form values) and unknown keys are not in
    it, so a value that has them does not match: it must be decoded.
    """
    shape = _PLAIN_SHAPES.get(cls)
    if shape is None:
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} is not a model class")
        shape = _PLAIN_SHAPES[cls] = {}  # filled after: a model that holds itself refers to this dict
        try:
            for wire, info in fields_of(cls).items():
                want = _plain_field(info)
                if want is not None:
                    shape[wire] = want
        except BaseException:
            del _PLAIN_SHAPES[cls]  # no half-made shape is kept
            raise
    return shape


def _plain_field(info: FieldInfo) -> Any:
    """What :func:`plain_shape` gives one field; None when its values must be decoded."""
    if info.shape == "scalar":
        return _EXACT_TYPES.get(info.scalar or "")
    if info.shape == "object":
        return plain_shape(info.cls)  # type: ignore[arg-type]
    if info.shape == "list":
        if info.item_shape == "object":
            return [plain_shape(info.cls)]  # type: ignore[arg-type]
        item = _EXACT_TYPES.get(info.scalar or "") if info.item_shape == "scalar" else None
        return None if item is None else [item]
    return None
