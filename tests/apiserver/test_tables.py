"""Tests for orchestra.apiserver.tables: server-side Tables as kubectl prints them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.api import registry
from orchestra.apiserver.errors import BadRequest
from orchestra.apiserver.tables import human_duration, printer_for, to_table

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rtype(kind: str, api_version: str = "v1"):
    found = registry.by_kind(api_version, kind)
    assert found is not None
    return found


def cells(kind: str, obj: dict, api_version: str = "v1") -> list:
    return to_table(rtype(kind, api_version), [obj], now=NOW)["rows"][0]["cells"]


def columns(kind: str, api_version: str = "v1") -> list[tuple[str, int]]:
    table = to_table(rtype(kind, api_version), [], now=NOW)
    return [(c["name"], c["priority"]) for c in table["columnDefinitions"]]


# --------------------------------------------------------------------------- HumanDuration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (190, "3m10s"),
        (599, "9m59s"), (600, "10m"), (3600, "60m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"),
        (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400, "8d"),
        (729 * 86400, "729d"), (730 * 86400, "2y"), (800 * 86400, "2y70d"), (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration_matches_kubernetes(seconds, text):
    assert human_duration(seconds) == text


@given(st.integers(min_value=0, max_value=20 * 365 * 86400))
def test_human_duration_is_short_and_never_empty(seconds):
    text = human_duration(seconds)
    assert text and len(text) <= 8 and text[0].isdigit()


# --------------------------------------------------------------------------- table shape


def test_table_shape_and_partial_object_metadata():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": ago(seconds=5)},
           "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}
    table = to_table(rtype("Pod"), [pod], list_metadata={"resourceVersion": "42", "continue": "abc"}, now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    first = table["columnDefinitions"][0]
    assert first == {"name": "Name", "type": "string", "format": "name", "description": first["description"], "priority": 0}
    row = table["rows"][0]
    assert row["cells"][:5] == ["p", "0/1", "Pending", "0", "5s"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]}


def test_include_object_policies():
    pod = {"metadata": {"name": "p"}}
    assert to_table(rtype("Pod"), [pod], include_object="Object", now=NOW)["rows"][0]["object"] is pod
    assert "object" not in to_table(rtype("Pod"), [pod], include_object="None", now=NOW)["rows"][0]
    with pytest.raises(BadRequest):
        to_table(rtype("Pod"), [pod], include_object="Everything")


def test_every_served_kind_has_a_printer_with_a_name_column():
    for rt in registry.resource_types():
        printer = printer_for(rt)
        assert any(c.format == "name" for c in printer.columns), rt.kind
        table = to_table(rt, [{"metadata": {"name": "x", "creationTimestamp": ago(minutes=3)}}], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), rt.kind


# --------------------------------------------------------------------------- pods


def test_pod_columns_and_wide_columns():
    assert columns("Pod") == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
                              ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]


def pod(status: dict, *, containers=("c",), init=(), meta=None, spec=None) -> dict:
    body = {
        "metadata": {"name": "p", "creationTimestamp": ago(minutes=10), **(meta or {})},
        "spec": {"containers": [{"name": n} for n in containers], **(spec or {})},
        "status": status,
    }
    if init:
        body["spec"]["initContainers"] = [c if isinstance(c, dict) else {"name": c} for c in init]
    return body


def running(name="c", ready=True, restarts=0, **extra):
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(minutes=9)}}, **extra}


def test_pod_running_and_wide_cells():
    p = pod({"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [running()],
             "conditions": [{"type": "Ready", "status": "True"}]}, spec={"nodeName": "n1"})
    assert cells("Pod", p) == ["p", "1/1", "Running", "0", "10m", "10.0.0.5", "n1", "<none>", "<none>"]


def test_pod_container_creating():
    p = pod({"phase": "Pending", "containerStatuses": [
        {"name": "c", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]})
    assert cells("Pod", p)[1:4] == ["0/1", "ContainerCreating", "0"]


def test_pod_crash_loop_back_off_with_restarts_ago():
    p = pod({"phase": "Running", "containerStatuses": [{
        "name": "c", "ready": False, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=5)}},
    }]})
    assert cells("Pod", p)[1:4] == ["0/1", "CrashLoopBackOff", "5 (5m ago)"]


def test_pod_completed_has_completed_row_condition():
    p = pod({"phase": "Succeeded", "containerStatuses": [
        {"name": "c", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
    table = to_table(rtype("Pod"), [p], now=NOW)
    assert table["rows"][0]["cells"][2] == "Completed"
    assert table["rows"][0]["conditions"][0]["type"] == "Completed"


def test_pod_terminated_without_reason_shows_exit_code_or_signal():
    p = pod({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 3}}}]})
    assert cells("Pod", p)[2] == "ExitCode:3"
    p = pod({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]})
    assert cells("Pod", p)[2] == "Signal:9"


def test_pod_terminating_unless_terminal():
    p = pod({"phase": "Running", "containerStatuses": [running()]}, meta={"deletionTimestamp": ago(seconds=1)})
    assert cells("Pod", p)[2] == "Terminating"
    done = pod({"phase": "Succeeded"}, meta={"deletionTimestamp": ago(seconds=1)})
    assert cells("Pod", done)[2] == "Succeeded"
    lost = pod({"phase": "Running", "reason": "NodeLost"}, meta={"deletionTimestamp": ago(seconds=1)})
    assert cells("Pod", lost)[2] == "Unknown"


def test_pod_init_container_states():
    waiting = pod({"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"running": {}}}]}, init=["i"])
    assert cells("Pod", waiting)[2] == "Init:0/1"
    second = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "j", "state": {"waiting": {"reason": "PodInitializing"}}}]}, init=["i", "j"])
    assert cells("Pod", second)[2] == "Init:1/2"
    crash = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=30)}}}]}, init=["i"])
    assert cells("Pod", crash)[2:4] == ["Init:CrashLoopBackOff", "2 (30s ago)"]
    failed = pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}, init=["i"])
    assert cells("Pod", failed)[2] == "Init:Error"


def test_pod_sidecar_init_containers_count_as_containers():
    p = pod({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
             "initContainerStatuses": [{"name": "side", "ready": True, "started": True, "restartCount": 1,
                                        "state": {"running": {}}}],
             "containerStatuses": [running()]},
            init=[{"name": "side", "restartPolicy": "Always"}])
    assert cells("Pod", p)[1:4] == ["2/2", "Running", "1"]


def test_pod_scheduling_gated_and_not_ready_after_completion():
    gated = pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
    assert cells("Pod", gated)[2] == "SchedulingGated"
    mixed = pod({"phase": "Running", "containerStatuses": [
        running("a"), {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
        containers=("a", "b"))
    assert cells("Pod", mixed)[1:3] == ["1/2", "NotReady"]


def test_pod_readiness_gates():
    p = pod({"phase": "Running", "conditions": [{"type": "example.com/gate", "status": "True"}]},
            spec={"readinessGates": [{"conditionType": "example.com/gate"}, {"conditionType": "other"}]})
    assert cells("Pod", p)[8] == "1/2"


# --------------------------------------------------------------------------- workloads


def test_deployment_cells():
    assert columns("Deployment", "apps/v1") == [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0),
                                                ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1)]
    d = {"metadata": {"name": "web", "creationTimestamp": ago(hours=2, minutes=5)},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"spec": {"containers": [{"name": "a", "image": "i:1"}, {"name": "b", "image": "j:2"}]}}},
         "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells("Deployment", d, "apps/v1") == ["web", "2/3", 3, 2, "125m", "a,b", "i:1,j:2", "app=web"]


def test_replicaset_cells():
    rs = {"metadata": {"name": "web-1", "creationTimestamp": ago(days=3)},
          "spec": {"replicas": 2, "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                   "template": {"spec": {"containers": [{"name": "a", "image": "i"}]}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("ReplicaSet", rs, "apps/v1") == ["web-1", 2, 2, 1, "3d", "a", "i", "tier in (a,b)"]


def test_job_cells_and_status():
    job = {"metadata": {"name": "j", "creationTimestamp": ago(minutes=20)},
           "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
           "status": {"succeeded": 3, "startTime": ago(minutes=20), "completionTime": ago(minutes=18),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert columns("Job", "batch/v1")[:5] == [("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0)]
    assert cells("Job", job, "batch/v1")[:5] == ["j", "Complete", "3/3", "2m", "20m"]
    running_job = {"metadata": {"name": "r"}, "spec": {"parallelism": 2}, "status": {"startTime": ago(seconds=30)}}
    assert cells("Job", running_job, "batch/v1")[1:4] == ["Running", "0/1 of 2", "30s"]
    suspended = {"metadata": {"name": "s"}, "spec": {}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}
    assert cells("Job", suspended, "batch/v1")[1:4] == ["Suspended", "0/1", ""]


def test_cronjob_cells():
    cj = {"metadata": {"name": "cj", "creationTimestamp": ago(hours=1)},
          "spec": {"schedule": "*/5 * * * *", "suspend": False,
                   "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
          "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(minutes=4)}}
    assert columns("CronJob", "batch/v1")[:7] == [("Name", 0), ("Schedule", 0), ("Timezone", 0), ("Suspend", 0),
                                                  ("Active", 0), ("Last Schedule", 0), ("Age", 0)]
    assert cells("CronJob", cj, "batch/v1") == ["cj", "*/5 * * * *", "<none>", "false", 1, "4m", "60m", "c", "i", "<none>"]


def test_hpa_cells():
    hpa = {"metadata": {"name": "h", "creationTimestamp": ago(seconds=40)},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
           "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}}]}}
    assert cells("HorizontalPodAutoscaler", hpa, "autoscaling/v2") == ["h", "Deployment/web", "cpu: 20%/50%", "1", 5, 2, "40s"]
    fresh = {"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                                                "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"averageUtilization": 80}}}]}}
    assert cells("HorizontalPodAutoscaler", fresh, "autoscaling/v2")[2:4] == ["memory: <unknown>/80%", "<unset>"]


# --------------------------------------------------------------------------- core kinds


def test_node_cells():
    node = {"metadata": {"name": "n1", "creationTimestamp": ago(days=2, hours=3),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0-orchestra", "osImage": "Debian"}}}
    assert columns("Node")[:5] == [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0)]
    assert cells("Node", node) == ["n1", "Ready,SchedulingDisabled", "control-plane,worker", "2d3h", "v1.32.0-orchestra",
                                   "127.0.1.1", "<none>", "Debian", "<unknown>", "<unknown>"]
    assert cells("Node", {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})[1:3] == [
        "NotReady", "<none>"]
    assert cells("Node", {"metadata": {"name": "n3"}})[1] == "Unknown"


def test_service_cells():
    svc = {"metadata": {"name": "web", "creationTimestamp": ago(minutes=1)},
           "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"b": "2", "a": "1"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    assert columns("Service") == [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0),
                                  ("Age", 0), ("Selector", 1)]
    assert cells("Service", svc) == ["web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "60s", "a=1,b=2"]
    lb = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": []}}
    assert cells("Service", lb)[2:5] == ["<none>", "<pending>", "<none>"]
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert cells("Service", lb)[3] == "1.2.3.4"
    ext = {"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert cells("Service", ext)[3] == "example.com"


def test_endpoints_cells_show_three_then_more():
    ep = {"metadata": {"name": "web"}, "subsets": [{
        "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 8080}]}]}
    assert cells("Endpoints", ep)[1] == "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more..."
    assert cells("Endpoints", {"metadata": {"name": "none"}})[1] == "<none>"
    headless = {"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    assert cells("Endpoints", headless)[1] == "10.0.0.1"


def test_namespace_configmap_lease_cells():
    assert cells("Namespace", {"metadata": {"name": "default", "creationTimestamp": ago(days=30)},
                               "status": {"phase": "Active"}}) == ["default", "Active", "30d"]
    assert cells("ConfigMap", {"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}})[:2] == ["cm", 3]
    assert cells("Lease", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "node-1"}},
                 "coordination.k8s.io/v1")[:2] == ["l", "node-1"]


def test_event_cells():
    event = {"metadata": {"name": "p.123"}, "type": "Warning", "reason": "BackOff", "message": "Back-off restarting \n",
             "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
             "source": {"component": "kubelet", "host": "n1"}, "count": 4,
             "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=20)}
    assert columns("Event")[:4] == [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0)]
    assert cells("Event", event) == ["20s", "Warning", "BackOff", "pod/p", "spec.containers{c}", "kubelet, n1",
                                     "Back-off restarting", "10m", 4, "p.123"]
    new_style = {"metadata": {"name": "e"}, "eventTime": ago(seconds=3), "reportingComponent": "scheduler",
                 "involvedObject": {"kind": "Pod"}, "series": {"count": 2, "lastObservedTime": ago(seconds=1)}}
    assert cells("Event", new_style)[0:9:] == ["1s", "", "", "pod", "", "scheduler", "", "3s", 2]
