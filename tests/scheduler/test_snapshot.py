"""The columnar snapshot: incremental node and pod events, trackers, growth."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.sched_builders import make_node, make_pod, make_snapshot
from orchestra.scheduler import ClusterSnapshot, PodInfo, SnapshotError
from orchestra.scheduler.podinfo import AffinityTerm, Selector


def _term(app, ns="default"):
    return AffinityTerm(Selector.from_api({"matchLabels": {"app": app}}, "t"), "zone", frozenset([ns]))


def test_nodes_are_added_updated_and_removed_with_slot_reuse():
    snap = make_snapshot([make_node("n1", labels={"zone": "a"}), make_node("n2")])
    assert snap.num_nodes == 2 and snap.node_names() == ["n1", "n2"]
    snap.update_node(make_node("n1", cpu="8", labels={"rack": "r1"}))
    slot = snap.slot_of("n1")
    assert snap.resources(slot)[0][0] == 8000
    assert snap.table.get_label(slot, snap.keys.get("zone")) == -1
    assert snap.values.items[snap.table.get_label(slot, snap.keys.get("rack"))] == "r1"
    snap.remove_node("n1")
    assert snap.slot_of("n1") == -1 and snap.num_nodes == 1
    assert snap.add_node(make_node("n3")) == slot
    with pytest.raises(SnapshotError, match="n1"):
        snap.remove_node("n1")


def test_pod_requests_are_added_and_removed():
    snap = make_snapshot([make_node("n1")])
    snap.add_pod(make_pod("p", cpu="250m", memory="1Gi", node="n1"))
    _, requested, non_zero = snap.resources(0)
    assert requested == (250, 2**30, 0, 1) and non_zero == (250, 2**30)
    snap.add_pod(make_pod("q", cpu=None, memory=None, node="n1"))
    assert snap.resources(0)[2] == (350, 2**30 + 200 * 2**20)
    snap.add_pod(make_pod("p", cpu="1", memory="1Gi", node="n1"))  # an update replaces
    assert snap.resources(0)[1][0] == 1000
    snap.remove_pod("default/p")
    snap.remove_pod("default/q")
    assert snap.resources(0)[1] == (0, 0, 0, 0)
    assert snap.remove_pod("default/none") is None


def test_pods_wait_for_their_node():
    snap = ClusterSnapshot()
    snap.add_pod(make_pod("p", cpu="1", node="later"))
    snap.add_node(make_node("later"))
    assert snap.resources(snap.slot_of("later"))[1][0] == 1000
    snap.remove_node("later")
    snap.add_node(make_node("later"))
    assert [p.name for p in snap.pods_on(snap.slot_of("later"))] == ["p"]


def test_assume_and_forget():
    snap = make_snapshot([make_node("n1")])
    info = PodInfo.from_dict(make_pod("p", cpu="1"))
    snap.assume_pod(info, "n1")
    assert snap.is_assumed("default/p") and snap.resources(0)[1][0] == 1000
    snap.forget_pod("default/p")
    assert snap.resources(0)[1][0] == 0
    snap.assume_pod(info, "n1")
    snap.add_pod(make_pod("p", cpu="1", node="n1"))  # the informer confirms the binding
    assert not snap.is_assumed("default/p")
    snap.forget_pod("default/p")
    assert snap.resources(0)[1][0] == 1000
    with pytest.raises(SnapshotError):
        snap.assume_pod(info, "nowhere")


def test_trackers_follow_pod_events():
    snap = make_snapshot([make_node("n1"), make_node("n2")], [make_pod("a", labels={"app": "web"}, node="n1")])
    counts = snap.pod_counts((_term("web"),))
    assert list(counts[:2]) == [1, 0]
    snap.add_pod(make_pod("b", labels={"app": "web"}, node="n2"))
    snap.add_pod(make_pod("c", labels={"app": "web"}, node="n2", namespace="other"))
    snap.add_pod(make_pod("d", labels={"app": "api"}, node="n2"))
    assert list(snap.pod_counts((_term("web"),))[:2]) == [1, 1]
    snap.remove_pod("default/a")
    assert list(snap.pod_counts((_term("web"),))[:2]) == [0, 1]


def test_owner_trackers_count_term_carriers():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}
    snap = make_snapshot([make_node("n1")], [make_pod("a", node="n1", affinity=anti), make_pod("b", node="n1", affinity=anti)])
    [(term, carriers)] = snap.owners("anti_required").items()
    assert term.topology_key == "zone" and carriers[0] == 2
    assert snap.any_owner("affinity_preferred", "anti_required") and not snap.any_owner("affinity_preferred", "anti_preferred")
    assert not snap.any_owner()
    snap.remove_pod("default/a")
    snap.remove_pod("default/b")
    assert not snap.any_owner("anti_required")


def test_arrays_grow_past_the_initial_capacity():
    snap = make_snapshot([make_node("n0")], [make_pod("a", labels={"app": "web"}, node="n0")])
    snap.pod_counts((_term("web"),))
    for i in range(1, 100):
        snap.add_node(make_node(f"n{i}"))
    snap.add_pod(make_pod("b", labels={"app": "web"}, node="n99"))
    counts = snap.pod_counts((_term("web"),))
    assert counts[0] == 1 and counts[snap.slot_of("n99")] == 1 and len(counts) >= 100


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 9), st.integers(0, 3), st.sampled_from(["x", "y"])), max_size=40))
def test_incremental_trackers_equal_a_recount(events):
    snap = make_snapshot([make_node(f"n{i}") for i in range(4)])
    tracked = snap.pod_counts((_term("x"),))
    for op, pod, node, app in events:
        if op == "add":
            snap.add_pod(make_pod(f"p{pod}", labels={"app": app}, node=f"n{node}"))
        else:
            snap.remove_pod(f"default/p{pod}")
    expected = [sum(1 for p in snap.pods_on(s) if p.labels.get("app") == "x") for s in range(4)]
    assert list(tracked[:4]) == expected
    requested = [snap.resources(s)[1][3] for s in range(4)]
    assert requested == [len(snap.pods_on(s)) for s in range(4)]


def test_changes_confined_to_one_node_are_told_apart_from_changes_that_reach_others():
    snap = make_snapshot([make_node("a"), make_node("b")])
    since = snap.generation
    assert snap.changed_only_on(0, since) and snap.changed_only_on(1, since)  # nothing changed
    snap.assume_pod(PodInfo.from_dict(make_pod("p1")), "a")
    snap.add_pod(make_pod("p2", node="a"))
    snap.remove_pod("default/p2")
    assert snap.changed_only_on(0, since) and not snap.changed_only_on(1, since)
    snap.add_pod(make_pod("p3", node="b"))
    assert not snap.changed_only_on(0, since) and not snap.changed_only_on(1, since)
    assert snap.changed_only_on(1, snap.generation - 1)
    # a pod with affinity terms reaches every node of its topology domain; a node change, any node
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}]}}
    since = snap.generation
    snap.add_pod(make_pod("p4", node="b", affinity=anti))
    assert not snap.changed_only_on(1, since)
    since = snap.generation
    snap.add_node(make_node("c"))
    assert not snap.changed_only_on(2, since)
    since = snap.generation
    snap.set_namespace_labels("default", {"team": "x"})
    assert not snap.changed_only_on(0, since)
