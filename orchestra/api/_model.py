"""Building blocks shared by the resource model modules.

Every model class is an attrs class whose fields default to ``None`` ("absent on the
wire") plus one ``extra`` dict for wire fields the model does not know. The wire
(camelCase JSON) name of a field is derived from its snake_case attribute name unless
the field carries an explicit ``wire`` name in its metadata (``podIP``, ``hostIP``…).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

__all__ = ["IntOrString", "QuantityValue", "model", "field", "extra_field", "wire_name"]

IntOrString = int | str
"""A Kubernetes ``IntOrString``: ``targetPort``, ``maxSurge``, probe ports."""

QuantityValue = str | int | float
"""A resource quantity as written: kept verbatim, parsed by validation."""

_T = TypeVar("_T", bound=type)


def model(cls: _T) -> _T:
    """Make ``cls`` a mutable, slotted, keyword-only attrs model class."""
    return attrs.define(cls, slots=True, kw_only=True)


def field(wire: str | None = None) -> Any:
    """An optional model field (default ``None``); ``wire`` overrides the JSON name."""
    return attrs.field(default=None, metadata={"wire": wire} if wire else {})


def extra_field() -> Any:
    """The ``extra`` field: unknown wire fields, kept in order, left out of ``repr``."""
    return attrs.field(factory=dict, repr=False)


def wire_name(attribute: attrs.Attribute) -> str:
    """The JSON name of a model attribute: explicit, or the camelCase of its name."""
    explicit = attribute.metadata.get("wire")
    if explicit:
        return explicit
    head, *rest = attribute.name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
