"""Properties: the Cython path agrees with the plain-Python reference, and never overcommits."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot
from orchestra.scheduler import PodInfo
from orchestra.scheduler.reference import ReferenceScheduler

ZONES = ["z0", "z1", "z2"]
APPS = ["a", "b"]

label_sel = st.builds(lambda app: {"matchLabels": {"app": app}}, st.sampled_from(APPS))
topology_key = st.sampled_from(["zone", "kubernetes.io/hostname"])
affinity_term = st.builds(lambda sel, key: {"labelSelector": sel, "topologyKey": key}, label_sel, topology_key)
weighted_term = st.builds(lambda w, t: {"weight": w, "podAffinityTerm": t}, st.integers(1, 100), affinity_term)
node_req = st.one_of(
    st.builds(lambda zs: {"key": "zone", "operator": "In", "values": zs}, st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)),
    st.builds(lambda zs: {"key": "zone", "operator": "NotIn", "values": zs}, st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)),
    st.builds(lambda v: {"key": "rank", "operator": "Gt", "values": [str(v)]}, st.integers(0, 5)),
    st.builds(lambda v: {"key": "rank", "operator": "Lt", "values": [str(v)]}, st.integers(0, 5)),
    st.just({"key": "disk", "operator": "Exists"}),
    st.just({"key": "disk", "operator": "DoesNotExist"}),
)
taint = st.builds(lambda k, v, e: {"key": k, "value": v, "effect": e}, st.sampled_from(["t1", "t2"]), st.sampled_from(["", "x"]),
                  st.sampled_from(["NoSchedule", "PreferNoSchedule", "PreferNoSchedule", "NoExecute"]))
toleration = st.one_of(
    st.builds(lambda k, e: {"key": k, "operator": "Exists", "effect": e}, st.sampled_from(["t1", "t2"]), st.sampled_from(["", "NoSchedule", "PreferNoSchedule"])),
    st.builds(lambda k, v: {"key": k, "operator": "Equal", "value": v}, st.sampled_from(["t1", "t2"]), st.sampled_from(["", "x"])),
)
spread = st.builds(
    lambda skew, key, hard, sel, mind: {"maxSkew": skew, "topologyKey": key, "labelSelector": sel, "minDomains": mind,
                                        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway"},
    st.integers(1, 2), topology_key, st.booleans(), label_sel, st.integers(1, 4),
)


@st.composite
def node_dicts(draw: Any, i: int) -> dict:
    labels = {"zone": draw(st.sampled_from(ZONES)), "rank": str(draw(st.integers(0, 5)))}
    if draw(st.booleans()):
        labels["disk"] = "ssd"
    images = [{"names": ["busybox:latest"], "sizeBytes": draw(st.integers(0, 400)) * 1024 * 1024}] if draw(st.booleans()) else None
    return make_node(f"n{i}", cpu=str(draw(st.integers(1, 4))), memory=f"{draw(st.integers(1, 4))}Gi",
                     pods=draw(st.integers(1, 6)), labels=labels, taints=draw(st.lists(taint, max_size=2)) if draw(st.booleans()) else None,
                     unschedulable=draw(st.integers(0, 9)) == 0, images=images)


@st.composite
def pod_dicts(draw: Any, name: str, node: str | None, rich: bool) -> dict:
    affinity: dict = {}
    spec: dict = {}
    if rich:
        if draw(st.integers(0, 3)) == 0:
            terms = draw(st.lists(st.lists(node_req, min_size=1, max_size=2), min_size=1, max_size=2))
            affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}
        if draw(st.booleans()):
            prefs = draw(st.lists(st.tuples(st.integers(1, 100), node_req), min_size=1, max_size=2))
            affinity.setdefault("nodeAffinity", {})["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": w, "preference": {"matchExpressions": [r]}} for w, r in prefs]
        pa = {}
        if draw(st.integers(0, 5)) == 0:
            pa["requiredDuringSchedulingIgnoredDuringExecution"] = draw(st.lists(affinity_term, min_size=1, max_size=1))
        if draw(st.booleans()):
            pa["preferredDuringSchedulingIgnoredDuringExecution"] = draw(st.lists(weighted_term, min_size=1, max_size=2))
        if pa:
            affinity["podAffinity"] = pa
        pan = {}
        if draw(st.integers(0, 4)) == 0:
            pan["requiredDuringSchedulingIgnoredDuringExecution"] = draw(st.lists(affinity_term, min_size=1, max_size=1))
        if draw(st.booleans()):
            pan["preferredDuringSchedulingIgnoredDuringExecution"] = draw(st.lists(weighted_term, min_size=1, max_size=2))
        if pan:
            affinity["podAntiAffinity"] = pan
        if affinity:
            spec["affinity"] = affinity
        if draw(st.integers(0, 4)) == 0:
            spec["nodeSelector"] = {"zone": draw(st.sampled_from(ZONES))}
        spec["tolerations"] = draw(st.lists(toleration, max_size=2))
        spec["topologySpreadConstraints"] = draw(st.lists(spread, max_size=2, unique_by=lambda c: (c["topologyKey"], c["whenUnsatisfiable"])))
    pod = make_pod(name, cpu=f"{draw(st.integers(0, 20)) * 100}m", memory=f"{draw(st.integers(0, 8)) * 128}Mi",
                   labels={"app": draw(st.sampled_from(APPS))}, node=node, **spec)
    if node and draw(st.integers(0, 5)) == 0:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if rich and draw(st.integers(0, 3)) == 0:
        pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": draw(st.sampled_from([80, 81]))}]
    return pod


@st.composite
def clusters(draw: Any) -> tuple[list[dict], list[dict], dict]:
    n = draw(st.integers(2, 7))
    nodes = [draw(node_dicts(i)) for i in range(n)]
    pods = [draw(pod_dicts(f"e{j}", f"n{draw(st.integers(0, n - 1))}", rich=True)) for j in range(draw(st.integers(0, 8)))]
    return nodes, pods, draw(pod_dicts("new", None, rich=True))


def _both(nodes: list[dict], pods: list[dict], pod: dict):
    fw = make_framework({"percentageOfNodesToScore": 100})
    snap = make_snapshot(nodes, pods)
    ref = ReferenceScheduler()
    placed = [(p, p["spec"]["nodeName"]) for p in pods]
    return fw, snap, ref, placed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_cython_and_reference_agree_on_feasibility_and_reasons(cluster):
    nodes, pods, pod = cluster
    fw, snap, ref, placed = _both(nodes, pods, pod)
    expected = ref.reasons(pod, nodes, placed)
    result = fw.schedule_one(pod, snap)
    feasible_ref = {n for n, r in expected.items() if not r}
    if not feasible_ref:
        assert result.node_name is None
        histogram: dict[str, int] = {}
        for reasons in expected.values():
            for r in reasons:
                histogram[r] = histogram.get(r, 0) + 1
        assert result.fit_error is not None and result.fit_error.reasons == histogram
    else:
        assert result.node_name in feasible_ref
        assert result.feasible_nodes == len(feasible_ref)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_cython_and_reference_score_every_feasible_node_alike(cluster):
    nodes, pods, pod = cluster
    fw, snap, ref, placed = _both(nodes, pods, pod)
    _, totals = ref.schedule(pod, nodes, placed)
    if len(totals) < 2:
        return
    info = PodInfo.from_dict(pod)
    result = fw.schedule_one(info, snap)
    from array import array

    cand = array("i", [snap.slot_of(n) for n in totals])
    fast, error = fw.run_scores(result.state, info, snap, cand)
    assert error is None
    assert dict(zip(totals, fast)) == totals
    assert totals[result.node_name] == max(totals.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_sequence_of_placements_never_overcommits(data):
    nodes = [data.draw(node_dicts(i)) for i in range(data.draw(st.integers(1, 5)))]
    fw, snap, _, _ = _both(nodes, [], {})
    for j in range(data.draw(st.integers(1, 25))):
        info = PodInfo.from_dict(data.draw(pod_dicts(f"p{j}", None, rich=data.draw(st.booleans()))))
        result = fw.schedule_one(info, snap)
        if result.node_name is not None:
            snap.assume_pod(info, result.node_name)
    for slot in snap.slots():
        alloc, requested, _ = snap.resources(slot)
        assert requested[3] <= alloc[3]
        for i in range(3):
            pods_asking = [p for p in snap.pods_on(slot) if p.requests[i] > 0]
            if pods_asking:
                assert requested[i] <= alloc[i]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_incrementally_updated_snapshot_agrees_with_the_reference(data):
    """Random node and pod add/update/remove events, then the reference on the final state."""
    snap = make_snapshot([])
    nodes: dict[str, dict] = {}
    pods: dict[str, dict] = {}
    for step in range(data.draw(st.integers(1, 30))):
        op = data.draw(st.sampled_from(["node", "node", "drop_node", "pod", "pod", "pod", "drop_pod"]))
        if op == "node":
            i = data.draw(st.integers(0, 5))
            nodes[f"n{i}"] = data.draw(node_dicts(i))
            snap.add_node(nodes[f"n{i}"])
        elif op == "drop_node" and nodes:
            name = data.draw(st.sampled_from(sorted(nodes)))
            del nodes[name]
            snap.remove_node(name)
        elif op == "pod" and nodes:
            j = data.draw(st.integers(0, 8))
            pod = data.draw(pod_dicts(f"e{j}", data.draw(st.sampled_from(sorted(nodes))), rich=True))
            pods[f"default/e{j}"] = pod
            snap.add_pod(pod)
        elif op == "drop_pod" and pods:
            key = data.draw(st.sampled_from(sorted(pods)))
            del pods[key]
            snap.remove_pod(key)
    live = [p for p in pods.values() if p["spec"]["nodeName"] in nodes]
    new = data.draw(pod_dicts("new", None, rich=True))
    ref = ReferenceScheduler()
    placed = [(p, p["spec"]["nodeName"]) for p in live]
    expected = ref.reasons(new, list(nodes.values()), placed)
    fw = make_framework({"percentageOfNodesToScore": 100})
    info = PodInfo.from_dict(new)
    result = fw.schedule_one(info, snap)
    feasible = {n for n, r in expected.items() if not r}
    if not feasible:
        assert result.node_name is None
        return
    assert result.node_name in feasible and result.feasible_nodes == len(feasible)
    _, totals = ref.schedule(new, list(nodes.values()), placed)
    if len(totals) >= 2:
        from array import array

        fast, error = fw.run_scores(result.state, info, snap, array("i", [snap.slot_of(n) for n in totals]))
        assert error is None and dict(zip(totals, fast)) == totals


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(100, 400), st.integers(0, 2**31))
def test_adaptive_search_finds_only_feasible_nodes_and_rotates(n, seed):
    import random

    from orchestra.scheduler.framework import num_feasible_nodes_to_find

    rng = random.Random(seed)
    nodes = [make_node(f"n{i}", cpu=str(rng.randint(1, 4)), labels={"zone": rng.choice(ZONES)}) for i in range(n)]
    snap = make_snapshot(nodes)
    fw = make_framework({"percentageOfNodesToScore": 0}, seed=seed)
    pod = make_pod("p", cpu="2", nodeSelector={"zone": "z0"})
    ref = ReferenceScheduler().reasons(pod, nodes, [])
    feasible = {k for k, v in ref.items() if not v}
    for _ in range(3):
        start = fw._next_start
        result = fw.schedule_one(pod, snap)
        assert (result.node_name in feasible) if feasible else result.node_name is None
        if result.node_name is not None and result.feasible_nodes > 1:
            assert result.feasible_nodes == min(len(feasible), num_feasible_nodes_to_find(n, 0))
            assert fw._next_start == (start + result.evaluated_nodes) % n


def _unfused_registry() -> dict[str, type]:
    """The built-in score plugins that the kernel fuses, as subclasses scored one by one."""
    from scheduler.sched_builders import builtin_registry

    out = {}
    for name, cls in builtin_registry().items():
        if "fuse_score" in cls.__dict__:
            out[name] = type(cls.__name__, (cls,), {"fuse_score": lambda self, plan, weight, profile: 0})
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.sampled_from([None, "MostAllocated", "RequestedToCapacityRatio"]))
def test_the_fused_score_pass_gives_the_per_plugin_totals(cluster, strategy):
    from array import array

    nodes, pods, pod = cluster
    profile: dict = {"percentageOfNodesToScore": 100}
    if strategy:
        profile["pluginConfig"] = [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
            "type": strategy, "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}]}}}]
    fused = make_framework(profile)
    plain = make_framework(profile, registry=_unfused_registry())
    assert len(fused.fused_scores) == 4 and plain.fused_scores == []
    snap = make_snapshot(nodes, pods)
    info = PodInfo.from_dict(pod)
    result = fused.schedule_one(info, snap)
    cand = array("i", [s for s in snap.slots() if fused.check_node(info, snap, s).is_success])
    if len(cand) < 2:
        return
    want, error = plain.run_scores(plain.schedule_one(info, snap).state, info, snap, cand)
    assert error is None
    got, error = fused.run_scores(result.state, info, snap, cand)
    assert error is None and list(got) == list(want)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_pods_placed_from_a_batch_go_to_a_best_node_of_a_full_cycle(data):
    """Opportunistic batching, every node scored: each pod of a run of alike pods (now and then
    another pod between them) lands on a node a full cycle scores highest, or on none when none fits."""
    from array import array

    nodes = [data.draw(node_dicts(i)) for i in range(data.draw(st.integers(2, 7)))]
    if data.draw(st.booleans()):  # without PreferNoSchedule taints, which leave no pod signable
        for n in nodes:
            n["spec"]["taints"] = [t for t in n["spec"].get("taints", ()) if t["effect"] != "PreferNoSchedule"]
    rich = data.draw(st.integers(0, 2)) == 0  # rich pods carry affinity terms and spread constraints: unsignable
    existing = [data.draw(pod_dicts(f"e{j}", f"n{data.draw(st.integers(0, len(nodes) - 1))}", rich=rich))
                for j in range(data.draw(st.integers(0, 6)))]
    snap = make_snapshot(nodes, existing)
    fw = make_framework({"percentageOfNodesToScore": 100})
    full = make_framework({"percentageOfNodesToScore": 100}, batching=False)
    template = data.draw(pod_dicts("t", None, rich=data.draw(st.integers(0, 2)) == 0))
    for j in range(data.draw(st.integers(2, 14))):
        alike = data.draw(st.integers(0, 5)) > 0
        pod = dict(template, metadata={**template["metadata"], "name": f"p{j}", "uid": f"u{j}"}) if alike else \
            data.draw(pod_dicts(f"p{j}", None, rich=False))
        info = PodInfo.from_dict(pod)
        feasible = array("i", [s for s in snap.slots() if full.check_node(info, snap, s).is_success])
        result = fw.schedule_one(info, snap)
        if not feasible:
            assert result.node_name is None
            continue
        state = full.schedule_one(info, snap).state
        totals, error = full.run_scores(state, info, snap, feasible)
        assert error is None
        by_node = {snap.node(s).name: t for s, t in zip(feasible, totals)}
        assert by_node[result.node_name] == max(totals), (j, result.node_name, by_node)
        snap.assume_pod(info, result.node_name)
    assert fw.batch.batched <= fw._cycle
