"""Tests for orchestra.api.defaults against Kubernetes' SetDefaults_* behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.api.codec import decode, encode, loads
from orchestra.api.defaults import apply_defaults, image_pull_policy_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"

DEFAULTED_CONTAINER = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
DEFAULTED_POD_SPEC = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
}


def _defaulted(data: dict) -> dict:
    return encode(apply_defaults(decode(data)))


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.14.2", "IfNotPresent"),
        ("registry.k8s.io/goproxy:0.1", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy_for(image) == policy


def test_pod_defaults() -> None:
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "livenessProbe": {"httpGet": {"port": 8080}},
                        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 3},
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}},
                    }
                ]
            },
        }
    )
    assert out["spec"] == {
        "containers": [
            {
                "name": "c",
                "image": "busybox",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {
                        "name": "POD",
                        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
                    }
                ],
                "resources": {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                },
                "livenessProbe": {
                    "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                },
                "readinessProbe": {
                    "tcpSocket": {"port": 80},
                    "timeoutSeconds": 1,
                    "periodSeconds": 3,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                },
                **DEFAULTED_CONTAINER,
                "imagePullPolicy": "Always",
            }
        ],
        **DEFAULTED_POD_SPEC,
        "enableServiceLinks": True,
    }


def test_explicit_values_are_kept() -> None:
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {
                "restartPolicy": "Never",
                "dnsPolicy": "Default",
                "terminationGracePeriodSeconds": 0,
                "schedulerName": "mine",
                "enableServiceLinks": False,
                "containers": [
                    {
                        "name": "c",
                        "image": "x:latest",
                        "imagePullPolicy": "Never",
                        "ports": [{"containerPort": 53, "protocol": "UDP"}],
                    }
                ],
            },
        }
    )
    spec = out["spec"]
    assert (
        spec["restartPolicy"],
        spec["dnsPolicy"],
        spec["terminationGracePeriodSeconds"],
        spec["schedulerName"],
    ) == ("Never", "Default", 0, "mine")
    assert spec["enableServiceLinks"] is False
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    assert spec["containers"][0]["ports"][0]["protocol"] == "UDP"


def test_host_network_pods_default_host_ports() -> None:
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {
                "hostNetwork": True,
                "containers": [{"name": "c", "image": "i:1", "ports": [{"containerPort": 8080}]}],
                "initContainers": [{"name": "i", "image": "i:1", "ports": [{"containerPort": 9090}]}],
            },
        }
    )
    assert out["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080
    assert out["spec"]["initContainers"][0]["ports"][0]["hostPort"] == 9090


def test_volume_defaults() -> None:
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {
                "containers": [],
                "volumes": [
                    {"name": "a"},
                    {"name": "b", "configMap": {"name": "cm"}},
                    {"name": "c", "emptyDir": {}},
                    {"name": "d", "hostPath": {"path": "/x"}},
                    {"name": "e", "secret": {"secretName": "s", "defaultMode": 256}},
                ],
            },
        }
    )
    assert out["spec"]["volumes"] == [
        {"name": "a", "emptyDir": {}},
        {"name": "b", "configMap": {"name": "cm", "defaultMode": 420}},
        {"name": "c", "emptyDir": {}},
        {"name": "d", "hostPath": {"path": "/x", "type": ""}},
        {"name": "e", "secret": {"secretName": "s", "defaultMode": 256}},
    ]


def test_nginx_deployment_defaults_match_kubernetes() -> None:
    (deployment,) = loads((EXAMPLES / "nginx-deployment.yaml").read_text())
    spec = encode(apply_defaults(deployment))["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    for key, value in DEFAULTED_POD_SPEC.items():
        assert pod_spec[key] == value
    assert "enableServiceLinks" not in pod_spec  # a Pod default, not a template default
    container = pod_spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_deployment_defaults() -> None:
    out = _defaulted(
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": []}}}}
    )
    assert out["spec"]["replicas"] == 1
    recreate = _defaulted(
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}}
    )
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    partial = _defaulted(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "spec": {"strategy": {"rollingUpdate": {"maxSurge": 0}}},
        }
    )
    assert partial["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0},
    }


def test_replica_set_defaults() -> None:
    out = _defaulted(
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": {"spec": {"containers": []}}}}
    )
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_job_defaults() -> None:
    (job,) = loads((EXAMPLES / "job.yaml").read_text())
    spec = encode(apply_defaults(job))["spec"]
    assert spec["backoffLimit"] == 4  # given
    assert (spec["completions"], spec["parallelism"]) == (1, 1)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    out = _defaulted(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j"},
            "spec": {"completions": 5, "template": {"metadata": {"labels": {"a": "b"}}}},
        }
    )
    assert out["spec"]["backoffLimit"] == 6
    assert out["spec"]["completions"] == 5 and out["spec"]["parallelism"] == 1
    assert out["metadata"]["labels"] == {"a": "b"}
    only_parallel = _defaulted({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 3}})
    assert "completions" not in only_parallel["spec"]


def test_cron_job_defaults() -> None:
    (cron_job,) = loads((EXAMPLES / "cronjob.yaml").read_text())
    spec = encode(apply_defaults(cron_job))["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec  # Job defaults apply when the Job is created
    assert job_spec["template"]["spec"]["schedulerName"] == "default-scheduler"
    assert job_spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_service_defaults() -> None:
    (service,) = loads((EXAMPLES / "my-service.yaml").read_text())
    spec = encode(apply_defaults(service))["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 9376}]
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]},
        }
    )
    spec = out["spec"]
    assert spec["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 80}]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["allocateLoadBalancerNodePorts"] is True


def test_hpa_defaults() -> None:
    out = _defaulted(
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "spec": {"maxReplicas": 5}}
    )
    assert out["spec"]["minReplicas"] == 1
    assert out["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
        }
    ]
    assert "behavior" not in out["spec"]
    with_behavior = _defaulted(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
        }
    )
    assert with_behavior["spec"]["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 60,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }


def test_namespace_node_endpoints_defaults() -> None:
    namespace = _defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    assert namespace["status"] == {"phase": "Active"}
    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert (
        "labels"
        not in _defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "t-"}})[
            "metadata"
        ]
    )
    node = _defaulted({"apiVersion": "v1", "kind": "Node", "status": {"capacity": {"cpu": "4"}}})
    assert node["status"]["allocatable"] == {"cpu": "4"}
    endpoints = _defaulted({"apiVersion": "v1", "kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]})
    assert endpoints["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]


def test_apply_defaults_returns_same_object_and_is_idempotent() -> None:
    (deployment,) = loads((EXAMPLES / "nginx-deployment.yaml").read_text())
    assert apply_defaults(deployment) is deployment
    once = encode(deployment)
    assert encode(apply_defaults(deployment)) == once
    config_map = decode({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})
    assert encode(apply_defaults(config_map)) == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    lease = decode({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {}})
    assert encode(apply_defaults(lease)) == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "spec": {},
    }


def test_config_map_data_defaults_to_empty() -> None:
    assert _defaulted({"apiVersion": "v1", "kind": "ConfigMap"})["data"] == {}


def test_load_balancer_ingress_ip_mode() -> None:
    out = _defaulted(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}},
        }
    )
    assert out["status"]["loadBalancer"]["ingress"] == [
        {"ip": "1.2.3.4", "ipMode": "VIP"},
        {"hostname": "lb.example"},
    ]
