"""Builders shared by the scheduler tests: wire dicts for nodes and pods, a framework, a snapshot."""

from __future__ import annotations

import random
from typing import Any

from orchestra.scheduler import ClusterSnapshot, Framework
from orchestra.scheduler.framework import plugin_registry


def make_node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, labels: dict | None = None,
              taints: list | None = None, unschedulable: bool = False, images: list | None = None) -> dict[str, Any]:
    """A Node wire dict."""
    node: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)}},
    }
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    if images:
        node["status"]["images"] = images
    return node


def make_pod(name: str, cpu: str | None = "100m", memory: str | None = "128Mi", labels: dict | None = None,
             namespace: str = "default", node: str | None = None, priority: int = 0, image: str = "busybox",
             **spec: Any) -> dict[str, Any]:
    """A Pod wire dict; extra keyword arguments go into ``spec``."""
    requests = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    pod: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}), "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "c", "image": image, "resources": {"requests": requests}}], "priority": priority, **spec},
    }
    if node:
        pod["spec"]["nodeName"] = node
    return pod


def builtin_registry() -> dict[str, type]:
    """Every built-in scheduling plugin class by NAME."""
    from orchestra.plugin_manager import get_plugin_manager

    return plugin_registry(get_plugin_manager(load_entrypoints=False))


def make_framework(profile: dict | None = None, seed: int = 0, registry: dict | None = None, **kwargs: Any) -> Framework:
    """A framework over the built-in plugins (plus ``registry``) with a seeded random source."""
    plugins = builtin_registry()
    plugins.update(registry or {})
    return Framework.from_profile(profile or {}, plugins, rng=random.Random(seed), **kwargs)


def only(*names: str, weights: dict | None = None, args: dict | None = None, pct: int = 100) -> dict[str, Any]:
    """A profile enabling just ``names`` (plus the queue sort and the binder)."""
    enabled = [{"name": n, **({"weight": weights[n]} if weights and n in weights else {})} for n in names]
    return {
        "percentageOfNodesToScore": pct,
        "plugins": {"multiPoint": {"disabled": [{"name": "*"}],
                                   "enabled": [{"name": "PrioritySort"}, *enabled, {"name": "DefaultBinder"}]}},
        "pluginConfig": [{"name": n, "args": a} for n, a in (args or {}).items()],
    }


def make_snapshot(nodes: list[dict], pods: list[dict] = ()) -> ClusterSnapshot:
    """A snapshot holding ``nodes`` and the (bound) ``pods``."""
    snap = ClusterSnapshot()
    for n in nodes:
        snap.add_node(n)
    for p in pods:
        snap.add_pod(p)
    return snap


def scores_of(framework: Framework, pod: dict, snap: ClusterSnapshot) -> dict[str, int]:
    """Weighted total score of every feasible node."""
    from array import array

    from orchestra.scheduler import PodInfo

    info = PodInfo.from_dict(pod)
    result = framework.schedule_one(info, snap)
    feasible = [s for s in snap.slots() if framework.check_node(info, snap, s).is_success]
    totals, error = framework.run_scores(result.state, info, snap, array("i", feasible))
    assert error is None, error
    return {snap.node(s).name: t for s, t in zip(feasible, totals)}
