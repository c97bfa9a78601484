"""DefaultPreemption: victims of lowest priority, fewest victims, nominated node, messages."""

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.plugins.scheduling.defaultpreemption import DefaultPreemption
from orchestra.scheduler import PodInfo
from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only

PROFILE = only("NodeResourcesFit", "NodeAffinity", "DefaultPreemption", pct=100)
#: Kubernetes' order: NodeResourcesFit is the last filter a resource-only pod does not skip.
ORDERED = only("NodeAffinity", "NodeResourcesFit", "InterPodAffinity", "DefaultPreemption", pct=100)


def _preemption(fw) -> DefaultPreemption:
    """The framework's DefaultPreemption plugin."""
    return next(p for p in fw.plugins("postFilter") if isinstance(p, DefaultPreemption))


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
        "1 Preemption is not helpful for scheduling.")
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="8", priority=100), snap)
    assert result.fit_error.message() == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod.")


def test_preemption_policy_never():
    snap = make_snapshot([make_node("n1", cpu="1")], [make_pod("a", cpu="1", node="n1")])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="1", priority=10, preemptionPolicy="Never"), snap)
    assert result.nominated_node == ""
    assert result.fit_error.message().endswith("preemption: not eligible due to preemptionPolicy=Never.")



def test_the_profile_decides_once_whether_dry_runs_can_be_arithmetic():
    snap = make_snapshot([make_node("n1", cpu="4")], [make_pod("low", cpu="3", priority=0, node="n1")])
    plain = PodInfo.from_dict(make_pod("p", cpu="2", priority=10))
    port_pod = make_pod("q", cpu="2", priority=10)
    port_pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    with_port = PodInfo.from_dict(port_pod)
    # NodeAffinity after NodeResourcesFit: a node rejected for resources may still fail it
    late_affinity = _preemption(make_framework(PROFILE))
    # Kubernetes' order: NodeResourcesFit is the last filter a plain pod does not skip
    in_order = _preemption(make_framework(ORDERED))
    for _ in range(2):  # the second answer comes from what the first worked out
        assert not late_affinity._resources_only(plain, snap)
        assert in_order._resources_only(plain, snap)
        assert not in_order._resources_only(with_port, snap)  # the pod's part still counts
    assert (late_affinity._arithmetic_profile, in_order._arithmetic_profile) == (False, True)


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
    assert _preemption(fw)._resources_only(PodInfo.from_dict(pod), snap)
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


# ---------------------------------------------------------------------------- against the reference

from orchestra.scheduler.framework import FitError  # noqa: E402
from orchestra.scheduler.reference import FILTER_ORDER, ReferenceScheduler  # noqa: E402

#: Every filter in Kubernetes' order, and every node a candidate (so the choice is over all of them).
EVERY_NODE = only(*FILTER_ORDER, "DefaultPreemption", pct=100,
                  args={"DefaultPreemption": {"minCandidateNodesPercentage": 100, "minCandidateNodesAbsolute": 0}})
STARTS = ["", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:01Z", "2023-12-31T23:59:59+00:00"]


@st.composite
def preemption_clusters(draw, ports: bool):
    nodes = []
    for i in range(draw(st.integers(1, 6))):
        nodes.append(make_node(f"n{i}", cpu=str(draw(st.integers(1, 4))), memory=f"{draw(st.integers(1, 4))}Gi",
                               pods=draw(st.integers(1, 6)), unschedulable=draw(st.integers(0, 5)) == 0,
                               labels={"zone": draw(st.sampled_from(["a", "b"]))}))

    def pod(name, node):
        extra = {}
        if ports and draw(st.booleans()):
            extra["containers"] = [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": draw(st.sampled_from([80, 81]))}],
                                    "resources": {"requests": {"cpu": f"{draw(st.integers(1, 20)) * 100}m"}}}]
        p = make_pod(name, cpu=f"{draw(st.integers(1, 20)) * 100}m", memory=f"{draw(st.integers(0, 8)) * 256}Mi",
                     priority=draw(st.integers(0, 4)) * 5, node=node, **extra)
        start = draw(st.sampled_from(STARTS))
        if start:
            p["status"] = {"startTime": start}
        return p

    placed = [pod(f"e{j}", f"n{draw(st.integers(0, len(nodes) - 1))}") for j in range(draw(st.integers(0, 14)))]
    incoming = pod("p", None)
    incoming["spec"]["priority"] = draw(st.integers(0, 4)) * 5 + 3
    if draw(st.integers(0, 3)) == 0:
        incoming["spec"]["nodeSelector"] = {"zone": "a"}
    return nodes, placed, incoming


def _check_against_reference(nodes, placed, incoming, seed):
    result = make_framework(EVERY_NODE, seed=seed).schedule_one(incoming, make_snapshot(nodes, placed))
    ref = ReferenceScheduler()
    feasible = [n for n, r in ref.reasons(incoming, nodes, [(p, p["spec"]["nodeName"]) for p in placed]).items() if not r]
    if feasible:
        assert result.node_name in feasible
        return
    assert result.node_name is None
    victims, reasons = ref.preemption_candidates(incoming, nodes, [(p, p["spec"]["nodeName"]) for p in placed])
    if victims:
        assert result.nominated_node in ref.best_preemption_nodes(victims)
        assert [v.key for v in result.victims] == [v.key for v in victims[result.nominated_node]]
        return
    assert result.nominated_node == "" and not result.victims
    counts: dict[str, int] = {}
    for rs in reasons.values():
        for r in rs:
            counts[r] = counts.get(r, 0) + 1
    info = PodInfo.from_dict(incoming)
    assert result.fit_error.post_filter_msg == "preemption: " + FitError(info, len(nodes), counts).message()


@settings(max_examples=250, deadline=None)
@given(preemption_clusters(ports=False), st.integers(0, 1000))
def test_the_kernel_dry_run_agrees_with_the_reference(cluster, seed):
    nodes, placed, incoming = cluster
    assert _preemption(make_framework(EVERY_NODE))._resources_only(PodInfo.from_dict(incoming), make_snapshot(nodes, placed))
    _check_against_reference(nodes, placed, incoming, seed)


@settings(max_examples=120, deadline=None)
@given(preemption_clusters(ports=True), st.integers(0, 1000))
def test_the_general_dry_run_agrees_with_the_reference(cluster, seed):
    _check_against_reference(*cluster, seed)


def test_victims_go_by_start_time_not_by_its_spelling():
    early = make_pod("early", cpu="2", priority=1, node="n1")
    early["status"] = {"startTime": "2024-01-01T00:00:00.5Z"}  # sorts after "...:00Z" as text, is earlier than ":01Z"
    late = make_pod("late", cpu="2", priority=1, node="n1")
    late["status"] = {"startTime": "2024-01-01T00:00:01Z"}
    snap = make_snapshot([make_node("n1", cpu="4")], [late, early])
    result = make_framework(PROFILE).schedule_one(make_pod("p", cpu="2", priority=10), snap)
    # the earlier-started pod is more important: it is put back first and stays
    assert [v.name for v in result.victims] == ["late"]


def test_kernel_and_snapshot_keep_pod_ids_in_step():
    snap = make_snapshot([make_node("n1")], [make_pod("a", node="n1"), make_pod("b", node="n1")])
    ids = snap.table.pod_ids(0)
    assert [snap.pod_by_id(i).info.name for i in ids] == ["a", "b"]
    snap.remove_pod("default/a")
    assert [snap.pod_by_id(i).info.name for i in snap.table.pod_ids(0)] == ["b"]
    snap.remove_node("n1")
    snap.add_node(make_node("n1"))
    assert [snap.pod_by_id(i).info.name for i in snap.table.pod_ids(0)] == ["b"]
