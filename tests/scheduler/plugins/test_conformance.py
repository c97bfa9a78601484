"""The plugin conformance suite: every built-in scheduling plugin must pass it."""

from __future__ import annotations

import random
from array import array

import pytest

from scheduler.sched_builders import builtin_registry, make_framework, make_node, make_pod, make_snapshot, only, scores_of
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


SIGNING_POINTS = ("preFilter", "filter", "preScore", "score")
SIGNERS = [(n, c) for n, c in BUILTINS if any(implements(c, point) for point in SIGNING_POINTS)]


def _verdicts_and_scores(name: str, pod: PodInfo, snap) -> tuple[dict[int, bool], dict[int, int]]:
    """The plugin's verdict on every node, and its weighted score on the nodes that pass,
    from a profile enabling only it."""
    fw = make_framework(only(name), batching=False)
    verdicts = {s: fw.check_node(pod, snap, s).is_success for s in snap.slots()}
    feasible = array("i", [s for s, ok in verdicts.items() if ok])
    state = fw.schedule_one(pod, snap).state
    totals, error = fw.run_scores(state, pod, snap, feasible) if len(feasible) else ([], None)
    assert error is None, error
    return verdicts, dict(zip(feasible, totals))


@pytest.mark.parametrize("name, cls", SIGNERS)
def test_every_filter_and_score_plugin_signs_pods(name, cls):
    assert _defined_in_subclass(cls, "sign"), f"{name} does not implement sign: its profile would never batch"


def _defined_in_subclass(cls: type, method: str) -> bool:
    return any(method in k.__dict__ for k in cls.__mro__ if k is not Plugin)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name, cls", SIGNERS)
def test_pods_with_equal_signatures_get_equal_verdicts_and_scores(name, cls, seed):
    """The signature contract: what the plugin signs is all its answers depend on."""
    snap, rich = _cluster(seed)
    rng = random.Random(seed)
    plugin = cls(cls.validate_args(None), Handle())
    plain = PodInfo.from_dict(make_pod("a", cpu="300m", labels={"app": "x"}))
    twin = PodInfo.from_dict(make_pod("b", cpu="300m", labels={"app": rng.choice("xyz")}, namespace=rng.choice(["default", "other"])))
    other = PodInfo.from_dict(make_pod("c", cpu="700m", labels={"app": "x"}, image="nginx"))
    for a, b in ((plain, twin), (plain, other), (rich, twin)):
        sa, sb = plugin.sign(a, snap), plugin.sign(b, snap)
        hash(sa), hash(sb)
        if sa is not None and sa == sb:
            assert _verdicts_and_scores(name, a, snap) == _verdicts_and_scores(name, b, snap), (a.name, b.name)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name, cls", SIGNERS)
def test_a_signed_pods_answers_on_a_node_depend_on_that_node_alone(name, cls, seed):
    """What batching relies on: a node scores alike alone and among every candidate, and placing a
    pod of the signature on one node changes no other node's verdict or score."""
    soft_taints = [{"key": f"t{k}", "value": "", "effect": "PreferNoSchedule"} for k in range(2)]
    nodes = [make_node(f"n{i}", cpu=str(2 + i % 3), labels={"zone": "abc"[i % 3]},
                       images=[{"names": ["busybox:latest"], "sizeBytes": 300 * 2**20}] if i % 2 else None,
                       taints=soft_taints[:i % 3] if seed % 2 else None)  # 0, 1 or 2 taints: normalizing tells
             for i in range(6)]
    snap = make_snapshot(nodes, [make_pod(f"e{j}", cpu="500m", node=f"n{j % 6}") for j in range(seed + 2)])
    plugin = cls(cls.validate_args(None), Handle())
    pod = PodInfo.from_dict(make_pod("p", cpu="900m", labels={"app": "x"}))
    if plugin.sign(pod, snap) is None:  # only TaintToleration among PreferNoSchedule taints may decline a plain pod
        assert (name, seed % 2) == ("TaintToleration", 1), f"{name} does not sign a plain pod"
        return
    verdicts, scores = _verdicts_and_scores(name, pod, snap)
    fw = make_framework(only(name), batching=False)
    state = fw.schedule_one(pod, snap).state
    for slot, total in scores.items():
        alone, error = fw.run_scores(state, pod, snap, array("i", [slot]))
        assert error is None and alone[0] == total, (snap.node(slot).name, alone[0], total)
    chosen = sorted(scores)[seed % len(scores)] if scores else 0
    snap.assume_pod(PodInfo.from_dict(make_pod("p2", cpu="900m", labels={"app": "x"})), snap.node(chosen).name)
    after_verdicts, after_scores = _verdicts_and_scores(name, pod, snap)
    assert {s: v for s, v in after_verdicts.items() if s != chosen} == {s: v for s, v in verdicts.items() if s != chosen}
    assert {s: v for s, v in after_scores.items() if s != chosen} == {s: v for s, v in scores.items() if s != chosen}


PREPARERS = [(n, c) for n, c in BUILTINS if implements(c, "preFilter") or implements(c, "preScore")]


@pytest.mark.parametrize("name, cls", PREPARERS)
def test_every_plugin_that_prepares_pods_promises_a_signed_preparation(name, cls):
    assert cls.SIGNED_PREPARATION, f"{name}: the pods a batch serves would be prepared afresh"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name, cls", PREPARERS)
def test_pods_a_batch_serves_on_its_cycles_preparation_go_to_a_best_node(name, cls, seed):
    """The SIGNED_PREPARATION promise: each pod placed from a batch, on a copy of the state prepared
    for the batch's first pod, goes to a node that a full cycle of its own ranks best."""
    rng = random.Random(seed)
    nodes = [make_node(f"n{i}", cpu=str(rng.randint(2, 6)), labels={"zone": "abc"[i % 3]},
                       images=[{"names": ["busybox:latest"], "sizeBytes": rng.randint(1, 900) * 2**20}] if i % 2 else None,
                       taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if i % 4 == 1 else None,
                       unschedulable=i == 5)
             for i in range(10)]
    snap = make_snapshot(nodes, [make_pod(f"e{j}", cpu="500m", node=f"n{rng.randrange(10)}") for j in range(seed + 3)])
    spec = {"nodeSelector": {"zone": "a"}} if seed % 2 else {
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "700m"}},
                        "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
    batched, full = make_framework(only(name)), make_framework(only(name), batching=False)
    for j in range(6):
        pod = make_pod(f"p{j}", cpu="700m", **spec)
        totals = scores_of(full, pod, snap)
        info = PodInfo.from_dict(pod)
        result = batched.schedule_one(info, snap)
        if result.node_name is None:
            assert not totals, (j, totals)
            continue
        assert totals[result.node_name] == max(totals.values()), (j, result.node_name, totals)
        snap.assume_pod(info, result.node_name)
    if all(p.sign(PodInfo.from_dict(make_pod("x", cpu="700m", **spec)), snap) is not None
           for p in batched.plugins("filter") + batched.plugins("score")):
        assert batched.batch.batched > 0
