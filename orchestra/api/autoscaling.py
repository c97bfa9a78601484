"""The ``autoscaling`` API group: HorizontalPodAutoscaler (``v2``) and Scale (``v1``)."""

from __future__ import annotations

from orchestra.api._model import QuantityValue, extra_field, field, model
from orchestra.api.meta import LabelSelectorSpec, ObjectMeta

__all__ = [
    "CrossVersionObjectReference",
    "MetricIdentifier",
    "MetricTarget",
    "MetricValueStatus",
    "ObjectMetricSource",
    "PodsMetricSource",
    "ResourceMetricSource",
    "ContainerResourceMetricSource",
    "ExternalMetricSource",
    "MetricSpec",
    "ObjectMetricStatus",
    "PodsMetricStatus",
    "ResourceMetricStatus",
    "ContainerResourceMetricStatus",
    "ExternalMetricStatus",
    "MetricStatus",
    "HPAScalingPolicy",
    "HPAScalingRules",
    "HorizontalPodAutoscalerBehavior",
    "HorizontalPodAutoscalerSpec",
    "HorizontalPodAutoscalerCondition",
    "HorizontalPodAutoscalerStatus",
    "HorizontalPodAutoscaler",
    "ScaleSpec",
    "ScaleStatus",
    "Scale",
]


@model
class CrossVersionObjectReference:
    """The object an autoscaler scales: kind, name, apiVersion."""

    kind: str | None = field()
    name: str | None = field()
    api_version: str | None = field()
    extra: dict = extra_field()


@model
class MetricIdentifier:
    """A metric's name and optional label selector."""

    name: str | None = field()
    selector: LabelSelectorSpec | None = field()
    extra: dict = extra_field()


@model
class MetricTarget:
    """A metric's target: Utilization, Value or AverageValue."""

    type: str | None = field()
    value: QuantityValue | None = field()
    average_value: QuantityValue | None = field()
    average_utilization: int | None = field()
    extra: dict = extra_field()


@model
class MetricValueStatus:
    """A metric's current value."""

    value: QuantityValue | None = field()
    average_value: QuantityValue | None = field()
    average_utilization: int | None = field()
    extra: dict = extra_field()


@model
class ObjectMetricSource:
    """A metric describing one Kubernetes object."""

    described_object: CrossVersionObjectReference | None = field()
    target: MetricTarget | None = field()
    metric: MetricIdentifier | None = field()
    extra: dict = extra_field()


@model
class PodsMetricSource:
    """A metric averaged over the target's pods."""

    metric: MetricIdentifier | None = field()
    target: MetricTarget | None = field()
    extra: dict = extra_field()


@model
class ResourceMetricSource:
    """A resource (cpu, memory) metric of the target's pods."""

    name: str | None = field()
    target: MetricTarget | None = field()
    extra: dict = extra_field()


@model
class ContainerResourceMetricSource:
    """A resource metric of one container of the target's pods."""

    name: str | None = field()
    target: MetricTarget | None = field()
    container: str | None = field()
    extra: dict = extra_field()


@model
class ExternalMetricSource:
    """A metric from outside the cluster."""

    metric: MetricIdentifier | None = field()
    target: MetricTarget | None = field()
    extra: dict = extra_field()


@model
class MetricSpec:
    """One metric to scale on; ``type`` says which source is set."""

    type: str | None = field()
    object: ObjectMetricSource | None = field()
    pods: PodsMetricSource | None = field()
    resource: ResourceMetricSource | None = field()
    container_resource: ContainerResourceMetricSource | None = field()
    external: ExternalMetricSource | None = field()
    extra: dict = extra_field()


@model
class ObjectMetricStatus:
    """Current value of an object metric."""

    metric: MetricIdentifier | None = field()
    current: MetricValueStatus | None = field()
    described_object: CrossVersionObjectReference | None = field()
    extra: dict = extra_field()


@model
class PodsMetricStatus:
    """Current value of a pods metric."""

    metric: MetricIdentifier | None = field()
    current: MetricValueStatus | None = field()
    extra: dict = extra_field()


@model
class ResourceMetricStatus:
    """Current value of a resource metric."""

    name: str | None = field()
    current: MetricValueStatus | None = field()
    extra: dict = extra_field()


@model
class ContainerResourceMetricStatus:
    """Current value of a container resource metric."""

    name: str | None = field()
    current: MetricValueStatus | None = field()
    container: str | None = field()
    extra: dict = extra_field()


@model
class ExternalMetricStatus:
    """Current value of an external metric."""

    metric: MetricIdentifier | None = field()
    current: MetricValueStatus | None = field()
    extra: dict = extra_field()


@model
class MetricStatus:
    """The current value of one metric; ``type`` says which is set."""

    type: str | None = field()
    object: ObjectMetricStatus | None = field()
    pods: PodsMetricStatus | None = field()
    resource: ResourceMetricStatus | None = field()
    container_resource: ContainerResourceMetricStatus | None = field()
    external: ExternalMetricStatus | None = field()
    extra: dict = extra_field()


@model
class HPAScalingPolicy:
    """One scaling policy: change by ``value`` Pods or Percent per ``period_seconds``."""

    type: str | None = field()
    value: int | None = field()
    period_seconds: int | None = field()
    extra: dict = extra_field()


@model
class HPAScalingRules:
    """Scaling rules for one direction."""

    stabilization_window_seconds: int | None = field()
    select_policy: str | None = field()
    policies: list[HPAScalingPolicy] | None = field()
    tolerance: QuantityValue | None = field()
    extra: dict = extra_field()


@model
class HorizontalPodAutoscalerBehavior:
    """Scale-up and scale-down rules."""

    scale_up: HPAScalingRules | None = field()
    scale_down: HPAScalingRules | None = field()
    extra: dict = extra_field()


@model
class HorizontalPodAutoscalerSpec:
    """What an autoscaler scales, between which bounds, on which metrics."""

    scale_target_ref: CrossVersionObjectReference | None = field()
    min_replicas: int | None = field()
    max_replicas: int | None = field()
    metrics: list[MetricSpec] | None = field()
    behavior: HorizontalPodAutoscalerBehavior | None = field()
    extra: dict = extra_field()


@model
class HorizontalPodAutoscalerCondition:
    """One observed condition of an autoscaler (AbleToScale, ScalingActive, ScalingLimited)."""

    type: str | None = field()
    status: str | None = field()
    last_transition_time: str | None = field()
    reason: str | None = field()
    message: str | None = field()
    extra: dict = extra_field()


@model
class HorizontalPodAutoscalerStatus:
    """The observed state of an autoscaler."""

    observed_generation: int | None = field()
    last_scale_time: str | None = field()
    current_replicas: int | None = field()
    desired_replicas: int | None = field()
    current_metrics: list[MetricStatus] | None = field()
    conditions: list[HorizontalPodAutoscalerCondition] | None = field()
    extra: dict = extra_field()


@model
class HorizontalPodAutoscaler:
    """Scales a workload's replicas to keep metrics near their targets."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: HorizontalPodAutoscalerSpec | None = field()
    status: HorizontalPodAutoscalerStatus | None = field()
    extra: dict = extra_field()


@model
class ScaleSpec:
    """The desired replicas of a scalable resource."""

    replicas: int | None = field()
    extra: dict = extra_field()


@model
class ScaleStatus:
    """The current replicas of a scalable resource and its pod selector as a string."""

    replicas: int | None = field()
    selector: str | None = field()
    extra: dict = extra_field()


@model
class Scale:
    """The ``scale`` subresource (``autoscaling/v1``)."""

    api_version: str | None = field()
    kind: str | None = field()
    metadata: ObjectMeta | None = field()
    spec: ScaleSpec | None = field()
    status: ScaleStatus | None = field()
    extra: dict = extra_field()
