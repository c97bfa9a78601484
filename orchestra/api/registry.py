"""Which kinds the API serves: group, version, plural, scope, short names, subresources.

The table mirrors what a Kubernetes API server reports in discovery for the same kinds.
"""

from __future__ import annotations

import attrs

from orchestra.api import apps, autoscaling, batch, coordination, core

__all__ = ["ResourceType", "resource_types", "resource_path", "by_kind", "by_resource"]


@attrs.frozen(eq=False)
class ResourceType:
    """One served resource: ``pods`` in ``v1``, ``deployments`` in ``apps/v1``…

    The registry holds the only instance of each, so equality and hashing are by identity
    (no Python-level ``__hash__`` on every lookup keyed by a resource type).
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    cls: type
    short_names: tuple[str, ...] = ()
    list_kind: str = ""
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``version`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version


def resource_path(rt: ResourceType, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """The REST path of a collection, an object or a subresource."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    parts = [base]
    if rt.namespaced and namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(rt.plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    cls: type,
    short_names: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        cls=cls,
        short_names=short_names,
        list_kind=kind + "List",
        subresources=subresources,
    )


_RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", False, core.Namespace, ("ns",), ("status", "finalize")),
    _rt("", "v1", "Pod", "pods", True, core.Pod, ("po",), ("status", "binding", "log")),
    _rt("", "v1", "Node", "nodes", False, core.Node, ("no",), ("status",)),
    _rt("", "v1", "Service", "services", True, core.Service, ("svc",), ("status",)),
    _rt("", "v1", "Endpoints", "endpoints", True, core.Endpoints, ("ep",)),
    _rt("", "v1", "Event", "events", True, core.Event, ("ev",)),
    _rt("", "v1", "ConfigMap", "configmaps", True, core.ConfigMap, ("cm",)),
    _rt("coordination.k8s.io", "v1", "Lease", "leases", True, coordination.Lease),
    _rt("apps", "v1", "Deployment", "deployments", True, apps.Deployment, ("deploy",), ("status", "scale")),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, apps.ReplicaSet, ("rs",), ("status", "scale")),
    _rt("batch", "v1", "Job", "jobs", True, batch.Job, (), ("status",)),
    _rt("batch", "v1", "CronJob", "cronjobs", True, batch.CronJob, ("cj",), ("status",)),
    _rt(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        autoscaling.HorizontalPodAutoscaler,
        ("hpa",),
        ("status",),
    ),
)

_BY_KIND = {(rt.api_version, rt.kind): rt for rt in _RESOURCE_TYPES}
_BY_RESOURCE = {(rt.group, rt.version, rt.plural): rt for rt in _RESOURCE_TYPES}


def resource_types() -> tuple[ResourceType, ...]:
    """Every served resource type, in a stable order."""
    return _RESOURCE_TYPES


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource type for ``apiVersion`` + ``kind`` (``"apps/v1"``, ``"Deployment"``), or None."""
    return _BY_KIND.get((api_version, kind))


def by_resource(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource type for a REST path's group, version and plural, or None."""
    return _BY_RESOURCE.get((group, version, plural))
