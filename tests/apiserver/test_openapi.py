"""Tests for orchestra.apiserver.openapi: the v3 index and documents, the v2 document, and kubectl reading them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from orchestra.api import registry
from orchestra.apiserver import openapi
from orchestra.apiserver.openapi import (
    openapi_v2,
    openapi_v3_document,
    openapi_v3_document_bytes,
    openapi_v3_index,
    schema_name,
)
from orchestra.apiserver.patch import apply_patch

GROUP_VERSIONS = ["api/v1", "apis/apps/v1", "apis/batch/v1", "apis/coordination.k8s.io/v1", "apis/autoscaling/v2"]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def schemas(path: str) -> dict:
    document = openapi_v3_document(path)
    assert document is not None
    return document["components"]["schemas"]


def test_index_lists_every_group_version_with_a_content_hash():
    index = openapi_v3_index()
    assert sorted(index["paths"]) == sorted(GROUP_VERSIONS)
    for path, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{path}?hash=")
        digest = url.split("hash=")[1]
        assert digest == hashlib.sha512(openapi_v3_document_bytes(path)).hexdigest().upper()


def test_unknown_document_is_none_and_leading_slash_is_accepted():
    assert openapi_v3_document("apis/nope/v1") is None
    assert openapi_v3_document("/api/v1") == openapi_v3_document("api/v1")


def test_documents_are_cached():
    assert openapi_v3_document_bytes("api/v1") is openapi_v3_document_bytes("api/v1")


@pytest.mark.parametrize("path", GROUP_VERSIONS)
def test_every_ref_resolves_inside_its_document(path):
    document = openapi_v3_document(path)
    names = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in names, ref
    assert document["openapi"].startswith("3.")


def test_kinds_are_named_like_kubernetes_and_carry_their_gvk():
    core = schemas("api/v1")
    assert core["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert core["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"] == "PodList"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in core
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.Status" in core
    apps = schemas("apis/apps/v1")
    assert apps["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert "io.k8s.api.autoscaling.v1.Scale" in apps
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector" in apps
    for rt in registry.resource_types():
        assert schema_name(rt.cls) in schemas(f"api/{rt.version}" if not rt.group else f"apis/{rt.group}/{rt.version}")


def test_patch_extensions_come_from_the_merge_key_table():
    core = schemas("api/v1")
    spec = core["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["containers"]["x-kubernetes-patch-strategy"] == "merge"
    assert spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert "x-kubernetes-patch-strategy" not in spec["tolerations"]
    container = core["io.k8s.api.core.v1.Container"]["properties"]
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert container["env"]["x-kubernetes-patch-merge-key"] == "name"
    assert container["volumeMounts"]["x-kubernetes-patch-merge-key"] == "mountPath"
    meta = core["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["finalizers"]["x-kubernetes-patch-strategy"] == "merge"
    assert "x-kubernetes-patch-merge-key" not in meta["finalizers"]
    assert meta["ownerReferences"]["x-kubernetes-patch-merge-key"] == "uid"
    apps = schemas("apis/apps/v1")
    assert apps["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"] == "retainKeys"


def test_int_or_string_and_quantity_formats():
    core = schemas("api/v1")
    port = core["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert port == {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
    assert core["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    limits = core["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    assert "io.k8s.apimachinery.pkg.api.resource.Quantity" in core


def test_objects_preserve_unknown_fields_and_use_class_docstrings():
    deployment = schemas("apis/apps/v1")["io.k8s.api.apps.v1.DeploymentStrategy"]
    assert deployment["x-kubernetes-preserve-unknown-fields"] is True
    assert deployment["description"].startswith("How a Deployment replaces old pods")
    assert set(deployment["properties"]) == {"type", "rollingUpdate"}


def _operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def test_patch_operations_advertise_field_validation_and_patch_types():
    document = openapi_v3_document("apis/apps/v1")
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch"
    assert {p["name"] for p in patch["parameters"]} >= {"fieldValidation", "fieldManager", "dryRun"}
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}
    scale = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}


@pytest.mark.parametrize("path", GROUP_VERSIONS)
def test_every_resource_has_its_verbs(path):
    document = openapi_v3_document(path)
    actions = {(p, m): op["x-kubernetes-action"] for p, m, op in _operations(document)}
    for rt in registry.resource_types():
        prefix = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
        if not path.endswith(prefix.lstrip("/")):
            continue
        collection = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
        assert actions[(collection, "get")] == "list"
        assert actions[(collection, "post")] == "post"
        assert actions[(collection, "delete")] == "deletecollection"
        for method, action in (("get", "get"), ("put", "put"), ("patch", "patch"), ("delete", "delete")):
            assert actions[(collection + "/{name}", method)] == action
        if "status" in rt.subresources:
            assert actions[(collection + "/{name}/status", "patch")] == "patch"
        if rt.namespaced:
            assert actions[(f"{prefix}/{rt.plural}", "get")] == "list"


def test_operation_ids_follow_kubernetes_naming():
    core = openapi_v3_document("api/v1")
    assert core["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]["operationId"] == "listCoreV1NamespacedPod"
    assert core["paths"]["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert core["paths"]["/api/v1/nodes/{name}/status"]["patch"]["operationId"] == "patchCoreV1NodeStatus"
    batch = openapi_v3_document("apis/batch/v1")
    assert batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["put"]["operationId"] == "replaceBatchV1NamespacedJob"


def test_v2_is_swagger_with_definitions_and_resolving_refs():
    document = openapi_v2()
    assert document["swagger"] == "2.0"
    definitions = document["definitions"]
    assert "io.k8s.api.core.v1.Pod" in definitions and "io.k8s.api.apps.v1.Deployment" in definitions
    for ref in refs(document):
        assert ref.startswith("#/definitions/")
        assert ref.removeprefix("#/definitions/") in definitions, ref
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {"type": "string", "format": "int-or-string"}
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert any(p["in"] == "body" for p in patch["parameters"])
    assert all("schema" not in p for p in patch["parameters"] if p["in"] == "query")


def test_module_declares_its_public_names():
    assert set(openapi.__all__) == {"schema_name", "openapi_v3_index", "openapi_v3_document",
                                    "openapi_v3_document_bytes", "openapi_v2"}


# --------------------------------------------------------------------------- against kubectl

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

_RESOURCE = {"namespaced": True, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
_DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
        "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "singularName": "configmap", "kind": "ConfigMap", **_RESOURCE}]},
    "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
        {"name": "deployments", "singularName": "deployment", "kind": "Deployment", **_RESOURCE}]},
}


class _FakeAPI(BaseHTTPRequestHandler):
    """Just enough of an API server for kubectl: discovery, OpenAPI v3, one Deployment."""

    objects: dict[str, dict] = {}
    requests: list[tuple[str, str, dict | None]] = []

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in _DISCOVERY:
            return self._reply(200, _DISCOVERY[path])
        if path == "/openapi/v3":
            return self._reply(200, openapi_v3_index())
        if path.startswith("/openapi/v3/"):
            return self._reply(200, openapi_v3_document(path.removeprefix("/openapi/v3/")))
        name = path.rsplit("/", 1)[-1]
        if name in self.objects:
            return self._reply(200, self.objects[name])
        return self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                 "code": 404, "details": {"name": name, "kind": "deployments"}})

    def do_POST(self):
        obj = json.loads(self._body())
        obj["metadata"].update(uid="u1", resourceVersion="1", creationTimestamp="2026-01-01T00:00:00Z")
        self.requests.append(("POST", self.path, obj))
        self.objects[obj["metadata"]["name"]] = obj
        return self._reply(201, obj)

    def do_PATCH(self):
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        body = self._body()
        self.requests.append(("PATCH", self.path, json.loads(body)))
        patched = apply_patch(self.objects[name], self.headers["Content-Type"], body,
                              kind="Deployment", api_version="apps/v1")
        self.objects[name] = patched
        return self._reply(200, patched)


@pytest.fixture
def kubectl(tmp_path):
    _FakeAPI.objects = {}
    _FakeAPI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u", "namespace": "default"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    yield run
    server.shutdown()
    server.server_close()


MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  notModelledByOrchestra: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80}, {containerPort: 443}]
"""


@needs_kubectl
def test_kubectl_explain_reads_the_v3_documents(kubectl):
    out = kubectl("explain", "deployment.spec.strategy")
    assert "DeploymentStrategy" in out
    assert "rollingUpdate" in out and "type" in out


@needs_kubectl
def test_kubectl_apply_uses_the_merge_keys_and_server_side_validation(kubectl):
    kubectl("apply", "-f", "-", stdin=MANIFEST)
    changed = MANIFEST.replace("nginx:1.25", "nginx:1.26").replace('{name: A, value: "1"}, ', "").replace(
        ", {containerPort: 443}", "")
    kubectl("apply", "-f", "-", stdin=changed)
    methods = [(method, path.split("?")[1]) for method, path, _ in _FakeAPI.requests]
    assert methods[0][0] == "POST" and "fieldValidation=Strict" in methods[0][1]
    assert methods[1][0] == "PATCH" and "fieldValidation=Strict" in methods[1][1]
    patch = _FakeAPI.requests[1][2]["spec"]["template"]["spec"]["containers"][0]
    assert patch["env"] == [{"$patch": "delete", "name": "A"}]
    assert patch["ports"] == [{"$patch": "delete", "containerPort": 443}]
    container = _FakeAPI.objects["web"]["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx:1.26", "env": [{"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80}]}
    assert _FakeAPI.objects["web"]["spec"]["notModelledByOrchestra"] == 1
