"""DefaultPreemption: victims of lowest priority, fewest victims, nominated node, messages."""

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.plugins.scheduling.defaultpreemption import DefaultPreemption
from orchestra.scheduler import PodInfo
from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only

PROFILE = only("NodeResourcesFit", "NodeAffinity", "DefaultPreemption", pct=100)
#: Kubernetes' order: NodeResourcesFit is the last filter a resource-only pod does not skip.
ORDERED = only("NodeAffinity", "NodeResourcesFit", "InterPodAffinity", "DefaultPreemption", pct=100)


def test_lower_priority_pods_are_evicted_with_reprieve():
    snap = make_snapshot([make_node("n1", cpu="4")], [
        make_pod("a", cpu="2", priority=1, node="n1"), make_pod("b", cpu="1", priority=2, node="n1"),
        make_pod("c", cpu="1", priority=100, node="n1")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="2", priority=10), snap)
    assert result.node_name is None
    assert result.nominated_node == "n1"
    assert [v.name for v in result.victims] == ["a"]
    assert sorted(p.name for p in snap.pods_on(0)) == ["a", "b", "c"]  # the dry run left the snapshot as it was


def test_the_node_with_the_least_important_victims_wins():
    snap = make_snapshot([make_node("n1", cpu="4"), make_node("n2", cpu="4")], [
        make_pod("a", cpu="4", priority=5, node="n1"),
        make_pod("d", cpu="1", priority=0, node="n2"), make_pod("e", cpu="1", priority=0, node="n2"),
        make_pod("f", cpu="2", priority=0, node="n2")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="2", priority=10), snap)
    assert result.nominated_node == "n2"
    assert [v.name for v in result.victims] == ["f"]


def test_fewest_victims_break_ties():
    snap = make_snapshot([make_node("n1", cpu="2"), make_node("n2", cpu="2")], [
        make_pod("a", cpu="1", priority=1, node="n1"), make_pod("b", cpu="1", priority=1, node="n1"),
        make_pod("c", cpu="2", priority=1, node="n2")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="2", priority=10), snap)
    assert result.nominated_node == "n2" and [v.name for v in result.victims] == ["c"]


def test_messages_when_preemption_cannot_help():
    snap = make_snapshot([make_node("n1", cpu="1"), make_node("n2", cpu="4", labels={"zone": "x"})],
                         [make_pod("big", cpu="1", priority=50, node="n1")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="2", priority=10, nodeSelector={"zone": "y"}), snap)
    assert result.fit_error.message() == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling..")
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="8", priority=100), snap)
    assert result.fit_error.message() == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod..")


def test_preemption_policy_never():
    snap = make_snapshot([make_node("n1", cpu="1")], [make_pod("a", cpu="1", node="n1")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="1", priority=10, preemptionPolicy="Never"), snap)
    assert result.nominated_node == ""
    assert result.fit_error.message().endswith("preemption: not eligible due to preemptionPolicy=Never..")



@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_arithmetic_dry_run_agrees_with_the_general_one(data):
    nodes = [make_node(f"n{i}", cpu=str(data.draw(st.integers(1, 4))), pods=data.draw(st.integers(2, 5))) for i in range(data.draw(st.integers(1, 4)))]
    pods = [make_pod(f"e{j}", cpu=f"{data.draw(st.integers(1, 20)) * 100}m", priority=data.draw(st.integers(0, 20)),
                     node=f"n{data.draw(st.integers(0, len(nodes) - 1))}") for j in range(data.draw(st.integers(0, 10)))]
    pod = make_pod("p", cpu=f"{data.draw(st.integers(1, 40)) * 100}m", priority=data.draw(st.integers(0, 20)))
    seed = data.draw(st.integers(0, 1000))
    fw = make_framework(ORDERED, seed=seed)
    snap = make_snapshot(nodes, pods)
    assert DefaultPreemption._resources_only(fw, PodInfo.from_dict(pod), snap)
    fast = fw.schedule_one(pod, snap)
    original = DefaultPreemption.__dict__["_resources_only"]
    DefaultPreemption._resources_only = staticmethod(lambda *a: False)
    try:
        slow = make_framework(ORDERED, seed=seed).schedule_one(pod, make_snapshot(nodes, pods))
    finally:
        DefaultPreemption._resources_only = original
    assert fast.node_name == slow.node_name and fast.nominated_node == slow.nominated_node, (fast.status, slow.status)
    assert [v.key for v in fast.victims] == [v.key for v in slow.victims]
    assert (fast.fit_error.message() if fast.fit_error else None) == (slow.fit_error.message() if slow.fit_error else None)
