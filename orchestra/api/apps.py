"""The ``apps/v1`` API group: Deployment and ReplicaSet."""

from __future__ import annotations

from orchestra.api._model import IntOrString, extra_field, field, model
from orchestra.api.core import PodTemplateSpec
from orchestra.api.meta import LabelSelectorSpec, ObjectMeta

__all__ = [
    "RollingUpdateDeployment",
    "DeploymentStrategy",
    "DeploymentSpec",
    "DeploymentCondition",
    "DeploymentStatus",
    "Deployment",
    "ReplicaSetSpec",
    "ReplicaSetCondition",
    "ReplicaSetStatus",
    "ReplicaSet",
]


@model
class RollingUpdateDeployment:
    """How far a rolling update may go below (``max_unavailable``) and above (``max_surge``) the replicas."""

    max_unavailable: IntOrString | None = field()
    max_surge: IntOrString | None = field()
    extra: dict = extra_field()


@model
class DeploymentStrategy:
    """How a Deployment replaces old pods: ``RollingUpdate`` or ``Recreate``."""

    type: str | None = field()
    rolling_update: RollingUpdateDeployment | None = field()
    extra: dict = extra_field()


@model
class DeploymentSpec:
    """The desired state of a Deployment."""

    replicas: int | None = field()
    selector: LabelSelectorSpec | None = field()
    template: PodTemplateSpec | None = field()
    strategy: DeploymentStrategy | None = field()
    min_ready_seconds: int | None = field()
    revision_history_limit: int | None = field()
    paused: bool | None = field()
    progress_deadline_seconds: int | None = field()
    extra: dict = extra_field()


@model
class DeploymentCondition:
    """One observed condition of a Deployment (Available, Progressing, ReplicaFailure)."""

    type: str | None = field()
    status: str | None = field()
    last_update_time: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class DeploymentStatus:
    """The observed state of a Deployment."""

    observed_generation: int | None = field()
    replicas: int | None = field()
    updated_replicas: int | None = field()
    ready_replicas: int | None = field()
    available_replicas: int | None = field()
    unavailable_replicas: int | None = field()
    terminating_replicas: int | None = field()
    conditions: list[DeploymentCondition] | None = field()
    collision_count: int | None = field()
    extra: dict = extra_field()


@model
class Deployment:
    """Declarative updates for ReplicaSets and their pods."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: DeploymentSpec | None = field()
    status: DeploymentStatus | None = field()
    extra: dict = extra_field()


@model
class ReplicaSetSpec:
    """The desired state of a ReplicaSet."""

    replicas: int | None = field()
    min_ready_seconds: int | None = field()
    selector: LabelSelectorSpec | None = field()
    template: PodTemplateSpec | None = field()
    extra: dict = extra_field()


@model
class ReplicaSetCondition:
    """One observed condition of a ReplicaSet."""

    type: str | None = field()
    status: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class ReplicaSetStatus:
    """The observed state of a ReplicaSet."""

    replicas: int | None = field()
    fully_labeled_replicas: int | None = field()
    ready_replicas: int | None = field()
    available_replicas: int | None = field()
    terminating_replicas: int | None = field()
    observed_generation: int | None = field()
    conditions: list[ReplicaSetCondition] | None = field()
    extra: dict = extra_field()


@model
class ReplicaSet:
    """Keeps a number of identical pods running."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: ReplicaSetSpec | None = field()
    status: ReplicaSetStatus | None = field()
    extra: dict = extra_field()
