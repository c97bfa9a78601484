"""``orchestra delete``: by name, KIND/NAME, manifest, selector; cascade and grace period options."""

from __future__ import annotations

import yaml

from orchestra.apiserver.request import UserInfo
from orchestra.client import ApiStatusError, Client
from tests.support.cli_server import deployment


def stored(cluster, kind: str, name: str, namespace: str = "default") -> dict | None:
    client = Client.in_process(cluster.server, UserInfo("admin"))

    async def get(server):
        try:
            return await client.get(kind, name, namespace=namespace, raw=True)
        except ApiStatusError as exc:
            if exc.code == 404:
                return None
            raise

    return cluster.call(get)


def test_delete_by_name_and_by_kind_slash_name(orchestra, cluster, create, unique):
    a, b = unique("del"), unique("del")
    create(deployment(a))
    create(deployment(b))
    outcome = orchestra("delete", "deploy", a)
    assert (outcome.code, outcome.out) == (0, f'deployment.apps "{a}" deleted\n')
    assert stored(cluster, "deploy", a) is None
    assert orchestra("delete", f"deployments.apps/{b}").out == f'deployment.apps "{b}" deleted\n'
    assert stored(cluster, "deploy", b) is None


def test_delete_from_manifest(orchestra, cluster, create, unique, tmp_path):
    name = unique("file")
    create(deployment(name))
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(deployment(name)))
    outcome = orchestra("delete", "-f", str(path))
    assert (outcome.code, outcome.out) == (0, f'deployment.apps "{name}" deleted\n')
    again = orchestra("delete", "-f", str(path))
    assert again.code == 1
    assert again.err == (f'Error from server (NotFound): deployments.apps "{name}" not found (deleting {path}:1)\n')


def test_delete_by_selector_and_all(orchestra, cluster, create, unique):
    a, b = unique("lbl"), unique("lbl")
    create(deployment(a, labels={"batch": "x1", "app": a}))
    create(deployment(b, labels={"batch": "x1", "app": b}))
    outcome = orchestra("delete", "deploy", "-l", "batch=x1")
    assert sorted(outcome.out.splitlines()) == sorted([f'deployment.apps "{a}" deleted', f'deployment.apps "{b}" deleted'])
    name = unique("cm")
    create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "kube-public"}})
    outcome = orchestra("delete", "cm", "--all", "-n", "kube-public")
    assert f'configmap "{name}" deleted' in outcome.out.splitlines()


def test_orphan_cascade_sets_the_finalizer_until_collected(orchestra, cluster, create, unique):
    name = unique("orphan")
    obj = deployment(name)
    obj["metadata"]["finalizers"] = ["example.com/hold"]  # keeps the object so the options are visible
    create(obj)
    assert orchestra("delete", "deploy", name, "--cascade", "orphan").code == 0
    left = stored(cluster, "deploy", name)
    assert left["metadata"]["deletionTimestamp"]
    assert "orphan" in left["metadata"]["finalizers"]


def test_grace_period_on_a_bound_pod(orchestra, cluster, create, unique):
    name = unique("pod")
    create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}})
    assert orchestra("delete", "pod", name, "--grace-period", "7").out == f'pod "{name}" deleted\n'
    left = stored(cluster, "pod", name)
    assert left["metadata"]["deletionGracePeriodSeconds"] == 7
    assert orchestra("delete", "pod", name, "--grace-period", "0").code == 0
    assert stored(cluster, "pod", name) is None


def test_errors(orchestra, unique):
    missing = orchestra("delete", "deploy", "nope")
    assert (missing.code, missing.err) == (1, 'Error from server (NotFound): deployments.apps "nope" not found\n')
    assert orchestra("delete", "deploy", "nope", "--ignore-not-found").code == 0
    no_name = orchestra("delete", "deploy")
    assert no_name.code == 1 and "no name was specified" in no_name.err
    assert orchestra("delete").code == 2
    assert orchestra("delete", "pods", "x", "--now", "--grace-period", "3").code == 2
    assert orchestra("delete", "frobs", "x").err == 'error: the server doesn\'t have a resource type "frobs"\n'

