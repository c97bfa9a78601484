"""Tests for orchestra.api.registry."""

from __future__ import annotations

import attrs
import pytest

from orchestra.api import apps, autoscaling, batch, coordination, core
from orchestra.api.registry import ResourceType, by_kind, by_resource, resource_types

EXPECTED = {
    # plural: (api_version, kind, namespaced, short names, subresources)
    "namespaces": ("v1", "Namespace", False, ("ns",), ("status", "finalize")),
    "pods": ("v1", "Pod", True, ("po",), ("status", "binding", "log")),
    "nodes": ("v1", "Node", False, ("no",), ("status",)),
    "services": ("v1", "Service", True, ("svc",), ("status",)),
    "endpoints": ("v1", "Endpoints", True, ("ep",), ()),
    "events": ("v1", "Event", True, ("ev",), ()),
    "configmaps": ("v1", "ConfigMap", True, ("cm",), ()),
    "leases": ("coordination.k8s.io/v1", "Lease", True, (), ()),
    "deployments": ("apps/v1", "Deployment", True, ("deploy",), ("status", "scale")),
    "replicasets": ("apps/v1", "ReplicaSet", True, ("rs",), ("status", "scale")),
    "jobs": ("batch/v1", "Job", True, (), ("status",)),
    "cronjobs": ("batch/v1", "CronJob", True, ("cj",), ("status",)),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler", True, ("hpa",), ("status",)),
}


def test_served_resources() -> None:
    served = {
        rt.plural: (rt.api_version, rt.kind, rt.namespaced, rt.short_names, rt.subresources)
        for rt in resource_types()
    }
    assert served == EXPECTED


@pytest.mark.parametrize("rt", resource_types(), ids=lambda rt: rt.plural)
def test_lookups_agree(rt: ResourceType) -> None:
    assert by_kind(rt.api_version, rt.kind) is rt
    assert by_resource(rt.group, rt.version, rt.plural) is rt
    assert rt.singular == rt.kind.lower()
    assert rt.list_kind == rt.kind + "List"


def test_api_version_and_classes() -> None:
    assert by_kind("v1", "Pod").cls is core.Pod
    assert by_kind("v1", "Pod").group == ""
    assert by_kind("apps/v1", "Deployment").cls is apps.Deployment
    assert by_kind("batch/v1", "CronJob").cls is batch.CronJob
    assert by_kind("autoscaling/v2", "HorizontalPodAutoscaler").cls is autoscaling.HorizontalPodAutoscaler
    assert by_kind("coordination.k8s.io/v1", "Lease").cls is coordination.Lease
    assert by_resource("apps", "v1", "deployments").api_version == "apps/v1"


def test_unknown_lookups_return_none() -> None:
    assert by_kind("v1", "Deployment") is None
    assert by_kind("apps/v2", "Deployment") is None
    assert by_resource("", "v1", "deployments") is None
    assert by_resource("apps", "v1", "deploy") is None


def test_resource_type_is_frozen() -> None:
    rt = by_kind("v1", "Pod")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        rt.plural = "x"  # type: ignore[misc]
