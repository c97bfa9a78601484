"""The plugin conformance suite: every built-in scheduling plugin must pass it."""

from __future__ import annotations

import random
from array import array

import pytest

from scheduler.sched_builders import builtin_registry, make_framework, make_node, make_pod, make_snapshot
from orchestra.scheduler import CycleState, PodInfo
from orchestra.scheduler.framework import EXTENSION_POINTS, Handle, NodeBatch, Plugin, implements

BUILTINS = sorted(builtin_registry().items())


def _cluster(seed: int):
    rng = random.Random(seed)
    nodes = [make_node(f"n{i}", cpu=str(rng.randint(1, 8)), memory=f"{rng.randint(1, 16)}Gi",
                       labels={"zone": rng.choice("abc")},
                       taints=[{"key": "t", "value": "", "effect": "PreferNoSchedule"}] if rng.random() < 0.3 else None,
                       images=[{"names": ["busybox:latest"], "sizeBytes": rng.randint(1, 900) * 2**20}] if rng.random() < 0.5 else None)
             for i in range(12)]
    pods = [make_pod(f"e{j}", cpu=f"{rng.randint(0, 9) * 100}m", labels={"app": rng.choice("xy")}, node=f"n{rng.randrange(12)}",
                     affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                         {"weight": rng.randint(1, 100), "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}}]}})
            for j in range(15)]
    pod = make_pod("new", labels={"app": "x"}, topologySpreadConstraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "x"}}}],
        affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 7, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "y"}}, "topologyKey": "zone"}}]}})
    return make_snapshot(nodes, pods), PodInfo.from_dict(pod)


@pytest.mark.parametrize("name, cls", BUILTINS)
def test_name_and_construction_with_default_args(name, cls):
    assert isinstance(cls.NAME, str) and cls.NAME == name
    assert issubclass(cls, Plugin)
    plugin = cls(cls.validate_args(None), Handle())
    assert any(implements(cls, point) for point in EXTENSION_POINTS), f"{name} implements no extension point"
    assert plugin.__doc__ and cls.__module__.startswith("orchestra.plugins.scheduling.")


def test_unreserve_is_idempotent():
    pod = PodInfo.from_dict(make_pod("p"))
    for name, cls in BUILTINS:
        plugin = cls(cls.validate_args(None), Handle())
        if callable(getattr(plugin, "unreserve", None)):
            state = CycleState()
            plugin.unreserve(state, pod, "n1")
            plugin.unreserve(state, pod, "n1")
    fw = make_framework()
    state = CycleState()
    assert fw.run_reserve(state, pod, "n1").is_success
    fw.run_unreserve(state, pod, "n1")
    fw.run_unreserve(state, pod, "n1")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name, cls", [(n, c) for n, c in BUILTINS if implements(c, "score")])
def test_scores_are_within_0_and_100(name, cls, seed):
    snap, pod = _cluster(seed)
    fw = make_framework({"percentageOfNodesToScore": 100})
    result = fw.schedule_one(pod, snap)
    plugin = cls(cls.validate_args(None), fw.handle)
    batch = NodeBatch(snap, array("i", list(snap.slots())))
    scores = plugin.score_batch(result.state, pod, batch)
    if scores is None:
        return
    assert len(scores) == len(batch)
    assert all(0 <= s <= 100 for s in scores), list(scores)


@pytest.mark.parametrize("name, cls", [(n, c) for n, c in BUILTINS if c.KERNEL_FILTER])
def test_kernel_filters_explain_every_rejection(name, cls):
    from orchestra.scheduler.podinfo import Taint

    plugin = cls(cls.validate_args(None), Handle())
    snap, _ = _cluster(0)
    details = {"NodeResourcesFit": [1, 2, 4, 8, 15], "TaintToleration": [snap.taint_id(Taint("k", "v", "NoSchedule"))]}
    for detail in details.get(name, [0, 1, 2]):
        status = plugin.kernel_status(detail, snap)
        assert status.is_rejected and status.reasons and status.plugin == name
