"""``orchestra describe``: metadata, per-kind sections, conditions and the object's events."""

from __future__ import annotations

from datetime import datetime, timezone

from orchestra.cli.describe import Description, describe_object, format_events
from orchestra.client import resolve_kind
from tests.support.cli_server import deployment


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name},
                     "annotations": {"team": "core"}},
        "spec": {"containers": [{
            "name": "web", "image": "nginx:1.25", "command": ["nginx"], "args": ["-g", "daemon off;"],
            "ports": [{"containerPort": 80}],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
            "resources": {"limits": {"cpu": "500m"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
        }], "volumes": [{"name": "data", "emptyDir": {}}]},
    }


def event(name: str, involved: dict, reason: str, message: str, *, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved, "reason": reason, "message": message, "type": "Normal",
        "source": {"component": "test-controller"}, "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def test_pod_sections_and_events(orchestra, create, unique):
    name = unique("pod")
    created = create(pod(name))
    involved = {"kind": "Pod", "name": name, "namespace": "default", "uid": created["metadata"]["uid"]}
    create(event(f"{name}.1", involved, "Scheduled", f"Successfully assigned default/{name}"))
    create(event(f"{name}.2", {**involved, "name": "someone-else"}, "Other", "not about this pod"))
    outcome = orchestra("describe", "pod", name)
    assert outcome.code == 0
    text = outcome.out
    for expected in ("Name:", name, "Namespace:", "Labels:", f"app={name}", "Annotations:", "team: core",
                     "Containers:", "  web:", "Image:", "nginx:1.25", "Port:", "80/TCP", "Command:", "Args:",
                     "Liveness:", "tcp-socket :80", "period=5s", "Limits:", "cpu:", "500m",
                     "Environment:", "MODE:", "prod", "POD_IP:", "(v1:status.podIP)",
                     "Mounts:", "/data from data (ro)", "Volumes:", "Type:", "emptyDir",
                     "Events:", "Scheduled", "test-controller", f"Successfully assigned default/{name}"):
        assert expected in text, expected
    assert "not about this pod" not in text
    name_line = next(line for line in text.splitlines() if line.startswith("Name:"))
    namespace_line = next(line for line in text.splitlines() if line.startswith("Namespace:"))
    assert name_line.index(name) == namespace_line.index("default")  # values aligned


def test_deployment_replicas_strategy_template(orchestra, create, unique):
    name = unique("dep")
    create(deployment(name, replicas=3))
    text = orchestra("describe", f"deploy/{name}").out
    assert "Replicas:" in text and "3 desired | 0 updated | 0 total | 0 available | 0 unavailable" in text
    assert "StrategyType:" in text and "RollingUpdate" in text
    assert "25% max unavailable, 25% max surge" in text
    assert "Selector:" in text and f"app={name}" in text
    assert "Pod Template:" in text and "    web:" in text and "nginx:1.25" in text
    assert "kubectl.kubernetes.io/last-applied-configuration" not in text
    assert text.rstrip().endswith("Events:  <none>")


def test_generic_kind_and_service(orchestra, create, unique):
    name = unique("cm")
    create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"color": "blue"}})
    text = orchestra("describe", "cm", name).out
    assert "Data:" in text and "Color:" in text and "blue" in text
    create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    text = orchestra("describe", "svc", name, "--no-show-events").out
    assert "Type:" in text and "ClusterIP" in text
    assert "http  80/TCP" in text and "8080/TCP" in text
    assert "Events:" not in text


def test_not_found_and_several_objects(orchestra, create, unique):
    a, b = unique("many"), unique("many")
    create(deployment(a, labels={"group": "g1", "app": a}))
    create(deployment(b, labels={"group": "g1", "app": b}))
    both = orchestra("describe", "deploy", "-l", "group=g1")
    assert both.out.count("Name:") == 2
    missing = orchestra("describe", "deploy", "nope")
    assert (missing.code, missing.err) == (1, 'Error from server (NotFound): deployments.apps "nope" not found\n')


def test_node_description_offline():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], "podCIDR": "10.0.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "ok", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                       "capacity": {"cpu": "4", "pods": "110"}, "nodeInfo": {"kernelVersion": "6.1"}}}
    text = describe_object(resolve_kind("nodes"), node, events=[])
    assert "Namespace:" not in text
    assert "dedicated=gpu:NoSchedule" in text
    conditions = text.splitlines()[text.splitlines().index("Conditions:") + 1:][:3]
    assert conditions[0].split() == ["Type", "Status", "LastHeartbeatTime", "Reason", "Message"]
    assert conditions[2].split() == ["Ready", "True", "2026-01-01T00:00:00Z", "KubeletReady", "ok"]
    assert "InternalIP:" in text and "127.0.0.2" in text and "KernelVersion:" in text


def test_events_block_is_sorted_and_counts_repeats():
    now = datetime(2026, 1, 1, 0, 10, tzinfo=timezone.utc)
    later = event("b", {}, "Pulled", "pulled", namespace="x")
    later.update(lastTimestamp="2026-01-01T00:09:00Z", count=3)
    first = event("a", {}, "Scheduled", "assigned", namespace="x")
    lines = format_events([later, first], now)
    assert lines[0] == "Events:"
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[3].split()[:3] == ["Normal", "Scheduled", "10m"]
    assert "60s (x3 over 10m)" in lines[4]


def test_description_alignment():
    d = Description()
    d.field("Name", "a")
    d.field("LongerLabel", "b")
    d.section("Section")
    d.field("X", None, 2)
    assert d.render() == "Name:         a\nLongerLabel:  b\nSection:\n  X:  <none>\n"
