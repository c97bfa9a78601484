"""Discovery documents, all derived from :mod:`orchestra.api.registry`.

``/version``, ``/api`` (APIVersions), ``/apis`` (APIGroupList), ``/apis/{group}`` (APIGroup),
``/api/v1`` and ``/apis/{group}/{version}`` (APIResourceList), and aggregated discovery
(``apidiscovery.k8s.io/v2`` ``APIGroupDiscoveryList``) for ``/api`` and ``/apis`` when the client
asks for it, as kubectl does first.
"""

from __future__ import annotations

import platform
from typing import Any

from orchestra._version import __version__
from orchestra.api.registry import ResourceType, resource_types

__all__ = [
    "KUBERNETES_VERSION",
    "version_info",
    "api_versions",
    "api_group_list",
    "api_group",
    "api_resource_list",
    "aggregated_discovery",
    "root_paths",
    "AGGREGATED_CONTENT_TYPE",
    "RESOURCE_VERBS",
    "CATEGORY_ALL",
]

#: The Kubernetes API version Orchestra speaks; gitVersion = v{this}-orchestra.{orchestra version}.
KUBERNETES_VERSION = (1, 32, 0)
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
RESOURCE_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
#: Resources in the ``all`` category, as Kubernetes puts them there.
CATEGORY_ALL = frozenset(
    {"pods", "services", "deployments", "replicasets", "jobs", "cronjobs", "horizontalpodautoscalers"}
)
#: subresource → (verbs, (group, version, kind) of its body, or None for the parent's kind).
_SUBRESOURCES: dict[str, tuple[tuple[str, ...], tuple[str, str, str] | None]] = {
    "status": (("get", "patch", "update"), None),
    "scale": (("get", "patch", "update"), ("autoscaling", "v1", "Scale")),
    "binding": (("create",), ("", "v1", "Binding")),
    "log": (("get",), ("", "v1", "Pod")),
    "finalize": (("update",), None),
}


def version_info() -> dict[str, Any]:
    """The ``/version`` document; ``gitVersion`` is a semantic version kubectl accepts."""
    major, minor, patch = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}-orchestra.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine().lower()}",
    }


def _group_versions() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rt in resource_types():
        versions = groups.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
    return groups


def api_versions(server_address: str = "") -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": _group_versions().get("", ["v1"]),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    """``/apis``: every named group."""
    groups = [_group_doc(g, vs) for g, vs in _group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    """``/apis/{group}``, or None for an unknown group."""
    versions = _group_versions().get(group)
    if not group or versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(RESOURCE_VERBS),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.plural in CATEGORY_ALL:
        entry["categories"] = ["all"]
    return entry


def _subresource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    entries = []
    for sub in rt.subresources:
        verbs, gvk = _SUBRESOURCES[sub]
        entry: dict[str, Any] = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": gvk[2] if gvk else rt.kind,
            "verbs": list(verbs),
        }
        if gvk and gvk[0] != rt.group:
            entry["group"], entry["version"] = gvk[0], gvk[1]
        entries.append(entry)
    return entries


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/{group}/{version}``, or None for an unknown group version."""
    types = [rt for rt in resource_types() if rt.group == group and rt.version == version]
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entries(rt))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(RESOURCE_VERBS),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.plural in CATEGORY_ALL:
        entry["categories"] = ["all"]
    subs = []
    for sub in rt.subresources:
        verbs, gvk = _SUBRESOURCES[sub]
        group, version, kind = gvk if gvk else (rt.group, rt.version, rt.kind)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": list(verbs),
            }
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(core: bool) -> dict[str, Any]:
    """``APIGroupDiscoveryList`` for ``/api`` (``core=True``) or ``/apis``."""
    items = []
    for group, versions in _group_versions().items():
        if (group == "") != core:
            continue
        version_docs = []
        for version in versions:
            resources = [
                _aggregated_resource(rt) for rt in resource_types() if rt.group == group and rt.version == version
            ]
            version_docs.append({"version": version, "resources": resources, "freshness": "Current"})
        metadata: dict[str, Any] = {"name": group} if group else {}
        items.append({"metadata": metadata, "versions": version_docs})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def root_paths() -> dict[str, Any]:
    """``GET /``: the paths the server serves."""
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3", "/version"]
    for group, versions in _group_versions().items():
        if group:
            paths.append(f"/apis/{group}")
            paths.extend(f"/apis/{group}/{v}" for v in versions)
    return {"paths": sorted(paths)}
