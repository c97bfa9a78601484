"""Container environments: downward API, ConfigMaps, $(VAR) expansion, errors."""

from __future__ import annotations

import pytest

from orchestra.node.environment import CreateContainerConfigError, PodAddresses, build_environment, expand

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
       "spec": {"nodeName": "n1", "serviceAccountName": "default"}}
ADDRESSES = PodAddresses("10.1.0.2", "192.168.0.1")


async def get(kind, namespace, name):
    if kind == "configmaps" and name == "cm":
        return {"data": {"a": "1", "b-c": "2", "bad name": "3"}}
    return None


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)", "x"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("a$(A)b$(A)", "axbx"), ("plain", "plain"),
])
def test_expand(text, expected):
    assert expand(text, {"A": "x"}) == expected


async def test_env_from_and_value_from():
    container = {"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
                 "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                         {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                         {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                         {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                         {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                            "divisor": "1Mi"}}},
                         {"name": "URL", "value": "http://$(IP):80"}],
                 "resources": {"limits": {"memory": "64Mi"}}}
    env = dict(await build_environment(POD, container, ADDRESSES, get))
    assert env["CM_a"] == "1" and env["CM_b-c"] == "2" and "CM_bad name" not in env
    assert env["POD"] == "p" and env["APP"] == "web" and env["HOST"] == "192.168.0.1"
    assert env["URL"] == "http://10.1.0.2:80" and env["MEM"] == "64"


async def test_missing_config_map_key_and_optional():
    missing_key = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zzz"}}}]}
    with pytest.raises(CreateContainerConfigError, match="couldn't find key zzz in ConfigMap ns/cm"):
        await build_environment(POD, missing_key, ADDRESSES, get)
    optional = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k",
                                                                        "optional": True}}}]}
    assert await build_environment(POD, optional, ADDRESSES, get) == []
    with pytest.raises(CreateContainerConfigError, match="unsupported fieldPath"):
        await build_environment(POD, {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.x"}}}]},
                                ADDRESSES, get)
