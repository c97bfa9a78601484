"""NodeName: spec.nodeName pins the pod."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only


def test_only_the_named_node_fits():
    snap = make_snapshot([make_node("n1"), make_node("n2"), make_node("n3")])
    fw = make_framework(only("NodeName"))
    assert fw.schedule_one(make_pod("p", nodeName="n2"), snap).node_name == "n2"


def test_an_unknown_node_rejects_every_node():
    snap = make_snapshot([make_node("n1"), make_node("n2")])
    result = make_framework(only("NodeName")).schedule_one(make_pod("p", nodeName="gone"), snap)
    assert result.fit_error.message() == "0/2 nodes are available: 2 node(s) didn't match the requested node name."
