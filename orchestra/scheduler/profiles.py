"""Scheduler profiles: Kubernetes' default plugin set and the validation of a profile dict.

A profile follows KubeSchedulerConfiguration's ``profiles[]`` entry::

    schedulerName: default-scheduler
    percentageOfNodesToScore: 0          # 0: adaptive default; 100: score every node
    plugins:
      multiPoint: {enabled: [{name: X, weight: 2}], disabled: [{name: "*"}]}
      score: {enabled: [...], disabled: [...]}     # and every other extension point
    pluginConfig:
      - {name: NodeResourcesFit, args: {scoringStrategy: {type: MostAllocated}}}

Plugins start from :data:`DEFAULT_MULTI_POINT`; ``disabled`` entries remove plugins
(``"*"`` all defaults), ``enabled`` entries add them (or change a weight).
"""

from __future__ import annotations

from typing import Any, Mapping

from orchestra.scheduler.framework import (
    EXTENSION_POINTS, Handle, Plugin, PluginProfile, ProfileError, implements,
)

__all__ = ["DEFAULT_MULTI_POINT", "DEFAULT_SCHEDULER_NAME", "build_profile", "default_profile"]

DEFAULT_SCHEDULER_NAME = "default-scheduler"

#: Kubernetes' default plugins in order, with score weights where they score.
DEFAULT_MULTI_POINT: tuple[tuple[str, int], ...] = (
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
)


def default_profile(scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> dict[str, Any]:
    """The default profile as a dict (what an empty profile expands to)."""
    return {
        "schedulerName": scheduler_name,
        "percentageOfNodesToScore": 0,
        "plugins": {"multiPoint": {"enabled": [{"name": n, "weight": w} if w else {"name": n} for n, w in DEFAULT_MULTI_POINT]}},
        "pluginConfig": [],
    }


def _entries(section: Any, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    if section is None:
        return [], []
    if not isinstance(section, Mapping):
        raise ProfileError(f"{where}: must be a map with enabled/disabled lists")
    unknown = set(section) - {"enabled", "disabled"}
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    enabled, disabled = [], []
    for i, e in enumerate(section.get("enabled") or ()):
        if not isinstance(e, Mapping) or not isinstance(e.get("name"), str):
            raise ProfileError(f"{where}.enabled[{i}]: needs a name")
        if "weight" in e and e["weight"] is not None:
            w = e["weight"]
            if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 100:
                raise ProfileError(f"{where}.enabled[{i}] ({e['name']}): weight must be an integer 1..100, not {w!r}")
        enabled.append(dict(e))
    for i, e in enumerate(section.get("disabled") or ()):
        if not isinstance(e, Mapping) or not isinstance(e.get("name"), str):
            raise ProfileError(f"{where}.disabled[{i}]: needs a name")
        disabled.append(e["name"])
    return enabled, disabled


def build_profile(profile: Mapping[str, Any], registry: Mapping[str, type], handle: Handle) -> PluginProfile:
    """Validate a profile dict against the known plugin classes and instantiate its plugins."""
    if not isinstance(profile, Mapping):
        raise ProfileError("a scheduler profile must be a map")
    name = profile.get("schedulerName") or DEFAULT_SCHEDULER_NAME
    where = f"profile {name}"
    unknown = set(profile) - {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"}
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    pct = profile.get("percentageOfNodesToScore") or 0
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        raise ProfileError(f"{where}: percentageOfNodesToScore must be an integer 0..100, not {pct!r}")
    plugins = profile.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        raise ProfileError(f"{where}: plugins must be a map of extension points")
    bad_points = set(plugins) - set(EXTENSION_POINTS) - {"multiPoint"}
    if bad_points:
        raise ProfileError(f"{where}: unknown extension point(s) {', '.join(sorted(bad_points))}; known: multiPoint, {', '.join(EXTENSION_POINTS)}")

    def known(plugin: str, at: str) -> type:
        if plugin not in registry:
            raise ProfileError(f"{where}: {at}: unknown plugin {plugin!r}; known plugins: {', '.join(sorted(registry))}")
        return registry[plugin]

    multi: list[str] = []
    weights: dict[str, int] = {}
    enabled, disabled = _entries(plugins.get("multiPoint"), f"{where}: plugins.multiPoint")
    for n, w in DEFAULT_MULTI_POINT:
        if "*" in disabled or n in disabled or n not in registry:
            continue
        multi.append(n)
        if w:
            weights[n] = w
    for e in enabled:
        known(e["name"], "plugins.multiPoint")
        if e["name"] not in multi:
            multi.append(e["name"])
        if e.get("weight"):
            weights[e["name"]] = e["weight"]

    points: dict[str, list[str]] = {}
    for point in EXTENSION_POINTS:
        enabled, disabled = _entries(plugins.get(point), f"{where}: plugins.{point}")
        names = [n for n in multi if implements(registry[n], point) and "*" not in disabled and n not in disabled]
        for e in enabled:
            cls = known(e["name"], f"plugins.{point}")
            if not implements(cls, point):
                raise ProfileError(f"{where}: plugins.{point}: plugin {e['name']} does not implement {point}")
            if e["name"] not in names:
                names.append(e["name"])
            if point == "score" and e.get("weight"):
                weights[e["name"]] = e["weight"]
        points[point] = names
    if len(points["queueSort"]) > 1:
        raise ProfileError(f"{where}: only one queueSort plugin may be enabled, got {', '.join(points['queueSort'])}")
    if not points["bind"]:
        raise ProfileError(f"{where}: at least one bind plugin must be enabled")

    configs: dict[str, Any] = {}
    for i, c in enumerate(profile.get("pluginConfig") or ()):
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            raise ProfileError(f"{where}: pluginConfig[{i}]: needs a name")
        known(c["name"], f"pluginConfig[{i}]")
        if c["name"] in configs:
            raise ProfileError(f"{where}: pluginConfig[{i}]: {c['name']} configured twice")
        configs[c["name"]] = c.get("args") or {}

    instances: dict[str, Plugin] = {}
    for n in dict.fromkeys(n for names in points.values() for n in names):
        cls = registry[n]
        try:
            args = cls.validate_args(configs.get(n))
        except ProfileError as exc:
            raise ProfileError(f"{where}: {exc}") from None
        instances[n] = cls(args, handle)
    return PluginProfile(
        scheduler_name=name,
        percentage_of_nodes_to_score=pct,
        points={p: [instances[n] for n in names] for p, names in points.items()},
        weights={n: weights.get(n, 1) for n in points["score"]},
    )
