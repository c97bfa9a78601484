"""NodeResourcesFit: fit filter and the three scoring strategies (Kubernetes' formulas)."""

import pytest

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of
from orchestra.scheduler import ProfileError


def test_insufficient_resources_are_reported_per_resource_and_sorted():
    snap = make_snapshot([make_node("n1", cpu="1", memory="1Gi"), make_node("n2", cpu="4", memory="1Gi"),
                          make_node("n3", cpu="4", memory="8Gi", pods=1)],
                         [make_pod("busy", node="n3")])
    fw = make_framework(only("NodeResourcesFit"))
    result = fw.schedule_one(make_pod("p", cpu="2", memory="2Gi"), snap)
    assert result.node_name is None
    assert result.fit_error.reasons == {"Insufficient cpu": 1, "Insufficient memory": 2, "Too many pods": 1}
    assert result.fit_error.message() == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 Too many pods, 2 Insufficient memory.")


def test_a_pod_without_requests_fits_a_full_node_except_for_the_pod_count():
    snap = make_snapshot([make_node("n1", cpu="1", memory="1Gi")], [make_pod("hog", cpu="1", memory="1Gi", node="n1")])
    fw = make_framework(only("NodeResourcesFit"))
    assert fw.schedule_one(make_pod("p", cpu=None, memory=None), snap).node_name == "n1"


def test_least_allocated_score():
    snap = make_snapshot([make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")],
                         [make_pod("e", cpu="2", memory="4Gi", node="n2")])
    scores = scores_of(make_framework(only("NodeResourcesFit")), make_pod("p", cpu="1", memory="2Gi"), snap)
    assert scores == {"n1": 75, "n2": 25}


def test_least_allocated_uses_non_zero_defaults_for_missing_requests():
    snap = make_snapshot([make_node("n1", cpu="1", memory="2Gi"), make_node("n2", cpu="2", memory="2Gi")])
    scores = scores_of(make_framework(only("NodeResourcesFit")), make_pod("p", cpu=None, memory=None), snap)
    # cpu (1000-100)*100/1000 = 90, memory (2048-200)*100/2048 = 90 -> 90; n2: cpu 95 -> (95+90)/2 = 92
    assert scores == {"n1": 90, "n2": 92}


def test_most_allocated_score():
    args = {"NodeResourcesFit": {"scoringStrategy": {"type": "MostAllocated"}}}
    snap = make_snapshot([make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")],
                         [make_pod("e", cpu="2", memory="4Gi", node="n2")])
    scores = scores_of(make_framework(only("NodeResourcesFit", args=args)), make_pod("p", cpu="1", memory="2Gi"), snap)
    assert scores == {"n1": 25, "n2": 75}


def test_requested_to_capacity_ratio_follows_the_shape():
    args = {"NodeResourcesFit": {"scoringStrategy": {
        "type": "RequestedToCapacityRatio",
        "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}],
        "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}}}
    snap = make_snapshot([make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")])
    scores = scores_of(make_framework(only("NodeResourcesFit", args=args)), make_pod("p", cpu="1", memory="4Gi"), snap)
    # cpu 25% -> 25 (x3), memory 50% -> 50 (x1): round(125 / 4) = 31
    assert scores == {"n1": 31, "n2": 31}


@pytest.mark.parametrize("args, fragment", [
    ({"scoringStrategy": {"type": "Cheapest"}}, "scoringStrategy.type"),
    ({"scoringStrategy": {"resources": [{"name": "gpu", "weight": 1}]}}, "resources[0].name"),
    ({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}}, "resources[0].weight"),
    ({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 11}]}}}, "score"),
    ({"colour": "red"}, "unknown argument"),
])
def test_bad_arguments_are_refused_with_the_field_named(args, fragment):
    with pytest.raises(ProfileError, match="NodeResourcesFit") as err:
        make_framework(only("NodeResourcesFit", args={"NodeResourcesFit": args}))
    assert fragment in str(err.value)


def test_extended_resources_are_checked():
    node = make_node("n1")
    node["status"]["allocatable"]["example.com/gpu"] = "1"
    snap = make_snapshot([node, make_node("n2")])
    pod = make_pod("p")
    pod["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    result = make_framework(only("NodeResourcesFit")).schedule_one(pod, snap)
    assert result.node_name == "n1"
    used = make_pod("g", node="n1")
    used["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    snap.add_pod(used)
    result = make_framework(only("NodeResourcesFit")).schedule_one(pod, snap)
    assert result.fit_error.reasons == {"Insufficient example.com/gpu": 2}
