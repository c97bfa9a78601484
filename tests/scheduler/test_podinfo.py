"""Converting pod and node wire dicts into PodInfo / NodeInfo."""

from __future__ import annotations

import pytest

from scheduler.sched_builders import make_node, make_pod
from orchestra.scheduler import NodeInfo, PodInfo, PodInfoError
from orchestra.scheduler.podinfo import HostPort, Selector, Toleration, normalized_image_name


def _container(cpu=None, memory=None, **extra):
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "image": "x", "resources": {"requests": requests}, **extra}


def test_requests_sum_containers_and_default_non_zero():
    pod = make_pod("p", cpu="250m", memory="1Gi")
    pod["spec"]["containers"].append(_container())
    info = PodInfo.from_dict(pod)
    assert info.requests == (250, 2**30, 0)
    assert info.non_zero == (350, 2**30 + 200 * 2**20)
    assert info.key == "default/p" and info.priority == 0 and info.num_containers == 2


def test_init_containers_sidecars_and_overhead():
    spec = {"containers": [_container("1", "1Gi")],
            "initContainers": [_container("2", "512Mi"), _container("500m", "256Mi", restartPolicy="Always")],
            "overhead": {"cpu": "100m"}}
    info = PodInfo.from_dict({"metadata": {"name": "p"}, "spec": spec})
    # regular init 2 cpu; sidecar adds 500m to the containers: max(2, 1 + 0.5) + 0.1
    assert info.requests[0] == 2100
    assert info.requests[1] == max(512, 1024 + 256) * 2**20
    assert info.images == ("x:latest", "x:latest", "x:latest")


def test_quantities_round_up_and_bad_ones_name_the_field():
    assert PodInfo.from_dict(make_pod("p", cpu="0.0001", memory="1.5")).requests[:2] == (1, 2)
    with pytest.raises(PodInfoError, match=r"spec.containers\[0\].resources.requests.cpu"):
        PodInfo.from_dict(make_pod("p", cpu="lots"))


def test_terms_selectors_and_ports():
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": "zone"}]}}
    pod = make_pod("p", namespace="ns", affinity=affinity, nodeSelector={"b": "2", "a": "1"},
                   tolerations=[{"key": "k", "operator": "Exists"}])
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]
    info = PodInfo.from_dict(pod)
    [term] = info.anti_required
    assert term.namespaces == frozenset({"ns"}) and term.topology_key == "zone"
    assert info.node_selector == (("a", "1"), ("b", "2"))
    assert info.tolerations == (Toleration("k", "Exists"),)
    assert info.host_ports == (HostPort("TCP", "0.0.0.0", 8080),)
    same = PodInfo.from_dict(make_pod("q", namespace="ns", affinity=affinity))
    assert hash(same.anti_required[0]) == hash(term)  # equal terms share snapshot trackers


@pytest.mark.parametrize("spec, fragment", [
    ({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone"}]}, "maxSkew"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]}, "whenUnsatisfiable"),
    ({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}}, "topologyKey"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["x"]}]}]}}}}, "one integer"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Near"}]}]}}}}, "operator"),
])
def test_malformed_specs_are_refused_with_the_field_named(spec, fragment):
    with pytest.raises(PodInfoError) as err:
        PodInfo.from_dict(make_pod("p", **spec))
    assert fragment in str(err.value) and "pod default/p" in str(err.value)


def test_selectors():
    sel = Selector.from_api({"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, "s")
    assert sel.matches({"app": "a"}) and sel.matches({"app": "a", "tier": "web"})
    assert not sel.matches({"app": "a", "tier": "db"}) and not sel.matches({})
    assert not Selector.from_api(None, "s").matches({}) and Selector.from_api({}, "s").matches({"x": "y"})


def test_nodes():
    node = make_node("n1", cpu="2", memory="4Gi", pods=10, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}],
                     images=[{"names": ["a:1", "a@sha256:x"], "sizeBytes": 5}])
    node["status"]["allocatable"]["example.com/gpu"] = "2"
    info = NodeInfo.from_dict(node)
    assert info.allocatable == (2000, 4 * 2**30, 0, 10)
    assert info.scalar_allocatable == {"example.com/gpu": 2}
    assert info.images == ((("a:1", "a@sha256:x"), 5),)
    with pytest.raises(PodInfoError, match="effect"):
        NodeInfo.from_dict(make_node("n2", taints=[{"key": "k", "effect": "Sometimes"}]))


def test_image_names_are_normalized():
    assert normalized_image_name("busybox") == "busybox:latest"
    assert normalized_image_name("reg:5000/app") == "reg:5000/app:latest"
    assert normalized_image_name("reg:5000/app:1") == "reg:5000/app:1"


def test_priority_is_a_32_bit_integer():
    from orchestra.scheduler.podinfo import PodInfoError

    assert PodInfo.from_dict(make_pod("p", priority=2**31 - 1)).priority == 2**31 - 1
    for bad in (2**31, -(2**31) - 1, "high", True):
        pod = make_pod("p")
        pod["spec"]["priority"] = bad
        with pytest.raises(PodInfoError, match="pod default/p: spec.priority must be a 32-bit integer"):
            PodInfo.from_dict(pod)


def test_start_micros_orders_by_time_and_puts_unstarted_pods_last():
    from orchestra.scheduler.podinfo import NOT_STARTED, start_micros

    assert start_micros("2024-01-01T00:00:00.5Z") < start_micros("2024-01-01T00:00:01Z")
    assert start_micros("2024-01-01T01:00:00+01:00") == start_micros("2024-01-01T00:00:00Z")
    assert start_micros("") == start_micros("yesterday") == NOT_STARTED > start_micros("2999-01-01T00:00:00Z")


def test_start_micros_and_inter_pod_terms_are_read_once_from_the_pod():
    from orchestra.scheduler.podinfo import NOT_STARTED, start_micros

    started = make_pod("p")
    started["status"] = {"startTime": "2024-01-01T00:00:01Z"}
    started["metadata"]["creationTimestamp"] = "2023-01-01T00:00:00Z"
    info = PodInfo.from_dict(started)
    assert info.start_micros == start_micros("2024-01-01T00:00:01Z")  # the start time before the creation
    assert info.has_inter_pod_terms is False
    created = make_pod("q")
    created["metadata"]["creationTimestamp"] = "2023-01-01T00:00:00Z"
    assert PodInfo.from_dict(created).start_micros == start_micros("2023-01-01T00:00:00Z")
    assert PodInfo.from_dict(make_pod("r")).start_micros == NOT_STARTED
    anti = make_pod("s")
    anti["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    assert PodInfo.from_dict(anti).has_inter_pod_terms is True
    # derived, so neither takes part in equality nor changes when only the wire dict does
    assert info.with_raw({}).start_micros == info.start_micros
