"""NodeResourcesBalancedAllocation: 100 × (1 − std-dev of the resource fractions)."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only, scores_of


def test_two_resources_use_half_the_difference():
    snap = make_snapshot([make_node("n1", cpu="4", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")],
                         [make_pod("e", cpu="1", memory="0", node="n2")])
    scores = scores_of(make_framework(only("NodeResourcesBalancedAllocation")), make_pod("p", cpu="1", memory="4Gi"), snap)
    # n1: |0.25 - 0.5| / 2 = 0.125 -> 87; n2: |0.5 - 0.5| / 2 = 0 -> 100
    assert scores == {"n1": 87, "n2": 100}


def test_fractions_are_capped_at_one():
    snap = make_snapshot([make_node("n1", cpu="1", memory="8Gi"), make_node("n2", cpu="4", memory="8Gi")])
    scores = scores_of(make_framework(only("NodeResourcesBalancedAllocation")), make_pod("p", cpu="2", memory="8Gi"), snap)
    # n1 is filtered by nothing here (no fit filter): cpu fraction 2 -> 1, memory 1 -> std 0
    assert scores == {"n1": 100, "n2": 75}


def test_three_resources_use_the_standard_deviation():
    args = {"NodeResourcesBalancedAllocation": {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}]}}
    node = make_node("n1", cpu="4", memory="4Gi")
    node["status"]["allocatable"]["ephemeral-storage"] = "4Gi"
    node2 = make_node("n2", cpu="4", memory="4Gi")
    node2["status"]["allocatable"]["ephemeral-storage"] = "4Gi"
    pod = make_pod("p", cpu="1", memory="2Gi")
    pod["spec"]["containers"][0]["resources"]["requests"]["ephemeral-storage"] = "3Gi"
    scores = scores_of(make_framework(only("NodeResourcesBalancedAllocation", args=args)), pod, make_snapshot([node, node2]))
    # fractions 0.25, 0.5, 0.75: mean 0.5, std sqrt((0.0625+0+0.0625)/3) = 0.2041 -> 79
    assert scores == {"n1": 79, "n2": 79}


def test_best_effort_pods_are_not_scored():
    snap = make_snapshot([make_node("n1"), make_node("n2")], [make_pod("e", cpu="3", memory="0", node="n2")])
    assert scores_of(make_framework(only("NodeResourcesBalancedAllocation")), make_pod("p", cpu=None, memory=None), snap) == {"n1": 0, "n2": 0}


def test_a_resource_listed_twice_is_rejected():
    import pytest

    from orchestra.scheduler import ProfileError

    args = {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "cpu"}]}
    with pytest.raises(ProfileError, match=r"resources\[2\].name: 'cpu' is listed twice"):
        make_framework(only("NodeResourcesBalancedAllocation", args={"NodeResourcesBalancedAllocation": args}))
