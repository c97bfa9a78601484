"""Benchmarks of the scheduler's core: ``Framework.schedule_one`` on a 5,000-node snapshot.

Run with ``pytest benchmarks/scheduler/bench_core.py --benchmark-enable``. Each round
converts one pod wire dict to a PodInfo, schedules it and assumes it on the chosen node
(the service's per-pod work minus the API round trip); ``extra_info["pods_per_s"]``
records one over the median round. Workloads follow scheduler_perf: SchedulingBasic,
SchedulingNodeAffinity, TopologySpreading (zone, DoNotSchedule), SchedulingPodAntiAffinity
(required, hostname), the default scores fused in the kernel and per plugin, one and four pod
shapes alternating, a Python batch score plugin and a Python batch filter plugin on top of the default profile,
the reference implementation on the same cluster (the Cython/reference ratio) and
SchedulingBasic at 500 / 5,000 / 15,000 nodes, and preemption with the kernel's and the
general Python dry run. ``ORCHESTRA_BENCH_NODES`` changes the default 5,000.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any, Callable

import pytest

from orchestra.plugin_manager import get_plugin_manager
from orchestra.scheduler import ClusterSnapshot, Framework, PodInfo
from orchestra.scheduler.framework import Plugin, plugin_registry
from orchestra.scheduler.reference import ReferenceScheduler

NODES = int(os.environ.get("ORCHESTRA_BENCH_NODES", "5000"))
ZONES = 10


def node(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}", "topology.kubernetes.io/zone": f"zone-{i % ZONES}",
                                                     "pool": "gpu" if i % 10 == 0 else "general"}},
        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                   "images": [{"names": ["registry/app:1"], "sizeBytes": 300 * 2**20}] if i % 3 == 0 else []},
    }


def basic(i: int, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": f"pod-{i}", "namespace": "bench", "labels": {"app": "bench"}, "uid": f"u{i}"},
            "spec": {"containers": [{"name": "c", "image": "registry/app:1", "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}}}], **spec}}


def with_affinity(i: int) -> dict[str, Any]:
    return basic(i, affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}]}}})


def with_spread(i: int) -> dict[str, Any]:
    return basic(i, topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "bench"}}}])


def with_anti_affinity(i: int) -> dict[str, Any]:
    return basic(i, affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "bench"}}, "topologyKey": "kubernetes.io/hostname"}]}})


class PreferEvenNodes(Plugin):
    """A Python batch score plugin (benchmarks the cost of one)."""

    NAME = "PreferEvenNodes"

    def score_batch(self, state, pod, batch):
        return [100 if s % 2 == 0 else 0 for s in batch.slots]


class SkipEveryTenthNode(Plugin):
    """A Python batch filter plugin (benchmarks the cost of one)."""

    NAME = "SkipEveryTenthNode"

    def filter_batch(self, state, pod, batch):
        return [s % 10 != 0 for s in batch.slots]


def cluster(n: int) -> ClusterSnapshot:
    snap = ClusterSnapshot()
    for i in range(n):
        snap.add_node(node(i))
    return snap


def framework(profile: dict | None = None) -> Framework:
    registry = plugin_registry(get_plugin_manager(load_entrypoints=False))
    registry[PreferEvenNodes.NAME] = PreferEvenNodes
    registry[SkipEveryTenthNode.NAME] = SkipEveryTenthNode
    return Framework.from_profile(profile or {}, registry, rng=random.Random(0))


def run(benchmark: Any, snap: ClusterSnapshot, fw: Framework, make: Callable[[int], dict], rounds: int = 500) -> None:
    counter = itertools.count()

    def one() -> None:
        info = PodInfo.from_dict(make(next(counter)))
        result = fw.schedule_one(info, snap)
        assert result.node_name is not None, result.status
        snap.assume_pod(info, result.node_name)

    benchmark.pedantic(one, rounds=rounds, iterations=1, warmup_rounds=10)
    record_rate(benchmark)


def record_rate(benchmark: Any) -> None:
    """``extra_info["pods_per_s"]``: one over the median time of a round (nothing when benchmarks are disabled)."""
    if benchmark.disabled:
        return
    benchmark.extra_info["pods_per_s"] = round(1 / benchmark.stats.stats.median, 2)


@pytest.mark.parametrize("workload", ["basic", "node_affinity", "topology_spread", "anti_affinity"])
def test_schedule_one(benchmark, workload):
    make = {"basic": basic, "node_affinity": with_affinity, "topology_spread": with_spread, "anti_affinity": with_anti_affinity}[workload]
    run(benchmark, cluster(NODES), framework(), make, rounds=400 if workload == "anti_affinity" else 1000)


@pytest.mark.parametrize("path", ["fused", "per_plugin"])
def test_default_scores(benchmark, path):
    """SchedulingBasic with the default scores summed in the kernel's one fused pass, or (for the
    ratio) each plugin scored through its own score_batch, as a plugin the kernel cannot fuse is."""
    fw = framework()
    if path == "per_plugin":
        registry = plugin_registry(get_plugin_manager(load_entrypoints=False))
        for name, cls in list(registry.items()):
            if "fuse_score" in cls.__dict__:
                registry[name] = type(cls.__name__, (cls,), {"fuse_score": lambda self, plan, weight, profile: 0})
        fw = Framework.from_profile({}, registry, rng=random.Random(0))
        assert fw.fused_scores == []
    run(benchmark, cluster(NODES), fw, basic, rounds=1000)


@pytest.mark.parametrize("shapes", [1, 4])
def test_pod_shapes(benchmark, shapes):
    """SchedulingBasic with pods of ``shapes`` Deployments (different requests) alternating in the
    queue: each shape's filter verdicts and resource scores are remembered apart (the ratio)."""
    requests = [{"cpu": f"{100 * (k + 1)}m", "memory": f"{200 * (k + 1)}Mi"} for k in range(shapes)]

    def make(i: int) -> dict[str, Any]:
        pod = basic(i)
        pod["spec"]["containers"][0]["resources"]["requests"] = dict(requests[i % shapes])
        return pod

    run(benchmark, cluster(NODES), framework(), make, rounds=1000)


def test_python_batch_score_plugin(benchmark):
    fw = framework({"plugins": {"score": {"enabled": [{"name": "PreferEvenNodes", "weight": 1}]}}})
    run(benchmark, cluster(NODES), fw, basic, rounds=1000)


def test_python_batch_filter_plugin(benchmark):
    fw = framework({"plugins": {"filter": {"enabled": [{"name": "SkipEveryTenthNode"}]}}})
    run(benchmark, cluster(NODES), fw, basic, rounds=1000)


@pytest.mark.parametrize("nodes", [500, 5000, 15000])
def test_scaling(benchmark, nodes):
    run(benchmark, cluster(nodes), framework(), basic, rounds=1000)


def test_score_all_nodes(benchmark):
    """SchedulingBasic with percentageOfNodesToScore 100: the work the reference does."""
    run(benchmark, cluster(NODES), framework({"percentageOfNodesToScore": 100}), basic, rounds=200)


def test_reference(benchmark):
    """The plain-Python reference on the same cluster (compare with test_score_all_nodes)."""
    nodes = [node(i) for i in range(NODES)]
    ref = ReferenceScheduler()
    placed: list[tuple[dict, str]] = []
    counter = itertools.count()

    def one() -> None:
        pod = basic(next(counter))
        best, _ = ref.schedule(pod, nodes, placed)
        placed.append((pod, best))

    benchmark.pedantic(one, rounds=3, iterations=1)
    record_rate(benchmark)


@pytest.mark.parametrize("dry_run", ["kernel", "python"])
def test_preemption(benchmark, monkeypatch, dry_run):
    """scheduler_perf PreemptionBasic-like: 500 full nodes of low-priority pods; each
    high-priority pod needs a victim. A round schedules (post-filter included), evicts the
    victims and places the pod on its nominated node, as the service does. ``kernel``: the
    resource-only dry run in the kernel (what these pods get); ``python``: the general dry
    run that re-runs every filter per candidate node (what pods with host ports or pod
    affinity get), for the ratio."""
    if dry_run == "python":
        from orchestra.plugins.scheduling.defaultpreemption import DefaultPreemption

        monkeypatch.setattr(DefaultPreemption, "_resources_only", staticmethod(lambda *args: False))
    snap = ClusterSnapshot()
    for i in range(500):
        n = node(i)
        n["status"]["allocatable"]["cpu"] = "4"
        snap.add_node(n)
        for j in range(4):
            low = basic(10_000 + i * 4 + j)
            low["spec"].update(nodeName=f"node-{i}", priority=0)
            low["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1"
            snap.add_pod(low)
    fw = framework()
    counter = itertools.count()

    def one() -> None:
        pod = basic(next(counter))
        pod["spec"]["priority"] = 100
        pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1"
        info = PodInfo.from_dict(pod)
        result = fw.schedule_one(info, snap)
        assert result.nominated_node, result.status
        for victim in result.victims:
            snap.remove_pod(victim.key)
        snap.assume_pod(info, result.nominated_node)

    benchmark.pedantic(one, rounds=300, iterations=1, warmup_rounds=5)
    record_rate(benchmark)
