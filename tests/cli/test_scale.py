"""``orchestra scale``: replicas through the scale subresource, preconditions, errors."""

from __future__ import annotations

from orchestra.apiserver.request import UserInfo
from orchestra.client import Client
from tests.support.cli_server import deployment


def replicas(cluster, name: str) -> int:
    client = Client.in_process(cluster.server, UserInfo("admin"))
    return cluster.call(lambda server: client.get("deploy", name, namespace="default", raw=True))["spec"]["replicas"]


def test_scale_kind_slash_name_and_kind_name(orchestra, cluster, create, unique):
    a, b = unique("sc"), unique("sc")
    create(deployment(a, replicas=1))
    create(deployment(b, replicas=1))
    outcome = orchestra("scale", f"deploy/{a}", f"deploy/{b}", "--replicas", "4")
    assert (outcome.code, outcome.out) == (0, f"deployment.apps/{a} scaled\ndeployment.apps/{b} scaled\n")
    assert (replicas(cluster, a), replicas(cluster, b)) == (4, 4)
    assert orchestra("scale", "deployment", a, "--replicas", "0").code == 0
    assert replicas(cluster, a) == 0


def test_scale_replicaset(orchestra, create, unique):
    name = unique("rs")
    rs = deployment(name)
    rs["kind"] = "ReplicaSet"
    create(rs)
    assert orchestra("scale", f"rs/{name}", "--replicas", "2").out == f"replicaset.apps/{name} scaled\n"


def test_current_replicas_precondition(orchestra, cluster, create, unique):
    name = unique("pre")
    create(deployment(name, replicas=2))
    wrong = orchestra("scale", f"deploy/{name}", "--replicas", "5", "--current-replicas", "3")
    assert wrong.code == 1
    assert wrong.err == f"error: Expected replicas to be 3, was 2 (deployment.apps/{name})\n"
    assert replicas(cluster, name) == 2
    right = orchestra("scale", f"deploy/{name}", "--replicas", "5", "--current-replicas", "2")
    assert right.code == 0 and replicas(cluster, name) == 5


def test_errors(orchestra, create, unique):
    missing = orchestra("scale", "deploy/nope", "--replicas", "1")
    assert missing.code == 1
    assert missing.err.startswith("Error from server (NotFound): ")
    name = unique("cm")
    create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    unscalable = orchestra("scale", f"cm/{name}", "--replicas", "1")
    assert unscalable.code == 1 and "cannot be scaled" in unscalable.err
    assert orchestra("scale", "deploy/x").code == 2  # --replicas is required
    assert orchestra("scale", "deploy/x", "--replicas", "-1").code == 2
