"""The API object codec: decode + encode of a realistic Pod and Event, compiled walks vs pure Python.

Run with ``pytest benchmarks/api/bench_codec.py --benchmark-enable``. Each benchmark
decodes a wire dict into model objects and encodes it back (what the API server does
for every write, with defaulting and validation in between), once with the compiled
walks of ``orchestra._ext.codec`` and once with the pure-Python reference, in the same
run: compare the ``compiled`` and ``python`` rows of each group. ``extra_info`` records
the rate per second.
"""

from __future__ import annotations

import copy

import pytest

from orchestra.api import codec

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-7d4b9c8f6d-x2x7k",
        "generateName": "web-7d4b9c8f6d-",
        "namespace": "default",
        "uid": "0b5c1f0e-3a51-4c43-9b35-2a6f0e9d7c11",
        "resourceVersion": "182734",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d", "tier": "frontend"},
        "annotations": {"orchestra.io/restartedAt": "2026-01-01T00:00:00Z"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c8f6d",
                "uid": "5f2b8e4a-9c1d-4f6e-8a3b-7c2d1e0f9a8b",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}}],
        "containers": [
            {
                "name": "web",
                "image": "registry.local/web:1.4.2",
                "command": ["/bin/web"],
                "args": ["--port=8080", "--log-level=info"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "production"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                ],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": True}],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                    "initialDelaySeconds": 5, "timeoutSeconds": 1, "periodSeconds": 10,
                    "successThreshold": 1, "failureThreshold": 3,
                },
                "readinessProbe": {
                    "tcpSocket": {"port": "http"}, "timeoutSeconds": 1, "periodSeconds": 5,
                    "successThreshold": 1, "failureThreshold": 3,
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "nodeName": "node-17",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    },
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:01Z"},
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:04Z"},
            {"type": "ContainersReady", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:04Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ],
        "hostIP": "192.168.1.17",
        "podIP": "10.244.17.5",
        "podIPs": [{"ip": "10.244.17.5"}],
        "startTime": "2026-01-01T00:00:01Z",
        "containerStatuses": [
            {
                "name": "web",
                "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}},
                "lastState": {},
                "ready": True,
                "restartCount": 0,
                "image": "registry.local/web:1.4.2",
                "imageID": "sha256:4f5e6d7c8b9a",
                "containerID": "orchestra://8d7c6b5a4f3e",
                "started": True,
            }
        ],
        "qosClass": "Burstable",
    },
}

EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-7d4b9c8f6d-x2x7k.18a2b3c4d5e6f708", "namespace": "default"},
    "involvedObject": {
        "kind": "Pod", "apiVersion": "v1", "namespace": "default",
        "name": "web-7d4b9c8f6d-x2x7k", "uid": "0b5c1f0e-3a51-4c43-9b35-2a6f0e9d7c11",
    },
    "reason": "Scheduled",
    "message": "Successfully assigned default/web-7d4b9c8f6d-x2x7k to node-17",
    "type": "Normal",
    "action": "Binding",
    "source": {"component": "default-scheduler"},
    "reportingComponent": "default-scheduler",
    "reportingInstance": "default-scheduler-host-1",
    "firstTimestamp": "2026-01-01T00:00:00Z",
    "lastTimestamp": "2026-01-01T00:00:00Z",
    "count": 1,
}

OBJECTS = {"pod": POD, "event": EVENT}
IMPLEMENTATIONS = ["python", "compiled"]


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request):
    before = codec._implementation()
    try:
        codec._use_implementation(request.param)
    except RuntimeError:
        pytest.skip("orchestra._ext.codec is not built")
    yield request.param
    codec._use_implementation(before)


def _rate(benchmark) -> None:
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_second"] = round(1 / benchmark.stats["mean"])


@pytest.mark.parametrize("kind", list(OBJECTS))
def test_decode_encode(benchmark, implementation, kind):
    benchmark.group = f"decode+encode {kind}"
    data = OBJECTS[kind]
    assert codec.encode(codec.decode(data)) == data
    benchmark(lambda: codec.encode(codec.decode(data)))
    _rate(benchmark)


@pytest.mark.parametrize("kind", list(OBJECTS))
def test_decode(benchmark, implementation, kind):
    benchmark.group = f"decode {kind}"
    data = OBJECTS[kind]
    benchmark(codec.decode, data)
    _rate(benchmark)


@pytest.mark.parametrize("kind", list(OBJECTS))
def test_encode(benchmark, implementation, kind):
    benchmark.group = f"encode {kind}"
    obj = codec.decode(copy.deepcopy(OBJECTS[kind]))
    benchmark(codec.encode, obj)
    _rate(benchmark)
