"""Tests for orchestra.api.validation: each rule with a failing and a passing case."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.api.codec import decode, encode, load_documents, loads
from orchestra.api.defaults import apply_defaults
from orchestra.api.errors import FieldError, ValidationError
from orchestra.api.validation import (
    plain_event_is_valid,
    validate,
    validate_cron_schedule,
    validate_or_raise,
    validate_status,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"


def _messages(data: dict) -> list[str]:
    return [str(e) for e in validate(decode(data))]


def _with(base: dict, change: Callable[[dict], Any]) -> dict:
    data = copy.deepcopy(base)
    change(data)
    return data


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.25",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "prod"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"},
                },
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "restartPolicy": "Always",
    },
}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": copy.deepcopy(POD["spec"])},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
    },
}

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "pi"},
    "spec": {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 4,
        "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}},
    },
}

CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "hello"},
    "spec": {"schedule": "*/5 * * * *", "jobTemplate": copy.deepcopy({"spec": JOB["spec"]})},
}

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "my-service"},
    "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    },
}

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    },
}


def _container(data: dict) -> dict:
    return data["spec"]["containers"][0]


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate_before_and_after_defaults(path: Path) -> None:
    for document in load_documents(path.read_text(), source=str(path)):
        obj = decode(document.data)
        assert validate(obj) == [], document.data
        assert validate(apply_defaults(obj)) == []


@pytest.mark.parametrize("base", [POD, DEPLOYMENT, JOB, CRON_JOB, SERVICE, HPA], ids=lambda b: b["kind"])
def test_valid_bases(base: dict) -> None:
    assert _messages(base) == []
    assert validate(apply_defaults(decode(copy.deepcopy(base)))) == []


# --------------------------------------------------------------------------- metadata

META_CASES = [
    (lambda d: d["metadata"].pop("name"), "metadata.name: Required value: name or generateName is required"),
    (
        lambda d: d["metadata"].update(name="Web_1"),
        'metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain',
    ),
    (
        lambda d: d["metadata"].update(name=None, generateName="Web-"),
        'metadata.generateName: Invalid value: "Web-"',
    ),
    (lambda d: d["metadata"].update(namespace="Bad.NS"), 'metadata.namespace: Invalid value: "Bad.NS"'),
    (lambda d: d["metadata"].update(labels={"bad key!": "x"}), 'metadata.labels: Invalid value: "bad key!"'),
    (lambda d: d["metadata"].update(labels={"ok": "-bad-"}), 'metadata.labels: Invalid value: "-bad-"'),
    (
        lambda d: d["metadata"].update(annotations={"a/b/c": "x"}),
        'metadata.annotations: Invalid value: "a/b/c"',
    ),
    (
        lambda d: d["metadata"].update(ownerReferences=[{"apiVersion": "v1", "kind": "X", "name": "n"}]),
        "metadata.ownerReferences[0].uid: Required value",
    ),
]


@pytest.mark.parametrize(("change", "message"), META_CASES)
def test_metadata_rules(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(POD, change))
    assert any(m.startswith(message) for m in messages), messages


def test_metadata_passing_cases() -> None:
    assert _messages(_with(POD, lambda d: d["metadata"].update(name=None, generateName="web-"))) == []
    assert _messages(_with(POD, lambda d: d["metadata"].update(name="web.example-1"))) == []
    assert (
        _messages(_with(POD, lambda d: d["metadata"].update(annotations={"example.com/Owner": "me"}))) == []
    )


def test_name_rules_per_kind() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    (message,) = _messages(namespace)
    assert message.startswith('metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label')
    assert _messages({**namespace, "metadata": {"name": "team-a"}}) == []
    assert _messages({**namespace, "metadata": {"name": "team-a", "namespace": "x"}}) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]
    service = _with(SERVICE, lambda d: d["metadata"].update(name="1svc"))
    assert _messages(service)[0].startswith('metadata.name: Invalid value: "1svc": a DNS-1035 label')
    assert _messages(_with(POD, lambda d: d["metadata"].update(name="1pod"))) == []
    long_cron = _with(CRON_JOB, lambda d: d["metadata"].update(name="c" * 53))
    assert _messages(long_cron) == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters'
    ]
    assert _messages(_with(CRON_JOB, lambda d: d["metadata"].update(name="c" * 52))) == []


# --------------------------------------------------------------------------- pod spec

POD_CASES = [
    ("no containers", lambda d: d["spec"].update(containers=[]), "spec.containers: Required value"),
    (
        "container name required",
        lambda d: _container(d).pop("name"),
        "spec.containers[0].name: Required value",
    ),
    (
        "container name syntax",
        lambda d: _container(d).update(name="App"),
        'spec.containers[0].name: Invalid value: "App": a lowercase RFC 1123 label',
    ),
    (
        "duplicate across init",
        lambda d: d["spec"].update(initContainers=[{"name": "app", "image": "busybox"}]),
        'spec.containers[0].name: Duplicate value: "app"',
    ),
    ("image required", lambda d: _container(d).pop("image"), "spec.containers[0].image: Required value"),
    (
        "port zero",
        lambda d: _container(d)["ports"][0].update(containerPort=0),
        "spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive",
    ),
    (
        "port too big",
        lambda d: _container(d)["ports"][0].update(containerPort=70000),
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ),
    (
        "host port",
        lambda d: _container(d)["ports"][0].update(hostPort=-1),
        "spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
    ),
    (
        "port name",
        lambda d: _container(d)["ports"][0].update(name="HTTP_PORT"),
        'spec.containers[0].ports[0].name: Invalid value: "HTTP_PORT"',
    ),
    (
        "duplicate port name",
        lambda d: _container(d)["ports"].append({"name": "http", "containerPort": 81}),
        'spec.containers[0].ports[1].name: Duplicate value: "http"',
    ),
    (
        "protocol",
        lambda d: _container(d)["ports"][0].update(protocol="HTTP"),
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
    ),
    (
        "env name",
        lambda d: _container(d)["env"].append({"name": "1=BAD", "value": "x"}),
        'spec.containers[0].env[1].name: Invalid value: "1=BAD"',
    ),
    (
        "env name required",
        lambda d: _container(d)["env"].append({"value": "x"}),
        "spec.containers[0].env[1].name: Required value",
    ),
    (
        "env value and valueFrom",
        lambda d: _container(d)["env"].append(
            {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ),
        'spec.containers[0].env[1].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
    ),
    (
        "env configMapKeyRef key",
        lambda d: _container(d)["env"].append(
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "bad key"}}}
        ),
        'spec.containers[0].env[1].valueFrom.configMapKeyRef.key: Invalid value: "bad key"',
    ),
    (
        "quantity",
        lambda d: _container(d)["resources"]["limits"].update(cpu="lots"),
        'spec.containers[0].resources.limits[cpu]: Invalid value: "lots"',
    ),
    (
        "negative quantity",
        lambda d: _container(d)["resources"]["requests"].update(memory="-1Mi"),
        'spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0',
    ),
    (
        "requests over limits",
        lambda d: _container(d)["resources"]["requests"].update(cpu="2"),
        'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
    ),
    (
        "resource name",
        lambda d: _container(d)["resources"]["limits"].update(gpus="1"),
        'spec.containers[0].resources.limits[gpus]: Invalid value: "gpus": must be a standard resource type or fully qualified',
    ),
    (
        "probe without handler",
        lambda d: _container(d).update(readinessProbe={"periodSeconds": 3}),
        "spec.containers[0].readinessProbe: Required value: must specify a handler type",
    ),
    (
        "probe two handlers",
        lambda d: _container(d)["livenessProbe"].update(tcpSocket={"port": 80}),
        "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
    ),
    (
        "probe negative",
        lambda d: _container(d)["livenessProbe"].update(failureThreshold=-1),
        "spec.containers[0].livenessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "liveness success threshold",
        lambda d: _container(d)["livenessProbe"].update(successThreshold=2),
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    ),
    (
        "probe port",
        lambda d: _container(d)["livenessProbe"]["httpGet"].update(port=0),
        "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
    ),
    (
        "probe port name",
        lambda d: _container(d)["livenessProbe"]["httpGet"].update(port="--x"),
        'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "--x"',
    ),
    (
        "mount unknown volume",
        lambda d: _container(d)["volumeMounts"][0].update(name="nope"),
        'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
    ),
    (
        "mount path required",
        lambda d: _container(d)["volumeMounts"][0].pop("mountPath"),
        "spec.containers[0].volumeMounts[0].mountPath: Required value",
    ),
    (
        "duplicate volume",
        lambda d: d["spec"]["volumes"].append({"name": "data", "emptyDir": {}}),
        'spec.volumes[1].name: Duplicate value: "data"',
    ),
    (
        "volume without source",
        lambda d: d["spec"]["volumes"].append({"name": "empty"}),
        "spec.volumes[1]: Required value: must specify a volume type",
    ),
    (
        "volume two sources",
        lambda d: d["spec"]["volumes"][0].update(configMap={"name": "cm"}),
        "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
    ),
    (
        "volume name",
        lambda d: d["spec"]["volumes"].append({"name": "Bad", "emptyDir": {}}),
        'spec.volumes[1].name: Invalid value: "Bad"',
    ),
    (
        "configMap volume name",
        lambda d: d["spec"]["volumes"].append({"name": "cfg", "configMap": {}}),
        "spec.volumes[1].configMap.name: Required value",
    ),
    (
        "restartPolicy",
        lambda d: d["spec"].update(restartPolicy="Sometimes"),
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ),
    (
        "dnsPolicy",
        lambda d: d["spec"].update(dnsPolicy="Google"),
        'spec.dnsPolicy: Unsupported value: "Google"',
    ),
    (
        "nodeSelector",
        lambda d: d["spec"].update(nodeSelector={"disk": "s s d"}),
        'spec.nodeSelector: Invalid value: "s s d"',
    ),
    (
        "toleration operator",
        lambda d: d["spec"].update(tolerations=[{"key": "k", "operator": "Maybe"}]),
        'spec.tolerations[0].operator: Unsupported value: "Maybe"',
    ),
    (
        "toleration exists with value",
        lambda d: d["spec"].update(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
        "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
    ),
    (
        "toleration effect",
        lambda d: d["spec"].update(tolerations=[{"key": "k", "effect": "Sometimes"}]),
        'spec.tolerations[0].effect: Unsupported value: "Sometimes"',
    ),
    (
        "toleration seconds",
        lambda d: d["spec"].update(
            tolerations=[{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]
        ),
        "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
    ),
    (
        "node affinity terms",
        lambda d: d["spec"].update(
            affinity={
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
            }
        ),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value",
    ),
    (
        "node selector operator",
        lambda d: d["spec"].update(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}
                        ]
                    }
                }
            }
        ),
        'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near"',
    ),
    (
        "node selector Gt",
        lambda d: d["spec"].update(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["a"]}]}
                        ]
                    }
                }
            }
        ),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value",
    ),
    (
        "preferred weight",
        lambda d: d["spec"].update(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {}}]
                }
            }
        ),
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100",
    ),
    (
        "pod affinity topologyKey",
        lambda d: d["spec"].update(
            affinity={
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "web"}}}
                    ]
                }
            }
        ),
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty",
    ),
    (
        "pod affinity selector",
        lambda d: d["spec"].update(
            affinity={
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "podAffinityTerm": {
                                "topologyKey": "zone",
                                "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                            },
                        }
                    ]
                }
            }
        ),
        "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchExpressions[0].values: Required value",
    ),
    (
        "spread maxSkew",
        lambda d: d["spec"].update(
            topologySpreadConstraints=[
                {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
            ]
        ),
        "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
    ),
    (
        "spread whenUnsatisfiable",
        lambda d: d["spec"].update(
            topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Whatever"}]
        ),
        'spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Whatever"',
    ),
    (
        "spread duplicate",
        lambda d: d["spec"].update(
            topologySpreadConstraints=[
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
            ]
            * 2
        ),
        "spec.topologySpreadConstraints[1]: Duplicate value",
    ),
    (
        "init probes",
        lambda d: d["spec"].update(
            initContainers=[
                {"name": "init", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}
            ]
        ),
        "spec.initContainers[0].readinessProbe: Forbidden",
    ),
    (
        "activeDeadlineSeconds",
        lambda d: d["spec"].update(activeDeadlineSeconds=0),
        "spec.activeDeadlineSeconds: Invalid value: 0: must be greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES])
def test_pod_rules_fail(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(POD, change))
    assert any(m.startswith(message) for m in messages), messages


POD_PASSING = [
    (
        "init and app names differ",
        lambda d: d["spec"].update(initContainers=[{"name": "init", "image": "busybox"}]),
    ),
    ("port name numeric letters", lambda d: _container(d)["ports"][0].update(name="http-2")),
    ("udp", lambda d: _container(d)["ports"][0].update(protocol="UDP")),
    (
        "env fieldRef",
        lambda d: _container(d)["env"].append(
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ),
    ),
    (
        "int quantities",
        lambda d: _container(d)["resources"].update(limits={"cpu": 2, "memory": "1Gi"}, requests={"cpu": 2}),
    ),
    ("requests equal limits", lambda d: _container(d)["resources"].update(requests={"cpu": "1000m"})),
    ("extended resource", lambda d: _container(d)["resources"]["limits"].update({"example.com/gpu": "1"})),
    ("exec probe", lambda d: _container(d).update(readinessProbe={"exec": {"command": ["cat", "/ok"]}})),
    (
        "configMap volume",
        lambda d: d["spec"]["volumes"].append(
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a", "path": "a.conf"}]}}
        ),
    ),
    (
        "tolerations",
        lambda d: d["spec"].update(
            tolerations=[
                {"operator": "Exists"},
                {
                    "key": "k",
                    "operator": "Equal",
                    "value": "v",
                    "effect": "NoExecute",
                    "tolerationSeconds": 30,
                },
            ]
        ),
    ),
    (
        "affinity",
        lambda d: d["spec"].update(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}
                        ]
                    }
                },
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "web"}},
                        }
                    ]
                },
            }
        ),
    ),
    (
        "spread",
        lambda d: d["spec"].update(
            topologySpreadConstraints=[
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
            ]
        ),
    ),
    (
        "sidecar with probes",
        lambda d: d["spec"].update(
            initContainers=[
                {
                    "name": "proxy",
                    "image": "envoy",
                    "restartPolicy": "Always",
                    "readinessProbe": {"tcpSocket": {"port": 9901}},
                }
            ]
        ),
    ),
]


@pytest.mark.parametrize("change", [c[1] for c in POD_PASSING], ids=[c[0] for c in POD_PASSING])
def test_pod_rules_pass(change: Callable[[dict], Any]) -> None:
    assert _messages(_with(POD, change)) == []


def test_every_error_is_reported() -> None:
    def break_many(d: dict) -> None:
        _container(d).pop("image")
        _container(d)["ports"][0]["containerPort"] = 0
        d["spec"]["restartPolicy"] = "Sometimes"

    messages = _messages(_with(POD, break_many))
    assert len(messages) == 3


# --------------------------------------------------------------------------- workloads

DEPLOYMENT_CASES = [
    (
        "replicas",
        lambda d: d["spec"].update(replicas=-1),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    ("selector required", lambda d: d["spec"].pop("selector"), "spec.selector: Required value"),
    (
        "selector empty",
        lambda d: d["spec"].update(selector={}),
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment",
    ),
    (
        "selector mismatch",
        lambda d: d["spec"]["selector"].update(matchLabels={"app": "api"}),
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`',
    ),
    (
        "selector expression",
        lambda d: d["spec"]["selector"].update(
            matchExpressions=[{"key": "tier", "operator": "Exists", "values": ["x"]}]
        ),
        "spec.selector.matchExpressions[0].values: Forbidden",
    ),
    (
        "strategy type",
        lambda d: d["spec"]["strategy"].update(type="BlueGreen"),
        'spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"',
    ),
    (
        "recreate with rollingUpdate",
        lambda d: d["spec"]["strategy"].update(type="Recreate"),
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ),
    (
        "maxSurge percent",
        lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxSurge="x%"),
        'spec.strategy.rollingUpdate.maxSurge: Invalid value: "x%": a valid percent string',
    ),
    (
        "maxUnavailable over 100%",
        lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable="150%"),
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%',
    ),
    (
        "maxUnavailable negative",
        lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=-1),
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "both zero",
        lambda d: d["spec"]["strategy"].update(rollingUpdate={"maxSurge": 0, "maxUnavailable": "0%"}),
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0',
    ),
    (
        "template restartPolicy",
        lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Never"),
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ),
    (
        "template container",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
        "spec.template.spec.containers[0].image: Required value",
    ),
    (
        "template labels",
        lambda d: d["spec"]["template"]["metadata"]["labels"].update({"bad key": "x"}),
        'spec.template.metadata.labels: Invalid value: "bad key"',
    ),
    (
        "progress deadline",
        lambda d: d["spec"].update(minReadySeconds=30, progressDeadlineSeconds=10),
        "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
    ),
    (
        "revision history",
        lambda d: d["spec"].update(revisionHistoryLimit=-2),
        "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
    ),
    (
        "status replicas",
        lambda d: d.update(status={"replicas": -1}),
        "status.replicas: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "status collision count",
        lambda d: d.update(status={"collisionCount": -2}),
        "status.collisionCount: Invalid value: -2: must be greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in DEPLOYMENT_CASES], ids=[c[0] for c in DEPLOYMENT_CASES]
)
def test_deployment_rules_fail(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(DEPLOYMENT, change))
    assert any(m.startswith(message) for m in messages), messages


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["spec"].update(replicas=0),
        lambda d: d["spec"]["selector"].update(
            matchExpressions=[{"key": "app", "operator": "In", "values": ["web", "api"]}]
        ),
        lambda d: d["spec"].update(strategy={"type": "Recreate"}),
        lambda d: d["spec"]["strategy"].update(rollingUpdate={"maxSurge": "0%", "maxUnavailable": 1}),
        lambda d: d["spec"]["template"]["spec"].pop("restartPolicy"),
        lambda d: d["spec"]["template"]["metadata"]["labels"].update(extra="yes"),
        lambda d: d.update(status={"replicas": 3, "updatedReplicas": 0, "observedGeneration": 1}),
    ],
)
def test_deployment_rules_pass(change: Callable[[dict], Any]) -> None:
    assert _messages(_with(DEPLOYMENT, change)) == []


def _status_messages(data: dict) -> list[str]:
    obj = decode(data)
    apply_defaults(obj)
    return [str(e) for e in validate_status(obj)]


def test_validate_status_checks_the_status_alone() -> None:
    # A /status update keeps the stored (valid) rest of the object: only the status is checked.
    bad_spec = _with(DEPLOYMENT, lambda d: d["spec"].update(replicas=-1))
    assert _messages(bad_spec)
    assert _status_messages(bad_spec) == []
    assert _status_messages(_with(DEPLOYMENT, lambda d: d.update(status={"readyReplicas": -1}))) == [
        "status.readyReplicas: Invalid value: -1: must be greater than or equal to 0"
    ]
    bad_pod = _with(POD, lambda d: d["spec"]["containers"][0].update(name="Not_A_Name"))
    assert _messages(bad_pod)
    assert _status_messages(bad_pod) == []
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"capacity": {"cpu": "lots"}}}
    assert "status.capacity[cpu]" in [m.split(":")[0] for m in _status_messages(node)]


def test_validate_status_validates_other_kinds_whole() -> None:
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "type": "Odd"}
    assert _status_messages(event) == _messages(event) != []


def test_replica_set_rules() -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "rs"},
        "spec": copy.deepcopy(DEPLOYMENT["spec"]),
    }
    rs["spec"].pop("strategy")
    assert _messages(rs) == []
    assert _messages(_with(rs, lambda d: d["spec"].update(replicas=-3))) == [
        "spec.replicas: Invalid value: -3: must be greater than or equal to 0"
    ]
    assert _messages(_with(rs, lambda d: d.update(status={"replicas": 2, "readyReplicas": -1}))) == [
        "status.readyReplicas: Invalid value: -1: must be greater than or equal to 0"
    ]
    assert _messages(_with(rs, lambda d: d["spec"]["selector"].update(matchLabels={"app": "x"}))) == [
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`'
    ]
    assert _messages(_with(rs, lambda d: d["spec"]["template"]["spec"].update(activeDeadlineSeconds=5))) == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"
    ]


JOB_CASES = [
    (
        "completions",
        lambda d: d["spec"].update(completions=-1),
        "spec.completions: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "parallelism",
        lambda d: d["spec"].update(parallelism=-1),
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "backoffLimit",
        lambda d: d["spec"].update(backoffLimit=-1),
        "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
    ),
    (
        "restartPolicy Always",
        lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Always"),
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"',
    ),
    (
        "restartPolicy unset",
        lambda d: d["spec"]["template"]["spec"].pop("restartPolicy"),
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"',
    ),
    (
        "completionMode",
        lambda d: d["spec"].update(completionMode="Sometimes"),
        'spec.completionMode: Unsupported value: "Sometimes"',
    ),
    (
        "indexed without completions",
        lambda d: d["spec"].update(completionMode="Indexed", completions=None),
        "spec.completions: Required value: when completion mode is Indexed",
    ),
    ("template required", lambda d: d["spec"].pop("template"), "spec.template: Required value"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in JOB_CASES], ids=[c[0] for c in JOB_CASES])
def test_job_rules_fail(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(JOB, change))
    assert any(m.startswith(message) for m in messages), messages


def test_job_rules_pass() -> None:
    assert (
        _messages(_with(JOB, lambda d: d["spec"]["template"]["spec"].update(restartPolicy="OnFailure"))) == []
    )
    assert (
        _messages(_with(JOB, lambda d: d["spec"].update(completions=0, parallelism=0, backoffLimit=0))) == []
    )
    assert _messages(_with(JOB, lambda d: d["spec"].update(completionMode="Indexed", completions=3))) == []


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 1 1 *",
        "0 9-17 * * MON-FRI",
        "15,45 */2 ? jan,jul sun",
        "@hourly",
        "@daily",
        "@midnight",
        "@yearly",
        "@every 1h30m",
        "0 0 * * 6",
    ],
)
def test_cron_schedules_valid(schedule: str) -> None:
    assert validate_cron_schedule(schedule) is None
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(schedule=schedule))) == []


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
        ("60 * * * *", "minute value out of range (0-59): '60'"),
        ("* 24 * * *", "hour value out of range (0-23): '24'"),
        ("* * 0 * *", "day of month value out of range (1-31): '0'"),
        ("* * * 13 *", "month value out of range (1-12): '13'"),
        ("* * * * 7", "day of week value out of range (0-6): '7'"),
        ("*/0 * * * *", "invalid step '0' in minute '*/0'"),
        ("5-1 * * * *", "beginning of minute range (5) beyond end of range (1): '5-1'"),
        ("? * * * *", "'?' is not allowed in the minute field"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@every soon", "failed to parse duration @every soon"),
        ("a * * * *", "failed to parse minute 'a': not a number"),
    ],
)
def test_cron_schedules_invalid(schedule: str, problem: str) -> None:
    assert validate_cron_schedule(schedule) == problem
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(schedule=schedule))) == [
        f'spec.schedule: Invalid value: "{schedule}": {problem}'
    ]


def test_cron_job_rules() -> None:
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].pop("schedule"))) == [
        "spec.schedule: Required value"
    ]
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(schedule="TZ=UTC 0 * * * *"))) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'
    ]
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(concurrencyPolicy="Sometimes"))) == [
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'
    ]
    assert (
        _messages(
            _with(CRON_JOB, lambda d: d["spec"].update(concurrencyPolicy="Forbid", timeZone="Europe/Paris"))
        )
        == []
    )
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(timeZone="Mars/Olympus"))) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone'
    ]
    assert _messages(
        _with(
            CRON_JOB,
            lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(restartPolicy="Always"),
        )
    ) == [
        'spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    ]
    assert _messages(_with(CRON_JOB, lambda d: d["spec"].update(failedJobsHistoryLimit=-1))) == [
        "spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0"
    ]


# --------------------------------------------------------------------------- services

SERVICE_CASES = [
    (
        "type",
        lambda d: d["spec"].update(type="Ingress"),
        'spec.type: Unsupported value: "Ingress": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    ),
    ("ports required", lambda d: d["spec"].update(ports=[]), "spec.ports: Required value"),
    (
        "port range",
        lambda d: d["spec"]["ports"][0].update(port=0),
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    ),
    (
        "names required",
        lambda d: d["spec"]["ports"].append({"port": 443}),
        "spec.ports[1].name: Required value",
    ),
    (
        "names unique",
        lambda d: d["spec"]["ports"].append({"name": "http", "port": 443}),
        'spec.ports[1].name: Duplicate value: "http"',
    ),
    (
        "name syntax",
        lambda d: d["spec"]["ports"][0].update(name="HTTP"),
        'spec.ports[0].name: Invalid value: "HTTP"',
    ),
    (
        "protocol",
        lambda d: d["spec"]["ports"][0].update(protocol="ICMP"),
        'spec.ports[0].protocol: Unsupported value: "ICMP"',
    ),
    (
        "targetPort number",
        lambda d: d["spec"]["ports"][0].update(targetPort=70000),
        "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ),
    (
        "targetPort name",
        lambda d: d["spec"]["ports"][0].update(targetPort="Not_A_Name"),
        'spec.ports[0].targetPort: Invalid value: "Not_A_Name"',
    ),
    (
        "nodePort on ClusterIP",
        lambda d: d["spec"]["ports"][0].update(nodePort=30080),
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ),
    (
        "nodePort number",
        lambda d: (d["spec"].update(type="NodePort"), d["spec"]["ports"][0].update(nodePort=70000)),
        "spec.ports[0].nodePort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ),
    (
        "sessionAffinity",
        lambda d: d["spec"].update(sessionAffinity="Cookie"),
        'spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"',
    ),
    (
        "affinity timeout",
        lambda d: d["spec"].update(
            sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}}
        ),
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0",
    ),
    (
        "clusterIP",
        lambda d: d["spec"].update(clusterIP="10.0.0.300"),
        'spec.clusterIP: Invalid value: "10.0.0.300"',
    ),
    (
        "externalName required",
        lambda d: d["spec"].update(type="ExternalName"),
        "spec.externalName: Required value",
    ),
    (
        "selector labels",
        lambda d: d["spec"].update(selector={"app": "a b"}),
        'spec.selector: Invalid value: "a b"',
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_rules_fail(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(SERVICE, change))
    assert any(m.startswith(message) for m in messages), messages


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["spec"]["ports"][0].update(targetPort="http"),
        lambda d: d["spec"]["ports"][0].pop("name"),
        lambda d: d["spec"].update(clusterIP="None", ports=[]),
        lambda d: (d["spec"].update(type="NodePort"), d["spec"]["ports"][0].update(nodePort=30080)),
        lambda d: d["spec"].update(type="LoadBalancer"),
        lambda d: d["spec"].update(type="ExternalName", externalName="db.example.com", ports=[]),
        lambda d: d["spec"].update(
            sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}
        ),
        lambda d: d["spec"]["ports"].append({"name": "https", "port": 443, "targetPort": 8443}),
    ],
)
def test_service_rules_pass(change: Callable[[dict], Any]) -> None:
    assert _messages(_with(SERVICE, change)) == []


# --------------------------------------------------------------------------- autoscaling

HPA_CASES = [
    ("scaleTargetRef", lambda d: d["spec"].pop("scaleTargetRef"), "spec.scaleTargetRef: Required value"),
    (
        "target kind",
        lambda d: d["spec"]["scaleTargetRef"].pop("kind"),
        "spec.scaleTargetRef.kind: Required value",
    ),
    (
        "target name",
        lambda d: d["spec"]["scaleTargetRef"].pop("name"),
        "spec.scaleTargetRef.name: Required value",
    ),
    (
        "minReplicas",
        lambda d: d["spec"].update(minReplicas=0),
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
    ),
    ("maxReplicas required", lambda d: d["spec"].pop("maxReplicas"), "spec.maxReplicas: Required value"),
    (
        "max below min",
        lambda d: d["spec"].update(minReplicas=4, maxReplicas=2),
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
    ),
    (
        "metric type",
        lambda d: d["spec"]["metrics"][0].update(type="Magic"),
        'spec.metrics[0].type: Unsupported value: "Magic"',
    ),
    (
        "metric target type",
        lambda d: d["spec"]["metrics"][0]["resource"]["target"].update(type="Most"),
        'spec.metrics[0].resource.target.type: Unsupported value: "Most"',
    ),
    (
        "utilization",
        lambda d: d["spec"]["metrics"][0]["resource"]["target"].update(averageUtilization=0),
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
    ),
    (
        "behavior policy",
        lambda d: d["spec"].update(
            behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 60}]}}
        ),
        "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
    ),
    (
        "behavior window",
        lambda d: d["spec"].update(behavior={"scaleDown": {"stabilizationWindowSeconds": 7200}}),
        "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 7200: must be between 0 and 3600 seconds",
    ),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in HPA_CASES], ids=[c[0] for c in HPA_CASES])
def test_hpa_rules_fail(change: Callable[[dict], Any], message: str) -> None:
    messages = _messages(_with(HPA, change))
    assert any(m.startswith(message) for m in messages), messages


def test_hpa_rules_pass() -> None:
    assert _messages(_with(HPA, lambda d: d["spec"].update(minReplicas=5))) == []
    assert (
        _messages(
            _with(
                HPA,
                lambda d: d["spec"].update(
                    metrics=[
                        {
                            "type": "Pods",
                            "pods": {
                                "metric": {"name": "rps"},
                                "target": {"type": "AverageValue", "averageValue": "100"},
                            },
                        }
                    ]
                ),
            )
        )
        == []
    )
    assert (
        _messages(
            _with(HPA, lambda d: d["spec"].update(behavior={"scaleDown": {"selectPolicy": "Disabled"}}))
        )
        == []
    )


# --------------------------------------------------------------------------- other kinds


def test_config_map_rules() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"app.properties": "a=1", "MODE": "x"},
        "binaryData": {"blob": "aGVsbG8="},
    }
    assert _messages(base) == []
    (message,) = _messages(_with(base, lambda d: d["data"].update({"bad key": "x"})))
    assert message.startswith(
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters'
    )
    assert _messages(_with(base, lambda d: d["binaryData"].update({"MODE": "eA=="}))) == [
        'binaryData[MODE]: Invalid value: "MODE": duplicate of key present in data'
    ]
    assert _messages(_with(base, lambda d: d["binaryData"].update({"raw": "not base64!"}))) == [
        'binaryData[raw]: Invalid value: "<binary>": must be base64-encoded'
    ]
    huge = _with(base, lambda d: d["data"].update({"big": "x" * (1024 * 1024)}))
    assert [e.type for e in validate(decode(huge))] == ["FieldValueTooLong"]


def test_endpoints_rules() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "my-service"},
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}],
                "notReadyAddresses": [{"ip": "fd00::1"}],
                "ports": [{"port": 9376, "protocol": "TCP"}],
            }
        ],
    }
    assert _messages(base) == []
    assert _messages(_with(base, lambda d: d["subsets"][0]["addresses"].append({"ip": "10.0.0.256"}))) == [
        'subsets[0].addresses[1].ip: Invalid value: "10.0.0.256": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'
    ]
    assert _messages(_with(base, lambda d: d["subsets"][0]["notReadyAddresses"][0].pop("ip"))) == [
        "subsets[0].notReadyAddresses[0].ip: Required value"
    ]
    assert _messages(_with(base, lambda d: d["subsets"][0]["ports"][0].update(port=0))) == [
        "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    ]


def test_event_rules() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Scheduled",
        "type": "Normal",
    }
    assert _messages(base) == []
    assert _messages(_with(base, lambda d: d.pop("involvedObject"))) == ["involvedObject: Required value"]
    assert _messages(_with(base, lambda d: d["involvedObject"].pop("name"))) == [
        "involvedObject.name: Required value"
    ]
    assert _messages(_with(base, lambda d: d["involvedObject"].update(namespace="other"))) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace'
    ]
    assert _messages(_with(base, lambda d: d.update(type="Bad"))) == [
        'type: Unsupported value: "Bad": supported values: "Normal", "Warning"'
    ]


_PLAIN_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web.17a", "namespace": "default", "uid": "u-1", "creationTimestamp": "2026-01-02T03:04:05Z"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u-0", "apiVersion": "v1"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/web to node-1",
    "source": {"component": "default-scheduler"},
    "firstTimestamp": "2026-01-02T03:04:05Z",
    "lastTimestamp": "2026-01-02T03:04:05Z",
    "count": 1,
    "type": "Normal",
    "action": "Binding",
    "reportingComponent": "default-scheduler",
    "reportingInstance": "default-scheduler-host",
}


def test_a_plain_event_is_what_decoding_validating_and_encoding_give_back() -> None:
    assert plain_event_is_valid(_PLAIN_EVENT)
    model = decode(_PLAIN_EVENT)
    assert validate(model) == []
    assert encode(model) == _PLAIN_EVENT
    assert list(encode(model)) == list(_PLAIN_EVENT)  # the scheduler's field order is the model's


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(series={"count": 2}),  # a field the plain check leaves to the full path
        lambda d: d.update(unknown="x"),
        lambda d: d.update(message=None),
        lambda d: d.update(reason=5),
        lambda d: d.update(count=True),
        lambda d: d.update(count=1.0),
        lambda d: d.update(count=-1),
        lambda d: d.update(type="Bad"),
        lambda d: d.pop("involvedObject"),
        lambda d: d.update(involvedObject={"kind": "Pod", "name": "web", "namespace": "other"}),
        lambda d: d["involvedObject"].pop("kind"),
        lambda d: d["involvedObject"].update(name=""),
        lambda d: d["involvedObject"].update(fieldPath=None),
        lambda d: d.update(source={"component": "s", "extra": "x"}),
        lambda d: d.update(source="default-scheduler"),
        lambda d: d["metadata"].update(name="Not_A_Name"),
        lambda d: d["metadata"].update(namespace="Bad_Namespace"),
        lambda d: d["metadata"].update(labels={"a": "b"}),
        lambda d: d["metadata"].pop("name"),
        lambda d: d.update(metadata=[]),
    ],
)
def test_events_not_plain_or_not_valid_are_left_to_the_full_path(change: Callable[[dict], Any]) -> None:
    assert not plain_event_is_valid(_with(_PLAIN_EVENT, change))


_EVENT_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "Normal", "Warning", "default", "web"]))
_EVENT_STRINGS = ["reason", "message", "type", "action", "firstTimestamp", "eventTime", "reportingInstance"]


@settings(max_examples=300, deadline=None)
@given(
    strings=st.dictionaries(st.sampled_from(_EVENT_STRINGS), _EVENT_TEXT),
    count=st.one_of(st.none(), st.integers(-1, 3), st.booleans()),
    source=st.one_of(st.none(), st.dictionaries(st.sampled_from(["component", "host", "other"]), _EVENT_TEXT)),
    odd=st.sampled_from([{}, {}, {}, {"reason": None}, {"related": {"kind": "Pod"}}, {"series": {}}]),
    involved=st.dictionaries(st.sampled_from(["kind", "name", "namespace", "uid", "fieldPath", "other"]),
                             st.one_of(_EVENT_TEXT, st.none())),
    name=st.sampled_from(["web.1", "web.1", "web", "Web", "-web", "a" * 254]),
    namespace=st.sampled_from(["default", "default", "kube-system", "Bad"]),
)
def test_a_plain_event_passes_validation_and_encodes_to_itself(strings: dict, count: Any, source: Any, odd: dict,
                                                                involved: dict, name: str, namespace: str) -> None:
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
             "involvedObject": {"kind": "Pod", "name": "web", **involved}, **strings, **odd}
    if count is not None:
        event["count"] = count
    if source is not None:
        event["source"] = source
    if not plain_event_is_valid(event):
        return
    model = decode(event)
    assert validate(model) == []
    assert encode(model) == event


def test_lease_rules() -> None:
    base = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40},
    }
    assert _messages(base) == []
    assert _messages(_with(base, lambda d: d["spec"].update(leaseDurationSeconds=0))) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    ]
    assert _messages(_with(base, lambda d: d["spec"].update(leaseTransitions=-1))) == [
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_node_rules() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1"},
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
        },
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
    }
    assert _messages(base) == []
    assert _messages(_with(base, lambda d: d["spec"].update(podCIDR="10.244.1.0/33"))) == [
        'spec.podCIDR: Invalid value: "10.244.1.0/33": must be a valid CIDR (e.g. 10.244.0.0/24)'
    ]
    assert _messages(_with(base, lambda d: d["spec"]["taints"][0].update(effect="Sometimes"))) == [
        'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"'
    ]
    assert _messages(
        _with(base, lambda d: d["spec"]["taints"].append({"key": "dedicated", "effect": "NoSchedule"}))
    ) == ['spec.taints[1]: Duplicate value: "dedicated:NoSchedule"']
    assert _messages(_with(base, lambda d: d["status"]["capacity"].update(cpu="four"))) == [
        'status.capacity[cpu]: Invalid value: "four": must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
    ]


def test_binding_rules() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web"},
        "target": {"kind": "Node", "name": "node-1"},
    }
    from orchestra.api.codec import decode_as
    from orchestra.api.core import Binding

    assert validate(decode_as(Binding, base)) == []
    assert [str(e) for e in validate(decode_as(Binding, _with(base, lambda d: d.pop("target"))))] == [
        "target.name: Required value"
    ]


# --------------------------------------------------------------------------- entry points


def test_validate_or_raise() -> None:
    (deployment,) = loads((EXAMPLES / "nginx-deployment.yaml").read_text())
    assert validate_or_raise(deployment) is deployment
    deployment.spec.replicas = -1
    deployment.spec.selector.match_labels = {"app": "other"}
    with pytest.raises(ValidationError) as info:
        validate_or_raise(deployment)
    err = info.value
    assert (err.kind, err.name) == ("Deployment", "nginx-deployment")
    assert [e.path for e in err.errors] == ["spec.replicas", "spec.template.metadata.labels"]
    assert str(err).startswith('Deployment "nginx-deployment" is invalid: spec.replicas: Invalid value: -1')
    assert all(isinstance(e, FieldError) for e in err.errors)


def test_validation_survives_wrong_python_types() -> None:
    (deployment,) = loads((EXAMPLES / "nginx-deployment.yaml").read_text())
    deployment.spec.replicas = "3"
    assert [str(e) for e in validate(deployment)] == ['spec.replicas: Invalid value: "3": must be an integer']


def test_scale_rules() -> None:
    from orchestra.api.autoscaling import Scale, ScaleSpec
    from orchestra.api.meta import ObjectMeta

    assert validate(Scale(metadata=ObjectMeta(name="web"), spec=ScaleSpec(replicas=0))) == []
    assert [str(e) for e in validate(Scale(metadata=ObjectMeta(name="web"), spec=ScaleSpec(replicas=-1)))] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_validate_unknown_type() -> None:
    with pytest.raises(TypeError):
        validate(object())


def test_name_errors_name_the_path_and_the_rule():
    from orchestra.api.names import is_dns1123_subdomain
    from orchestra.api.validation import name_errors

    assert name_errors(is_dns1123_subdomain, "node-1.example", "target.name") == []
    (error,) = name_errors(is_dns1123_subdomain, "Node_1", "target.name")
    assert error.path == "target.name" and "RFC 1123 subdomain" in str(error)
    (error,) = name_errors(is_dns1123_subdomain, 5, "target.name")
    assert error.path == "target.name" and "must be a string" in str(error)
