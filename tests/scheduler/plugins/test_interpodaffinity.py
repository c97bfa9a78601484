"""InterPodAffinity: required affinity and anti-affinity, existing pods' anti-affinity, preferences."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of


def _term(app, key="zone", **extra):
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


NODES = [make_node("a1", labels={"zone": "a"}), make_node("a2", labels={"zone": "a"}), make_node("b1", labels={"zone": "b"})]


def _feasible(pod, snap):
    from orchestra.scheduler import PodInfo

    fw = make_framework(only("InterPodAffinity"))
    info = PodInfo.from_dict(pod)
    return sorted(snap.node(s).name for s in snap.slots() if fw.check_node(info, snap, s).is_success)


def test_required_anti_affinity_keeps_pods_apart():
    snap = make_snapshot(NODES, [make_pod("db", labels={"app": "db"}, node="a1")])
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db", "kubernetes.io/hostname")]}}
    assert _feasible(make_pod("p", affinity=anti), snap) == ["a2", "b1"]
    anti_zone = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db")]}}
    assert _feasible(make_pod("p", affinity=anti_zone), snap) == ["b1"]


def test_existing_pods_anti_affinity_is_symmetric():
    hater = make_pod("hater", labels={"app": "x"}, node="a1",
                     affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("web")]}})
    snap = make_snapshot(NODES, [hater])
    assert _feasible(make_pod("p", labels={"app": "web"}), snap) == ["b1"]
    assert _feasible(make_pod("q", labels={"app": "api"}), snap) == ["a1", "a2", "b1"]
    result = make_framework(only("InterPodAffinity")).schedule_one(make_pod("p", labels={"app": "web"}), snap)
    assert result.node_name == "b1"
    snap.remove_pod("default/hater")
    assert _feasible(make_pod("p", labels={"app": "web"}), snap) == ["a1", "a2", "b1"]


def test_required_affinity_needs_a_matching_pod_in_the_domain():
    snap = make_snapshot(NODES, [make_pod("db", labels={"app": "db"}, node="b1")])
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db")]}}
    assert _feasible(make_pod("p", affinity=aff), snap) == ["b1"]
    snap2 = make_snapshot(NODES)
    result = make_framework(only("InterPodAffinity")).schedule_one(make_pod("p", affinity=aff), snap2)
    assert result.fit_error.reasons == {"node(s) didn't match pod affinity rules": 3}


def test_the_first_pod_of_a_self_affine_group_may_go_anywhere():
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("web")]}}
    snap = make_snapshot(NODES)
    assert _feasible(make_pod("p", labels={"app": "web"}, affinity=aff), snap) == ["a1", "a2", "b1"]
    snap.add_pod(make_pod("first", labels={"app": "web"}, node="b1"))
    assert _feasible(make_pod("p", labels={"app": "web"}, affinity=aff), snap) == ["b1"]


def test_term_namespaces():
    snap = make_snapshot(NODES, [make_pod("db", labels={"app": "db"}, namespace="data", node="a1")])
    anti_own_ns = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db", "kubernetes.io/hostname")]}}
    assert _feasible(make_pod("p", affinity=anti_own_ns), snap) == ["a1", "a2", "b1"]
    anti_data = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db", "kubernetes.io/hostname", namespaces=["data"])]}}
    assert _feasible(make_pod("p", affinity=anti_data), snap) == ["a2", "b1"]
    anti_all = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("db", "kubernetes.io/hostname", namespaceSelector={})]}}
    assert _feasible(make_pod("p", affinity=anti_all), snap) == ["a2", "b1"]


def test_preferred_terms_score_domains():
    snap = make_snapshot(NODES, [make_pod("db", labels={"app": "db"}, node="a1"), make_pod("web", labels={"app": "web"}, node="b1")])
    pref = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "podAffinityTerm": _term("db")}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": _term("web")}]}}
    scores = scores_of(make_framework(only("InterPodAffinity")), make_pod("p", affinity=pref), snap)
    # zone a: +10, zone b: -5 -> min-max: a 100, b 0
    assert scores == {"a1": 100, "a2": 100, "b1": 0}


def test_existing_pods_required_affinity_counts_with_the_hard_weight():
    lover = make_pod("lover", labels={"app": "x"}, node="b1",
                     affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("web")]}})
    snap = make_snapshot(NODES, [lover])
    scores = scores_of(make_framework(only("InterPodAffinity")), make_pod("p", labels={"app": "web"}), snap)
    assert scores == {"a1": 0, "a2": 0, "b1": 100}
    off = {"InterPodAffinity": {"hardPodAffinityWeight": 0}}
    assert scores_of(make_framework(only("InterPodAffinity", args=off)), make_pod("p", labels={"app": "web"}), snap) == {"a1": 0, "a2": 0, "b1": 0}
