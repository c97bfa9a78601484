"""Discovery documents, and kubectl against a real server with the generated kubeconfig."""

from __future__ import annotations

import asyncio
import json
import shutil

import orjson
import pytest

from orchestra.api.registry import resource_types
from orchestra.apiserver import discovery
from support.apiserver_server import start_server

KUBECTL = shutil.which("kubectl")
AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def test_version_is_a_semantic_version():
    info = discovery.version_info()
    assert info["major"] == "1" and info["minor"] == "32"
    assert info["gitVersion"].startswith("v1.32.0-orchestra.")


def test_api_versions_and_groups():
    assert discovery.api_versions("h:1")["versions"] == ["v1"]
    groups = {g["name"]: g for g in discovery.api_group_list()["groups"]}
    assert set(groups) == {"apps", "batch", "autoscaling", "coordination.k8s.io"}
    assert groups["autoscaling"]["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    assert discovery.api_group("apps")["kind"] == "APIGroup"
    assert discovery.api_group("nope") is None and discovery.api_group("") is None


def test_resource_lists_cover_the_registry():
    for rt in resource_types():
        doc = discovery.api_resource_list(rt.group, rt.version)
        entries = {r["name"]: r for r in doc["resources"]}
        entry = entries[rt.plural]
        assert entry["kind"] == rt.kind and entry["namespaced"] == rt.namespaced
        assert entry["singularName"] == rt.singular
        assert entry.get("shortNames", []) == list(rt.short_names)
        assert set(entry["verbs"]) == set(discovery.RESOURCE_VERBS)
        for sub in rt.subresources:
            assert f"{rt.plural}/{sub}" in entries
    assert discovery.api_resource_list("apps", "v2") is None


def test_subresource_entries():
    entries = {r["name"]: r for r in discovery.api_resource_list("apps", "v1")["resources"]}
    scale = entries["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert entries["deployments/status"]["verbs"] == ["get", "patch", "update"]
    pods = {r["name"]: r for r in discovery.api_resource_list("", "v1")["resources"]}
    assert pods["pods/binding"]["verbs"] == ["create"]
    assert pods["pods"]["categories"] == ["all"]
    assert "categories" not in pods["events"]


def test_aggregated_discovery():
    core = discovery.aggregated_discovery(core=True)
    assert core["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert [item["metadata"] for item in core["items"]] == [{}]
    resources = {r["resource"]: r for r in core["items"][0]["versions"][0]["resources"]}
    assert resources["nodes"]["scope"] == "Cluster"
    assert resources["pods"]["subresources"][0]["subresource"] == "status"
    named = discovery.aggregated_discovery(core=False)
    assert {item["metadata"]["name"] for item in named["items"]} == {"apps", "batch", "autoscaling", "coordination.k8s.io"}


@pytest.fixture
async def running(tmp_path):
    server = await start_server(tmp_path / "data")
    yield server
    await server.close()


async def test_discovery_over_http(running):
    status, headers, body = await running.request("GET", "/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert status == 200 and headers["Content-Type"] == discovery.AGGREGATED_CONTENT_TYPE
    assert orjson.loads(body)["kind"] == "APIGroupDiscoveryList"
    status, headers, body = await running.request("GET", "/apis")
    assert orjson.loads(body)["kind"] == "APIGroupList"
    status, _, body = await running.request("GET", "/api", headers={"Host": "example:6443"})
    assert orjson.loads(body)["serverAddressByClientCIDRs"][0]["serverAddress"] == "example:6443"
    status, _, body = await running.request("GET", "/apis/apps/v1")
    assert orjson.loads(body)["groupVersion"] == "apps/v1"
    assert (await running.request("GET", "/apis/apps/v9"))[0] == 404


async def test_openapi_routes(running):
    status, _, body = await running.request("GET", "/openapi/v3")
    index = orjson.loads(body)["paths"]
    assert "apis/apps/v1" in index
    status, _, body = await running.request("GET", index["apis/apps/v1"]["serverRelativeURL"])
    assert status == 200 and orjson.loads(body)["openapi"].startswith("3.")
    assert (await running.request("GET", "/openapi/v3/apis/nope/v1"))[0] == 404
    status, _, body = await running.request("GET", "/openapi/v2", headers={"Accept": "application/json"})
    assert status == 200 and orjson.loads(body)["swagger"] == "2.0"
    status, _, _ = await running.request(
        "GET", "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    )
    assert status == 406


async def kubectl(running, tmp_path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(running.data_dir / "kubeconfig"), "--cache-dir", str(tmp_path / "cache"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@needs_kubectl
async def test_kubectl_version(running, tmp_path):
    code, out, err = await kubectl(running, tmp_path, "version", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["serverVersion"]["gitVersion"] == discovery.version_info()["gitVersion"]


@needs_kubectl
async def test_kubectl_api_resources(running, tmp_path):
    code, out, err = await kubectl(running, tmp_path, "api-resources", "--no-headers")
    assert code == 0, err
    names = {line.split()[0] for line in out.splitlines()}
    assert names == {rt.plural for rt in resource_types()}


@needs_kubectl
async def test_kubectl_apply_get_and_delete(running, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  a: b\n"
    )
    code, out, err = await kubectl(running, tmp_path, "apply", "-f", str(manifest))
    assert code == 0, err
    code, out, err = await kubectl(running, tmp_path, "get", "configmaps")
    assert code == 0 and "settings" in out, err
    code, out, err = await kubectl(running, tmp_path, "--context", "orchestra-cert", "get", "cm", "settings", "-o", "json")
    assert code == 0 and json.loads(out)["data"] == {"a": "b"}, err
    code, out, err = await kubectl(running, tmp_path, "delete", "-f", str(manifest))
    assert code == 0, err
