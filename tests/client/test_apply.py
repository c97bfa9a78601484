"""The three-way strategic merge patch of client-side apply, as a pure function, and apply_object."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.api.apps import Deployment
from orchestra.api.core import Pod, Service
from orchestra.apiserver.patch import strategic_merge_patch
from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.client import Client
from orchestra.client.apply import (
    LAST_APPLIED_ANNOTATION,
    apply_object,
    kind_of_manifest,
    last_applied,
    three_way_merge_patch,
    with_last_applied,
)
from orchestra.client.client import UnknownKindError


def deployment(image="nginx:1.25", env=(("A", "1"), ("B", "2")), ports=(80, 443), replicas=2, **extra_spec):
    container = {"name": "web", "image": image}
    if ports:
        container["ports"] = [{"containerPort": p} for p in ports]
    if env:
        container["env"] = [{"name": n, "value": v} for n, v in env]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
                 **extra_spec},
    }


def live(config):
    """``config`` as the server keeps it: with fields the server added."""
    obj = copy.deepcopy(config)
    obj["metadata"].update(uid="u-1", resourceVersion="7", generation=3, creationTimestamp="2026-01-01T00:00:00Z")
    obj["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "3"
    spec = obj["spec"]
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    spec["revisionHistoryLimit"] = 10
    for container in spec["template"]["spec"]["containers"]:
        container["imagePullPolicy"] = "IfNotPresent"
        container["terminationMessagePath"] = "/dev/termination-log"
        for port in container.get("ports", []):
            port["protocol"] = "TCP"
    spec["template"]["spec"]["restartPolicy"] = "Always"
    obj["status"] = {"replicas": 2, "readyReplicas": 2}
    return obj


def container_patch(**changes):
    """The patch of the one container ``web``, with kubectl's element-order directive."""
    return {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}],
                                           "containers": [{"name": "web", **changes}]}}}}


CASES = {
    "nothing changed": (deployment(), deployment(), {}),
    "image changed": (deployment(), deployment(image="nginx:1.26"), container_patch(image="nginx:1.26")),
    "env var removed": (
        deployment(), deployment(env=(("A", "1"),)),
        container_patch(**{"$setElementOrder/env": [{"name": "A"}], "env": [{"name": "B", "$patch": "delete"}]}),
    ),
    "port removed": (
        deployment(), deployment(ports=(80,)),
        container_patch(**{"$setElementOrder/ports": [{"containerPort": 80}],
                           "ports": [{"containerPort": 443, "$patch": "delete"}]}),
    ),
    "env var value changed": (
        deployment(), deployment(env=(("A", "1"), ("B", "3"))),
        container_patch(**{"$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                           "env": [{"name": "B", "value": "3"}]}),
    ),
    "env var added": (
        deployment(), deployment(env=(("A", "1"), ("B", "2"), ("C", "3"))),
        container_patch(**{"$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                           "env": [{"name": "C", "value": "3"}]}),
    ),
    "env reordered": (
        deployment(), deployment(env=(("B", "2"), ("A", "1"))),
        {},  # order alone is not a change for a merging list (kubectl sends no patch either)
    ),
    "whole env list removed": (deployment(), deployment(env=()), container_patch(env=None)),
    "replicas changed": (deployment(), deployment(replicas=5), {"spec": {"replicas": 5}}),
    "label removed": (
        deployment(), {**deployment(), "metadata": {"name": "web", "namespace": "default"}},
        {"metadata": {"labels": None}},
    ),
    "strategy switched keeps only the new keys": (
        deployment(strategy={"type": "RollingUpdate"}), deployment(strategy={"type": "Recreate"}),
        {"spec": {"strategy": {"type": "Recreate", "$retainKeys": ["type"]}}},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_three_way_patch(name):
    original, modified, expected = CASES[name]
    assert three_way_merge_patch(original, modified, live(original), Deployment) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_patch_applied_to_live_object_gives_the_new_config_and_keeps_server_fields(name):
    original, modified, _ = CASES[name]
    current = live(original)
    patch = three_way_merge_patch(original, modified, current, Deployment)
    result = strategic_merge_patch(current, patch, kind="Deployment", api_version="apps/v1")
    if name == "strategy switched keeps only the new keys":
        assert result["spec"]["strategy"] == {"type": "Recreate"}
    elif name == "env reordered":
        assert result == current
    else:
        assert result == live(modified)
    assert result["status"] == current["status"]
    assert result["metadata"]["uid"] == "u-1"


def test_server_added_fields_are_not_touched():
    config = deployment()
    current = live(config)
    current["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    assert three_way_merge_patch(config, config, current, Deployment) == {}


def test_field_changed_by_someone_else_is_set_back_to_the_config():
    config = deployment()
    current = live(config)
    current["spec"]["replicas"] = 9  # e.g. a manual scale
    assert three_way_merge_patch(config, config, current, Deployment) == {"spec": {"replicas": 2}}


def test_without_last_applied_nothing_is_deleted():
    current = live(deployment())
    patch = three_way_merge_patch(None, deployment(env=(("A", "1"),)), current, Deployment)
    assert patch == {}


def test_deletion_of_a_field_already_gone_is_not_sent():
    original = deployment()
    current = live(deployment(env=(("A", "1"),)))
    assert three_way_merge_patch(original, deployment(env=(("A", "1"),)), current, Deployment) == {}


def test_list_without_merge_key_is_replaced_whole():
    original = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["a", "b"]}],
                         "tolerations": [{"key": "x", "operator": "Exists"}]}}
    modified = copy.deepcopy(original)
    modified["spec"]["tolerations"] = [{"key": "y", "operator": "Exists"}]
    modified["spec"]["containers"][0]["args"] = ["a"]
    patch = three_way_merge_patch(original, modified, copy.deepcopy(original), Pod)
    assert patch == {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}],
                              "$setElementOrder/containers": [{"name": "c"}],
                              "containers": [{"name": "c", "args": ["a"]}]}}


def test_service_port_removed_by_its_merge_key():
    original = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80}, {"port": 443}]}}
    modified = copy.deepcopy(original)
    modified["spec"]["ports"] = [{"port": 80}]
    assert three_way_merge_patch(original, modified, copy.deepcopy(original), Service) == {
        "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 443, "$patch": "delete"}]}}


def test_primitive_merge_list_deletions_use_the_directive():
    """Items only the server has (``c``) stay, after the configured ones."""
    original = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b"]}}
    modified = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a"]}}
    current = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b", "c"]}}
    patch = three_way_merge_patch(original, modified, current, Pod)
    assert patch == {"metadata": {"$setElementOrder/finalizers": ["a"], "$deleteFromPrimitiveList/finalizers": ["b"]}}
    result = strategic_merge_patch(current, patch, kind="Pod", api_version="v1")
    assert result["metadata"]["finalizers"] == ["a", "c"]


def test_arguments_are_not_modified():
    original, modified = deployment(), deployment(env=(("A", "1"),), image="x")
    current = live(original)
    snapshot = copy.deepcopy((original, modified, current))
    three_way_merge_patch(original, modified, current, Deployment)
    assert (original, modified, current) == snapshot


def test_with_last_applied_stores_the_config_without_the_annotation():
    config = deployment()
    config["metadata"]["annotations"] = {"team": "a", LAST_APPLIED_ANNOTATION: "stale"}
    modified = with_last_applied(config)
    stored = last_applied(modified)
    assert stored["metadata"]["annotations"] == {"team": "a"}
    assert stored["spec"] == config["spec"]
    assert modified["metadata"]["annotations"]["team"] == "a"
    assert modified["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].endswith("\n")
    assert with_last_applied(config) == modified  # deterministic: same text each time


def test_last_applied_text_is_the_one_kubectl_writes():
    config = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}
    text = with_last_applied(config)["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert text == ('{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web",'
                    '"namespace":"default"},"spec":{"ports":[{"port":80,"targetPort":80}],'
                    '"selector":{"app":"web"}}}\n')


def test_last_applied_tolerates_missing_and_garbage():
    assert last_applied({"metadata": {}}) is None
    assert last_applied({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{not json"}}}) is None
    assert last_applied({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "[1]"}}}) is None


def test_kind_of_manifest():
    assert kind_of_manifest(deployment()).plural == "deployments"
    with pytest.raises(UnknownKindError, match='no matches for kind "Frob" in version "v1"'):
        kind_of_manifest({"apiVersion": "v1", "kind": "Frob"})


_env_names = st.lists(st.sampled_from("ABCDEF"), unique=True, max_size=5)


@given(before=_env_names, after=_env_names, image=st.sampled_from(["a", "b"]), replicas=st.integers(0, 3))
def test_applying_any_change_gives_the_new_env(before, after, image, replicas):
    original = deployment(env=tuple((n, n.lower()) for n in before))
    modified = deployment(env=tuple((n, n.lower()) for n in after), image=image, replicas=replicas)
    current = live(original)
    patch = three_way_merge_patch(original, modified, current, Deployment)
    result = strategic_merge_patch(current, patch, kind="Deployment", api_version="apps/v1")
    container = result["spec"]["template"]["spec"]["containers"][0]
    assert sorted(e["name"] for e in container.get("env") or []) == sorted(after)
    assert container["image"] == image and result["spec"]["replicas"] == replicas
    assert container["imagePullPolicy"] == "IfNotPresent"


# --------------------------------------------------------------------------- against a server


@pytest.fixture
async def client(tmp_path):
    server = await APIServer.create("memory://", data_dir=tmp_path)
    yield Client.in_process(server, UserInfo("admin"))
    await server.close()


async def test_apply_object_creates_configures_and_leaves_unchanged(client):
    first = await apply_object(client, deployment())
    assert first.action == "created"
    assert orjson.loads(first.object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])["spec"] == deployment()["spec"]
    assert (await apply_object(client, deployment())).action == "unchanged"
    changed = await apply_object(client, deployment(env=(("A", "1"),), ports=(80,), image="nginx:1.26"))
    assert changed.action == "configured"
    container = changed.object["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["image"] == "nginx:1.26"
    assert container["imagePullPolicy"] == "IfNotPresent"  # defaulted by the server, kept


async def test_apply_object_namespace_rules(client):
    config = deployment()
    del config["metadata"]["namespace"]
    result = await apply_object(client, config, namespace="kube-system")
    assert result.object["metadata"]["namespace"] == "kube-system"
    with pytest.raises(ValueError, match="does not match the namespace"):
        await apply_object(client, deployment(), namespace="kube-system")
    with pytest.raises(ValueError, match="metadata.name"):
        await apply_object(client, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})


def test_changed_list_follows_the_config_order_and_keeps_server_items():
    original = deployment(env=(("A", "1"), ("B", "2")))
    modified = deployment(env=(("C", "3"), ("B", "2"), ("A", "1")))
    current = live(original)
    current["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "INJECTED", "value": "x"})
    patch = three_way_merge_patch(original, modified, current, Deployment)
    result = strategic_merge_patch(current, patch, kind="Deployment", api_version="apps/v1")
    env = [e["name"] for e in result["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert env == ["C", "B", "A", "INJECTED"]
