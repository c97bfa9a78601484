"""The plain-Python reference scheduler on hand-computed cases."""

from __future__ import annotations

from scheduler.sched_builders import make_node, make_pod
from orchestra.scheduler.reference import DEFAULT_WEIGHTS, ReferenceScheduler


def test_reasons_come_from_the_first_failing_filter():
    nodes = [make_node("n1", cpu="1", unschedulable=True), make_node("n2", cpu="1"), make_node("n3", labels={"zone": "a"})]
    reasons = ReferenceScheduler().reasons(make_pod("p", cpu="2", nodeSelector={"zone": "a"}), nodes, [])
    assert reasons == {"n1": ["node(s) were unschedulable"], "n2": ["node(s) didn't match Pod's node affinity/selector"], "n3": []}


def test_schedule_picks_the_best_total():
    nodes = [make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")]
    placed = [(make_pod("e", cpu="2", memory="4Gi", node="n2"), "n2")]
    best, totals = ReferenceScheduler().schedule(make_pod("p", cpu="1", memory="2Gi"), nodes, placed)
    # n1: fit 75, balanced 100, taints 100 x3, rest 0 -> 475; n2: fit 25, balanced 100, taints 300 -> 425
    assert best == "n1" and totals == {"n1": 475, "n2": 425}


def test_weights_and_strategy_are_configurable():
    nodes = [make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")]
    placed = [(make_pod("e", cpu="2", memory="4Gi", node="n2"), "n2")]
    ref = ReferenceScheduler(strategy="MostAllocated", weights={"NodeResourcesFit": 1})
    assert ref.schedule(make_pod("p", cpu="1", memory="2Gi"), nodes, placed) == ("n2", {"n1": 25, "n2": 75})
    assert set(DEFAULT_WEIGHTS) == {"TaintToleration", "NodeAffinity", "PodTopologySpread", "InterPodAffinity",
                                    "NodeResourcesFit", "NodeResourcesBalancedAllocation", "ImageLocality"}


def test_requested_to_capacity_ratio_shape_interpolates():
    ref = ReferenceScheduler(strategy="RequestedToCapacityRatio", shape=((0, 0), (50, 10), (100, 0)))
    assert [ref._shape(p) for p in (0, 25, 50, 75, 100)] == [0, 50, 100, 50, 0]


def test_no_feasible_node():
    assert ReferenceScheduler().schedule(make_pod("p", cpu="9"), [make_node("n1")], []) == (None, {})
