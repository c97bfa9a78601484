"""The garbage collector with the Deployment and ReplicaSet controllers, all three propagation policies."""

from __future__ import annotations

import pytest

from orchestra.controllers.base import controller_ref
from orchestra.controllers.deployment import DeploymentController
from orchestra.controllers.garbagecollector import GarbageCollector
from orchestra.controllers.replicaset import ReplicaSetController
from tests.controllers.conftest import eventually, run_controllers
from tests.controllers.test_deployment import deployment


@pytest.fixture
async def cluster(client, factory):
    controllers = [ReplicaSetController(client, factory), DeploymentController(client, factory),
                   GarbageCollector(client, factory)]
    await run_controllers(factory, *controllers)
    yield controllers
    for controller in controllers:
        await controller.stop()


async def objects(client, kind, selector):
    return (await client.list(kind, namespace="default", label_selector=selector, raw=True)).items


async def running(client, name, pods=2):
    async def ready():
        return len(await objects(client, "pods", f"app={name}")) == pods and \
            len(await objects(client, "replicasets", f"app={name}")) == 1
    await eventually(ready)


async def gone(client, name):
    async def empty():
        return not await objects(client, "pods", f"app={name}") and \
            not await objects(client, "replicasets", f"app={name}")
    await eventually(empty)


async def test_background_deletes_replica_sets_and_pods(client, cluster):
    await client.create(deployment("bg", 2))
    await running(client, "bg")
    await client.delete("deployments", "bg", namespace="default", propagation_policy="Background")
    await gone(client, "bg")


async def test_foreground_deletes_dependents_before_the_owner(client, cluster):
    await client.create(deployment("fg", 2))
    await running(client, "fg")
    marked = await client.delete("deployments", "fg", namespace="default", propagation_policy="Foreground", raw=True)
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]
    await gone(client, "fg")

    async def owner_gone():
        try:
            await client.get("deployments", "fg", namespace="default", raw=True)
        except Exception as exc:
            return getattr(exc, "code", None) == 404
        return False

    await eventually(owner_gone)


async def test_orphan_keeps_dependents_without_the_owner_reference(client, cluster):
    await client.create(deployment("or", 2))
    await running(client, "or")
    await client.delete("deployments", "or", namespace="default", propagation_policy="Orphan")

    async def orphaned():
        rss = await objects(client, "replicasets", "app=or")
        try:
            await client.get("deployments", "or", namespace="default", raw=True)
            return False
        except Exception:
            pass
        return len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")

    await eventually(orphaned)
    pods = await objects(client, "pods", "app=or")
    assert len(pods) == 2 and all(controller_ref(p)["kind"] == "ReplicaSet" for p in pods)
    # a new deployment with the same selector and template adopts the orphaned ReplicaSet
    created = await client.create(deployment("or", 2), raw=True)

    async def adopted():
        rss = await objects(client, "replicasets", "app=or")
        ref = controller_ref(rss[0]) if len(rss) == 1 else None
        return ref is not None and ref["uid"] == created["metadata"]["uid"]

    await eventually(adopted)
    assert {p["metadata"]["name"] for p in await objects(client, "pods", "app=or")} == \
        {p["metadata"]["name"] for p in pods}


async def test_dependent_of_a_missing_owner_is_deleted(client, cluster):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "stray"},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nothere",
                                             "uid": "00000000-0000-0000-0000-000000000000"}]},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.create(pod)

    async def collected():
        return not await objects(client, "pods", "app=stray")

    await eventually(collected)


async def test_an_owner_that_lives_keeps_its_dependent(client, cluster):
    config = await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "owner", "namespace": "default"}})
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "kept", "namespace": "default", "labels": {"app": "kept"},
                        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                             "uid": config["metadata"]["uid"]},
                                            {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost",
                                             "uid": "00000000-0000-0000-0000-000000000001"}]},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.create(pod)

    async def dangling_ref_removed():
        current = await client.get("pods", "kept", namespace="default", raw=True)
        return [r["name"] for r in current["metadata"]["ownerReferences"]] == ["owner"]

    await eventually(dangling_ref_removed)
    await client.delete("configmaps", "owner", namespace="default")

    async def collected():
        return not await objects(client, "pods", "app=kept")

    await eventually(collected)
