"""The scheduler cache: nodes and bound pods into the snapshot; assumed pods confirmed, forgotten or expired."""

from __future__ import annotations

from orchestra.scheduler import PodInfo
from orchestra.scheduler.cache import SchedulerCache, is_terminal, raw_pod_key
from scheduler.sched_builders import make_node, make_pod


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def requested_cpu(cache: SchedulerCache, node: str) -> int:
    return cache.snapshot.resources(cache.snapshot.slot_of(node))[1][0]


def bound(pod: dict, node: str) -> dict:
    out = {**pod, "spec": {**pod["spec"], "nodeName": node}}
    return out


def test_nodes_and_bound_pods_feed_the_snapshot():
    cache = SchedulerCache()
    assert cache.add_node(make_node("n1"))
    assert cache.add_pod(make_pod("a", cpu="500m", node="n1"))
    assert not cache.add_pod(make_pod("pending"))  # no node: the queue's business
    assert requested_cpu(cache, "n1") == 500
    cache.update_pod(make_pod("a", cpu="700m", node="n1"))
    assert requested_cpu(cache, "n1") == 700
    cache.remove_pod("default/a")
    assert requested_cpu(cache, "n1") == 0
    cache.remove_node(make_node("n1"))
    assert cache.snapshot.num_nodes == 0


def test_a_status_only_change_keeps_the_placement_and_points_at_the_new_pod():
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("a", cpu="500m", node="n1", labels={"app": "web"})
    cache.add_pod(pod)
    placed = cache.snapshot.pod("default/a")
    newer = {**pod, "status": {"conditions": [{"type": "DisruptionTarget", "status": "True"}]}}
    assert cache.update_pod(newer)
    assert cache.snapshot.pod("default/a") is placed and placed.info.raw is newer
    assert [p.raw for p in cache.snapshot.pods_on(cache.snapshot.slot_of("n1"))] == [newer]
    assert requested_cpu(cache, "n1") == 500
    # a change placement reads (labels, start time) re-reads the pod
    relabelled = {**newer, "metadata": {**newer["metadata"], "labels": {"app": "db"}}}
    cache.update_pod(relabelled)
    assert cache.snapshot.pod("default/a").info.labels == {"app": "db"}
    started = {**relabelled, "status": {"startTime": "2026-01-01T00:00:00Z"}}
    cache.update_pod(started)
    assert cache.snapshot.pod("default/a").info.start_time == "2026-01-01T00:00:00Z"
    assert requested_cpu(cache, "n1") == 500


def test_an_unreadable_node_is_skipped():
    bad = make_node("n1")
    bad["spec"]["taints"] = [{"key": "k", "effect": "Sometimes"}]
    assert not SchedulerCache().add_node(bad)


def test_terminal_pods_release_their_node():
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("a", cpu="1", node="n1")
    cache.add_pod(pod)
    done = {**pod, "status": {"phase": "Succeeded"}}
    assert is_terminal(done) and not cache.add_pod(done)
    assert requested_cpu(cache, "n1") == 0


def test_assumed_pod_is_confirmed_by_its_binding_event_without_reconversion():
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pending = make_pod("a", cpu="250m")
    info = PodInfo.from_dict(pending)
    cache.assume(info, "n1")
    assert cache.is_assumed("default/a") and requested_cpu(cache, "n1") == 250
    cache.finish_binding("default/a")
    assert cache.add_pod(bound(pending, "n1"))
    assert not cache.is_assumed("default/a")
    assert cache.snapshot.pod("default/a").info is info and not cache.snapshot.pod("default/a").assumed
    assert requested_cpu(cache, "n1") == 250 and cache.confirmed == 1


def test_assumed_pod_bound_elsewhere_moves():
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2"))
    pending = make_pod("a", cpu="250m")
    cache.assume(PodInfo.from_dict(pending), "n1")
    cache.add_pod(bound(pending, "n2"), "default/a")  # the caller's key, as the scheduler passes it
    assert requested_cpu(cache, "n1") == 0 and requested_cpu(cache, "n2") == 250
    assert cache.snapshot.pod("default/a").slot == cache.snapshot.slot_of("n2")
    # a binding event naming a node the snapshot does not know yet: the pod waits for it
    cache.assume(PodInfo.from_dict(make_pod("b", cpu="100m")), "n1")
    assert cache.add_pod(bound(make_pod("b", cpu="100m"), "n3"), "default/b")
    assert cache.snapshot.pod("default/b") is None and requested_cpu(cache, "n1") == 0


def test_forget_uncounts_and_leaves_confirmed_pods_alone():
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    cache.assume(PodInfo.from_dict(make_pod("a", cpu="1")), "n1")
    cache.forget("default/a")
    assert requested_cpu(cache, "n1") == 0
    cache.add_pod(make_pod("b", cpu="1", node="n1"))
    cache.forget("default/b")
    assert requested_cpu(cache, "n1") == 1000


def test_unconfirmed_assumed_pods_expire_after_the_ttl():
    clock = Clock()
    cache = SchedulerCache(assumed_ttl=30, clock=clock)
    cache.add_node(make_node("n1"))
    cache.assume(PodInfo.from_dict(make_pod("a", cpu="1")), "n1")
    clock.now = 1000
    assert cache.cleanup_expired() == []  # binding still in flight: never expires
    cache.finish_binding("default/a")
    clock.now += 29
    assert cache.cleanup_expired() == []
    clock.now += 1
    assert cache.cleanup_expired() == ["default/a"]
    assert requested_cpu(cache, "n1") == 0


def test_pods_wait_for_their_node():
    cache = SchedulerCache()
    cache.add_pod(make_pod("a", cpu="1", node="later"))
    cache.add_node(make_node("later"))
    assert requested_cpu(cache, "later") == 1000


def test_raw_pod_key_defaults_the_namespace():
    assert raw_pod_key({"metadata": {"name": "x"}}) == "default/x"
