"""``orchestra apply``: create, configure, unchanged; removed fields disappear; errors name the file."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap

import orjson
import pytest
import yaml

from orchestra.client import resolve_kind
from orchestra.client.apply import LAST_APPLIED_ANNOTATION


def manifest(name: str, *, image: str = "nginx:1.25", env: str = "A=1,B=2", ports: str = "80,443") -> str:
    """A Deployment manifest as YAML text."""
    container = {"name": "web", "image": image,
                 "env": [{"name": k, "value": v} for k, v in (p.split("=") for p in env.split(",") if p)],
                 "ports": [{"containerPort": int(p)} for p in ports.split(",") if p]}
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}},
    }, sort_keys=False)


def live(cluster, name: str, namespace: str = "default") -> dict:
    """The stored Deployment, read straight from the server's storage."""
    storage = cluster.server.storage.storage(resolve_kind("deploy"))
    return cluster.call(lambda server: storage.get(namespace, name))


def test_create_then_unchanged_then_configured(orchestra, cluster, unique, tmp_path):
    name = unique("web")
    path = tmp_path / "deploy.yaml"
    path.write_text(manifest(name))
    first = orchestra("apply", "-f", str(path))
    assert (first.code, first.out) == (0, f"deployment.apps/{name} created\n")
    obj = live(cluster, name)
    assert orjson.loads(obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])["metadata"]["name"] == name

    again = orchestra("apply", "-f", str(path))
    assert (again.code, again.out) == (0, f"deployment.apps/{name} unchanged\n")

    path.write_text(manifest(name, image="nginx:1.26", env="A=1", ports="80"))
    changed = orchestra("apply", "-f", str(path))
    assert (changed.code, changed.out) == (0, f"deployment.apps/{name} configured\n")
    container = live(cluster, name)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.26"
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in container["ports"]] == [80]
    assert container["imagePullPolicy"] == "IfNotPresent"  # the server's default survives


def test_directory_recursive_and_stdin(orchestra, unique, tmp_path, monkeypatch):
    a, b, c = unique("dir"), unique("dir"), unique("stdin")
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(manifest(a))
    (tmp_path / "sub" / "b.yml").write_text(manifest(b))
    (tmp_path / "notes.txt").write_text("not a manifest")
    flat = orchestra("apply", "-f", str(tmp_path))
    assert flat.out == f"deployment.apps/{a} created\n"
    deep = orchestra("apply", "-f", str(tmp_path), "-R")
    assert deep.out == f"deployment.apps/{a} unchanged\ndeployment.apps/{b} created\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(manifest(c).encode())))
    piped = orchestra("apply", "-f", "-")
    assert (piped.code, piped.out) == (0, f"deployment.apps/{c} created\n")


def test_namespace_option(orchestra, cluster, unique, tmp_path):
    name = unique("ns")
    path = tmp_path / "d.yaml"
    path.write_text(manifest(name))
    assert orchestra("apply", "-f", str(path), "-n", "kube-public").code == 0
    assert live(cluster, name, "kube-public")["metadata"]["namespace"] == "kube-public"


def test_server_errors_name_the_file_and_the_rest_is_applied(orchestra, unique, tmp_path):
    good = unique("good")
    path = tmp_path / "mixed.yaml"
    path.write_text(manifest(good) + "---\n" + textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: bad, namespace: no-such-namespace}
        spec:
          containers: [{name: c, image: busybox}]
        """))
    outcome = orchestra("apply", "-f", str(path))
    assert outcome.code == 1
    assert outcome.out == f"deployment.apps/{good} created\n"
    assert outcome.err.startswith("Error from server (NotFound): ")
    assert f"(applying {path}:" in outcome.err
    assert "Traceback" not in outcome.err


def test_invalid_object_reports_the_causes(orchestra, tmp_path):
    path = tmp_path / "invalid.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: Not_Valid}\nspec:\n  containers: []\n")
    outcome = orchestra("apply", "-f", str(path))
    assert outcome.code == 1
    assert outcome.err.startswith("Error from server (Invalid): ")
    assert f"{path}:1" in outcome.err


def test_unparseable_file_and_unknown_kind(orchestra, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: [unclosed\n")
    outcome = orchestra("apply", "-f", str(broken))
    assert outcome.code == 1 and outcome.err.startswith("error: ") and str(broken) in outcome.err
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    outcome = orchestra("apply", "-f", str(unknown))
    assert outcome.code == 1
    assert outcome.err.strip() == f'error: no matches for kind "Widget" in version "example.com/v1" (applying {unknown}:1)'


def test_missing_path_and_missing_flag(orchestra, tmp_path):
    assert orchestra("apply", "-f", str(tmp_path / "nope.yaml")).code != 0
    outcome = orchestra("apply")
    assert outcome.code == 2 and "-f" in outcome.err


def test_server_dry_run_persists_nothing(orchestra, unique, tmp_path):
    name = unique("dry")
    path = tmp_path / "d.yaml"
    path.write_text(manifest(name))
    outcome = orchestra("apply", "-f", str(path), "--dry-run", "server")
    assert outcome.out == f"deployment.apps/{name} created (server dry run)\n"
    assert orchestra("get", "deploy", name).code == 1


def test_object_created_without_apply_gets_the_annotation_with_a_warning(orchestra, cluster, create, unique,
                                                                           tmp_path):
    name = unique("plain")
    create(yaml.safe_load(manifest(name)))
    path = tmp_path / "d.yaml"
    path.write_text(manifest(name, image="nginx:1.27"))
    outcome = orchestra("apply", "-f", str(path))
    assert (outcome.code, outcome.out) == (0, f"deployment.apps/{name} configured\n")
    assert outcome.err.startswith(f"Warning: resource deployments/{name} is missing the {LAST_APPLIED_ANNOTATION}")
    assert LAST_APPLIED_ANNOTATION in live(cluster, name)["metadata"]["annotations"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_and_orchestra_take_turns_without_spurious_changes(orchestra, cluster, unique, tmp_path):
    name = unique("interop")
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(manifest(name))
    second.write_text(manifest(name, env="A=1", ports="80"))

    def kubectl(path):
        done = subprocess.run(["kubectl", "apply", "-f", str(path), "--kubeconfig", str(cluster.kubeconfig)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert kubectl(first) == f"deployment.apps/{name} created\n"
    assert orchestra("apply", "-f", str(first)).out == f"deployment.apps/{name} unchanged\n"
    assert orchestra("apply", "-f", str(second)).out == f"deployment.apps/{name} configured\n"
    assert kubectl(second) == f"deployment.apps/{name} unchanged\n"
    assert kubectl(first) == f"deployment.apps/{name} configured\n"
    container = live(cluster, name)["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]] == ["A", "B"]
