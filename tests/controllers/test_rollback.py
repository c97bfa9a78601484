"""The real kubectl against an HTTP API server with the controllers running: rollout status,
history and undo (client-side in apps/v1), cascading delete, namespace deletion."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.support.cli_server import deployment, start_threaded_server
from tests.support.controller_cluster import start_controllers
from tests.support.kubectl import Kubectl, find_kubectl, requires_kubectl

pytestmark = [requires_kubectl]

#: A deadlock guard for the few waits below, not a measured expectation.
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = start_threaded_server(tmp_path_factory.mktemp("apiserver"))
    controllers = start_controllers(server)
    yield server
    controllers.stop()
    server.stop()


@pytest.fixture(scope="module")
def kubectl(cluster, tmp_path_factory) -> Kubectl:
    return Kubectl(find_kubectl(), cluster.kubeconfig, tmp_path_factory.mktemp("kubectl-home"))


def wait_for(check, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def images(kubectl, app, namespace="default"):
    out = kubectl.run("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout
    pods = [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
    return sorted(p["spec"]["containers"][0]["image"] for p in pods)


def rolled_out(kubectl, name):
    out = kubectl.run("rollout", "status", f"deployment/{name}", f"--timeout={WAIT_SECONDS}s").stdout
    assert out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out'


def test_rollout_status_history_and_undo(kubectl, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump(deployment("kweb", replicas=3)))
    kubectl.run("apply", "-f", str(manifest))
    rolled_out(kubectl, "kweb")
    kubectl.run("set", "image", "deployment/kweb", "web=nginx:1.26")
    rolled_out(kubectl, "kweb")
    assert images(kubectl, "kweb") == ["nginx:1.26"] * 3
    history = kubectl.run("rollout", "history", "deployment/kweb").stdout.splitlines()
    assert history[0].strip() == "deployment.apps/kweb"
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"]
    one = kubectl.run("rollout", "history", "deployment/kweb", "--revision=1").stdout
    assert "nginx:1.25" in one
    undo = kubectl.run("rollout", "undo", "deployment/kweb").stdout
    assert undo.strip() == "deployment.apps/kweb rolled back"
    rolled_out(kubectl, "kweb")
    assert images(kubectl, "kweb") == ["nginx:1.25"] * 3
    history = kubectl.run("rollout", "history", "deployment/kweb").stdout.splitlines()
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["2", "3"]
    annotations = json.loads(kubectl.run("get", "deployment", "kweb", "-o", "json").stdout)["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    kubectl.run("rollout", "undo", "deployment/kweb", "--to-revision=2")
    rolled_out(kubectl, "kweb")
    assert images(kubectl, "kweb") == ["nginx:1.26"] * 3
    missing = kubectl.fails("rollout", "undo", "deployment/kweb", "--to-revision=9")
    assert "unable to find specified revision 9" in missing.stderr


def test_scale_and_restart(kubectl, tmp_path):
    manifest = tmp_path / "sc.yaml"
    manifest.write_text(yaml.safe_dump(deployment("ksc", replicas=1)))
    kubectl.run("apply", "-f", str(manifest))
    rolled_out(kubectl, "ksc")
    kubectl.run("scale", "deployment/ksc", "--replicas=4")
    rolled_out(kubectl, "ksc")
    assert len(images(kubectl, "ksc")) == 4
    kubectl.run("scale", "deployment/ksc", "--replicas=2")
    wait_for(lambda: len(images(kubectl, "ksc")) == 2, "scale down to 2")
    kubectl.run("rollout", "restart", "deployment/ksc")
    rolled_out(kubectl, "ksc")
    status = json.loads(kubectl.run("get", "deployment", "ksc", "-o", "json").stdout)["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2)


def test_delete_deployment_removes_replica_sets_and_pods(kubectl, tmp_path):
    manifest = tmp_path / "gone.yaml"
    manifest.write_text(yaml.safe_dump(deployment("kgone", replicas=2)))
    kubectl.run("apply", "-f", str(manifest))
    rolled_out(kubectl, "kgone")
    kubectl.run("delete", "deployment", "kgone")
    wait_for(lambda: not kubectl.run("get", "rs,pods", "-l", "app=kgone", "-o", "name").stdout.strip(),
             "replica sets and pods of a deleted deployment to go")


def test_delete_namespace_removes_everything(kubectl, tmp_path):
    # kubectl create sends protobuf, which the server does not take: apply manifests instead
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kteam"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "kteam"},
              "data": {"a": "b"}}
    (tmp_path / "ns.yaml").write_text(yaml.safe_dump(namespace))
    kubectl.run("apply", "-f", str(tmp_path / "ns.yaml"))
    manifest = tmp_path / "content.yaml"
    manifest.write_text(yaml.safe_dump_all([deployment("kns", replicas=2, namespace="kteam"), config]))
    kubectl.run("apply", "-f", str(manifest))
    wait_for(lambda: len(images(kubectl, "kns", "kteam")) == 2, "pods in the namespace")
    kubectl.run("delete", "namespace", "kteam", "--wait=false")
    wait_for(lambda: kubectl.run("get", "namespace", "kteam", check=False).returncode != 0, "the namespace to go")
    assert kubectl.run("get", "deployments,rs,pods,configmaps", "-n", "kteam", "-o", "name").stdout.strip() == ""
