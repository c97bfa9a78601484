"""Compiling node affinity and tolerations for the kernel."""

from __future__ import annotations

from scheduler.sched_builders import make_node, make_pod, make_snapshot
from orchestra.scheduler import PodInfo
from orchestra.scheduler.query import preferred_matchers, required_matcher, tolerated_masks, tolerates_unschedulable


def test_required_matcher_is_none_without_selector_or_affinity_and_cached_otherwise():
    snap = make_snapshot([make_node("n1", labels={"zone": "a"}), make_node("n2", labels={"zone": "b"})])
    assert required_matcher(snap, PodInfo.from_dict(make_pod("p"))) is None
    info = PodInfo.from_dict(make_pod("p", nodeSelector={"zone": "b"}))
    m = required_matcher(snap, info)
    assert [m.match(snap.table, s) for s in (0, 1)] == [False, True]
    assert required_matcher(snap, PodInfo.from_dict(make_pod("q", nodeSelector={"zone": "b"}))) is m


def test_preferred_matchers_carry_weights():
    snap = make_snapshot([make_node("n1", labels={"zone": "a"})])
    prefs = [{"weight": 3, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]
    matchers, weights = preferred_matchers(snap, PodInfo.from_dict(make_pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": prefs}})))
    assert weights == [3] and matchers[0].match(snap.table, 0)


def test_toleration_masks_per_interned_taint():
    snap = make_snapshot([make_node("n1", taints=[{"key": "a", "value": "", "effect": "NoSchedule"},
                                                  {"key": "b", "value": "", "effect": "PreferNoSchedule"}])])
    info = PodInfo.from_dict(make_pod("p", tolerations=[{"key": "a", "operator": "Exists", "effect": "NoSchedule"},
                                                       {"key": "b", "operator": "Exists"}]))
    hard, soft = tolerated_masks(snap, info)
    assert list(hard) == [1, 1] and list(soft) == [0, 1]
    assert not tolerates_unschedulable(info)
    assert tolerates_unschedulable(PodInfo.from_dict(make_pod("q", tolerations=[{"operator": "Exists"}])))


def test_spread_domains_follow_node_changes():
    from orchestra.scheduler.query import spread_domains

    snap = make_snapshot([make_node("n1", labels={"zone": "a"}), make_node("n2", labels={"zone": "b"}),
                          make_node("n3", taints=[{"key": "k", "value": "", "effect": "NoSchedule"}], labels={"zone": "a"})])
    pod = PodInfo.from_dict(make_pod("p"))
    kid = snap.intern_key("zone")
    zone = {v: snap.values.get(v) for v in ("a", "b", "c")}

    def domains(honor_taints: bool = True) -> dict[int, list[int]]:
        values, offsets, slots = spread_domains(snap, pod, True, honor_taints, [kid], kid)
        return {v: list(slots[offsets[j]:offsets[j + 1]]) for j, v in enumerate(values)}

    assert domains() == {zone["a"]: [0], zone["b"]: [1]}
    assert domains(honor_taints=False) == {zone["a"]: [0, 2], zone["b"]: [1]}
    snap.update_node(make_node("n2", labels={"zone": "c"}))
    zone["c"] = snap.values.get("c")
    assert domains() == {zone["a"]: [0], zone["c"]: [1]}
    snap.remove_node("n1")
    assert domains() == {zone["c"]: [1]}
