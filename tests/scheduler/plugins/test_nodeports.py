"""NodePorts: host port conflicts by protocol, port and overlapping host IP."""

from scheduler.sched_builders import make_framework, make_node, make_pod, make_snapshot, only


def _with_port(pod, port, protocol="TCP", host_ip=None):
    p = {"containerPort": port, "hostPort": port, "protocol": protocol}
    if host_ip:
        p["hostIP"] = host_ip
    pod["spec"]["containers"][0]["ports"] = [p]
    return pod


def test_a_used_port_rejects_the_node():
    snap = make_snapshot([make_node("n1"), make_node("n2")], [_with_port(make_pod("web", node="n1"), 80)])
    fw = make_framework(only("NodePorts"))
    assert fw.schedule_one(_with_port(make_pod("p"), 80), snap).node_name == "n2"
    snap.add_pod(_with_port(make_pod("web2", node="n2"), 80))
    result = fw.schedule_one(_with_port(make_pod("p"), 80), snap)
    assert result.fit_error.message() == "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."


def test_protocol_and_specific_ips_do_not_conflict_but_wildcard_does():
    snap = make_snapshot([make_node("n1")], [_with_port(make_pod("web", node="n1"), 80, host_ip="127.0.0.1")])
    fw = make_framework(only("NodePorts"))
    assert fw.schedule_one(_with_port(make_pod("p"), 80, protocol="UDP"), snap).node_name == "n1"
    assert fw.schedule_one(_with_port(make_pod("p"), 80, host_ip="127.0.0.2"), snap).node_name == "n1"
    assert fw.schedule_one(_with_port(make_pod("p"), 80, host_ip="127.0.0.1"), snap).node_name is None
    assert fw.schedule_one(_with_port(make_pod("p"), 80), snap).node_name is None


def test_removing_the_pod_frees_the_port():
    snap = make_snapshot([make_node("n1")], [_with_port(make_pod("web", node="n1"), 80)])
    snap.remove_pod("default/web")
    assert make_framework(only("NodePorts")).schedule_one(_with_port(make_pod("p"), 80), snap).node_name == "n1"
