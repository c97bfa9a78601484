"""Object metadata and the shared ``meta/v1`` types: ObjectMeta, ListMeta, Status, Condition…"""

from __future__ import annotations

from typing import Any

from orchestra.api._model import extra_field, field, model

__all__ = [
    "OwnerReference",
    "ManagedFieldsEntry",
    "ObjectMeta",
    "LabelSelectorRequirement",
    "LabelSelectorSpec",
    "ListMeta",
    "StatusCause",
    "StatusDetails",
    "Status",
    "Condition",
]


@model
class OwnerReference:
    """Points from a dependent object to the object that owns it."""

    api_version: str | None = field()
    kind: str | None = field()
    name: str | None = field()
    uid: str | None = field()
    controller: bool | None = field()
    block_owner_deletion: bool | None = field()
    extra: dict = extra_field()


@model
class ManagedFieldsEntry:
    """One server-side-apply manager's claim on a set of fields."""

    manager: str | None = field()
    operation: str | None = field()
    api_version: str | None = field()
    time: str | None = field()
    fields_type: str | None = field()
    fields_v1: dict[str, Any] | None = field(wire="fieldsV1")
    subresource: str | None = field()
    extra: dict = extra_field()


@model
class ObjectMeta:
    """Metadata every persisted object carries: name, namespace, labels, owners…"""

    name: str | None = field()
    generate_name: str | None = field()
    namespace: str | None = field()
    self_link: str | None = field()
    uid: str | None = field()
    resource_version: str | None = field()
    generation: int | None = field()
    creation_timestamp: str | None = field()
    deletion_timestamp: str | None = field()
    deletion_grace_period_seconds: int | None = field()
    labels: dict[str, str] | None = field()
    annotations: dict[str, str] | None = field()
    owner_references: list[OwnerReference] | None = field()
    finalizers: list[str] | None = field()
    managed_fields: list[ManagedFieldsEntry] | None = field()
    extra: dict = extra_field()


@model
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry: ``key`` ``operator`` (In, NotIn, Exists, DoesNotExist) ``values``."""

    key: str | None = field()
    operator: str | None = field()
    values: list[str] | None = field()
    extra: dict = extra_field()


@model
class LabelSelectorSpec:
    """A label selector as data (Kubernetes' ``LabelSelector``); matching lives in ``selectors``."""

    match_labels: dict[str, str] | None = field()
    match_expressions: list[LabelSelectorRequirement] | None = field()
    extra: dict = extra_field()


@model
class ListMeta:
    """Metadata of a list response: resource version and continue token."""

    self_link: str | None = field()
    resource_version: str | None = field()
    continue_: str | None = field(wire="continue")
    remaining_item_count: int | None = field()
    extra: dict = extra_field()


@model
class StatusCause:
    """One cause of a failed request, usually one invalid field."""

    reason: str | None = field()
    message: str | None = field()
    field: str | None = field(wire="field")
    extra: dict = extra_field()


@model
class StatusDetails:
    """Which object a Status is about, and the causes of the failure."""

    name: str | None = field()
    group: str | None = field()
    kind: str | None = field()
    uid: str | None = field()
    causes: list[StatusCause] | None = field()
    retry_after_seconds: int | None = field()
    extra: dict = extra_field()


@model
class Status:
    """The result of an API call that returns no object, notably every error."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ListMeta | None = field()
    status: str | None = field()
    message: str | None = field()
    reason: str | None = field()
    details: StatusDetails | None = field()
    code: int | None = field()
    extra: dict = extra_field()


@model
class Condition:
    """A standard ``metav1.Condition`` (type, status True/False/Unknown, reason, message)."""

    type: str | None = field()
    status: str | None = field()
    observed_generation: int | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()
