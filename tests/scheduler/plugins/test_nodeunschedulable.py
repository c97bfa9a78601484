"""NodeUnschedulable: cordoned nodes take only pods tolerating the unschedulable taint."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only


def test_cordoned_nodes_are_skipped():
    snap = make_snapshot([make_node("n1", unschedulable=True), make_node("n2")])
    fw = make_framework(only("NodeUnschedulable"))
    assert fw.schedule_one(make_pod("p"), snap).node_name == "n2"
    snap.update_node(make_node("n2", unschedulable=True))
    assert fw.schedule_one(make_pod("p"), snap).fit_error.message() == "0/2 nodes are available: 2 node(s) were unschedulable."


def test_the_unschedulable_toleration_lets_the_pod_in():
    snap = make_snapshot([make_node("n1", unschedulable=True)])
    tol = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    assert make_framework(only("NodeUnschedulable")).schedule_one(make_pod("p", tolerations=[tol]), snap).node_name == "n1"
