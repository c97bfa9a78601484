"""PodTopologySpread: skew, minDomains, missing labels, node inclusion, soft scoring."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of

SEL = {"matchLabels": {"app": "web"}}


def _c(max_skew=1, key="zone", hard=True, **extra):
    return {"maxSkew": max_skew, "topologyKey": key, "labelSelector": SEL,
            "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway", **extra}


def _cluster(existing=(("a1", 2),)):
    nodes = [make_node("a1", labels={"zone": "a"}), make_node("a2", labels={"zone": "a"}), make_node("b1", labels={"zone": "b"})]
    pods = [make_pod(f"w{n}{i}", labels={"app": "web"}, node=n) for n, k in existing for i in range(k)]
    return make_snapshot(nodes, pods)


def _feasible(pod, snap):
    from orchestra.scheduler import PodInfo

    fw = make_framework(only("PodTopologySpread"))
    info = PodInfo.from_dict(pod)
    return sorted(snap.node(s).name for s in snap.slots() if fw.check_node(info, snap, s).is_success)


def test_skew_above_max_rejects_the_crowded_domain():
    snap = _cluster()
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c()])
    assert _feasible(pod, snap) == ["b1"]
    result = make_framework(only("PodTopologySpread")).schedule_one(pod, snap)
    assert result.node_name == "b1"


def test_a_pod_not_matching_its_selector_does_not_count_itself():
    snap = _cluster(existing=(("a1", 1),))
    pod = make_pod("p", labels={"app": "other"}, topologySpreadConstraints=[_c()])
    assert _feasible(pod, snap) == ["a1", "a2", "b1"]


def test_min_domains_forces_the_minimum_to_zero():
    snap = _cluster(existing=(("a1", 1), ("b1", 1)))
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c(minDomains=3)])
    assert _feasible(pod, snap) == []
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c(minDomains=2)])
    assert _feasible(pod, snap) == ["a1", "a2", "b1"]


def test_nodes_without_the_key_are_unresolvable():
    snap = _cluster()
    snap.add_node(make_node("x1"))
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c()])
    result = make_framework(only("PodTopologySpread")).schedule_one(pod, make_snapshot([make_node("x1")]))
    assert result.fit_error.message() == (
        "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).")
    assert "x1" not in _feasible(pod, snap)


def test_node_affinity_policy_decides_which_nodes_count():
    snap = _cluster(existing=(("b1", 3),))
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
    honor = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c()], affinity=affinity)
    # Honor: zone b is not a domain (the pod cannot go there), so its pods are not counted;
    # b1 itself is left to NodeAffinity to reject.
    assert _feasible(honor, snap) == ["a1", "a2", "b1"]
    ignore = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c(nodeAffinityPolicy="Ignore")], affinity=affinity)
    assert _feasible(ignore, snap) == ["a1", "a2"]


def test_namespaces_are_separate():
    snap = _cluster()
    pod = make_pod("p", labels={"app": "web"}, namespace="other", topologySpreadConstraints=[_c()])
    assert _feasible(pod, snap) == ["a1", "a2", "b1"]


def test_soft_constraints_prefer_emptier_domains():
    snap = _cluster()
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c(hard=False)])
    scores = scores_of(make_framework(only("PodTopologySpread")), pod, snap)
    # zone a holds 2 matching pods, b none: raw a = round(2·log(4)) = 3, b = 0 -> a: 100·(3+0-3)/3 = 0, b: 100
    assert scores == {"a1": 0, "a2": 0, "b1": 100}


def test_soft_hostname_constraint_counts_per_node():
    snap = _cluster(existing=(("a1", 1),))
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c(key="kubernetes.io/hostname", hard=False)])
    scores = scores_of(make_framework(only("PodTopologySpread")), pod, snap)
    # raw a1 = round(1·log(5)) = 2, others 0
    assert scores == {"a1": 0, "a2": 100, "b1": 100}


def test_terminating_pods_are_not_counted():
    snap = _cluster(existing=(("a1", 1),))
    going = make_pod("going", labels={"app": "web"}, node="a2")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    snap.add_pod(going)
    pod = make_pod("p", labels={"app": "web"}, topologySpreadConstraints=[_c()])
    # zone a counts 1 (not 2): a's skew is 1 + 1 - 0 = 2 > 1, b's is 1
    assert _feasible(pod, snap) == ["b1"]
    snap.remove_pod("default/wa10")
    assert _feasible(pod, snap) == ["a1", "a2", "b1"]
