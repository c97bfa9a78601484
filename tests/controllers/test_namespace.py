"""The namespace controller: a deleted namespace is emptied, then removed."""

from __future__ import annotations

from orchestra.controllers.deployment import DeploymentController
from orchestra.controllers.garbagecollector import GarbageCollector
from orchestra.controllers.namespace import NamespaceController
from orchestra.controllers.replicaset import ReplicaSetController
from tests.controllers.conftest import eventually, run_controllers
from tests.controllers.test_deployment import deployment


async def test_deleting_a_namespace_removes_everything_in_it(client, factory):
    controllers = [ReplicaSetController(client, factory), DeploymentController(client, factory),
                   GarbageCollector(client, factory), NamespaceController(client, factory)]
    await run_controllers(factory, *controllers)
    try:
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
        d = deployment("web", 2)
        d["metadata"]["namespace"] = "team"
        await client.create(d)
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team"},
                             "data": {"a": "b"}})

        async def populated():
            return len((await client.list("pods", namespace="team", raw=True)).items) == 2

        await eventually(populated)
        marked = await client.delete("namespaces", "team", raw=True)
        assert marked["status"]["phase"] == "Terminating"

        async def namespace_gone():
            try:
                await client.get("namespaces", "team", raw=True)
            except Exception as exc:
                return getattr(exc, "code", None) == 404
            return False

        await eventually(namespace_gone)
        for kind in ("pods", "replicasets", "deployments", "configmaps"):
            assert (await client.list(kind, namespace="team", raw=True)).items == []
        # other namespaces are untouched
        assert (await client.get("namespaces", "default", raw=True))["status"]["phase"] == "Active"
    finally:
        for controller in controllers:
            await controller.stop()
