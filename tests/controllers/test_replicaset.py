"""The ReplicaSet controller against an in-process API server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.controllers.base import controller_ref
from orchestra.controllers.podutil import active_pods_deletion_order
from orchestra.controllers.replicaset import ReplicaSetController, slow_start_batches
from tests.controllers.conftest import eventually, run_controllers


def replica_set(name: str, replicas: int, labels: dict | None = None, min_ready: int = 0) -> dict:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }


def bare_pod(name: str, labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@given(st.integers(min_value=0, max_value=2000))
def test_slow_start_batches_double_and_sum_to_the_count(count):
    batches = slow_start_batches(count)
    assert sum(batches) == count
    for i, size in enumerate(batches[:-1]):
        assert size == 2**i


def test_deletion_order_prefers_unscheduled_pending_notready_newest():
    def pod(name, node=None, phase="Pending", ready=False, created="2026-01-01T00:00:00Z"):
        conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": created}]
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"nodeName": node} if node else {},
                "status": {"phase": phase, "conditions": conds}}

    pods = [
        pod("running-ready-old", "n1", "Running", True, "2026-01-01T00:00:00Z"),
        pod("running-ready-new", "n2", "Running", True, "2026-01-01T00:10:00Z"),
        pod("running-notready", "n3", "Running", False),
        pod("pending-scheduled", "n4", "Pending"),
        pod("unscheduled"),
    ]
    order = [p["metadata"]["name"] for p in active_pods_deletion_order(pods)]
    assert order == ["unscheduled", "pending-scheduled", "running-notready", "running-ready-new", "running-ready-old"]


async def rs_status(client, name):
    return (await client.get("replicasets", name, namespace="default", raw=True)).get("status") or {}


async def test_creates_pods_with_owner_and_generated_names(client, factory, kubelet):
    controller = ReplicaSetController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("web", 3))

        async def three_pods():
            pods = await kubelet.pods(selector="app=web")
            assert len(pods) == 3
            return pods

        pods = await eventually(three_pods)
        rs = await client.get("replicasets", "web", namespace="default", raw=True)
        for pod in pods:
            assert pod["metadata"]["name"].startswith("web-")
            ref = controller_ref(pod)
            assert ref["uid"] == rs["metadata"]["uid"] and ref["blockOwnerDeletion"] is True
        assert (await eventually(lambda: _status_has(client, "web", replicas=3)))["readyReplicas"] == 0
        await kubelet.ready_all(selector="app=web")
        status = await eventually(lambda: _status_has(client, "web", readyReplicas=3))
        assert status["availableReplicas"] == 3 and status["fullyLabeledReplicas"] == 3
        assert status["observedGeneration"] == rs["metadata"]["generation"]
    finally:
        await controller.stop()


async def _status_has(client, name, **fields):
    status = await rs_status(client, name)
    return status if all(status.get(k) == v for k, v in fields.items()) else None


async def test_scale_down_deletes_not_ready_pods_first(client, factory, kubelet):
    controller = ReplicaSetController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("web", 4))
        pods = await eventually(lambda: _count(kubelet, 4))
        ready = pods[:2]
        for pod in ready:
            await kubelet.set_ready(pod)
        await eventually(lambda: _status_has(client, "web", readyReplicas=2))
        await client.patch("replicasets", "web", {"spec": {"replicas": 2}}, namespace="default")
        left = await eventually(lambda: _count(kubelet, 2))
        assert sorted(p["metadata"]["name"] for p in left) == sorted(p["metadata"]["name"] for p in ready)
        await eventually(lambda: _status_has(client, "web", replicas=2, readyReplicas=2))
    finally:
        await controller.stop()


async def _count(kubelet, n, selector="app=web"):
    pods = await kubelet.pods(selector=selector)
    return pods if len(pods) == n else None


async def test_replaces_a_deleted_pod(client, factory, kubelet):
    controller = ReplicaSetController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("web", 2))
        pods = await eventually(lambda: _count(kubelet, 2))
        await client.delete("pods", pods[0]["metadata"]["name"], namespace="default")
        after = await eventually(lambda: _count(kubelet, 2))
        assert pods[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in after}
    finally:
        await controller.stop()


async def test_adopts_orphans_and_releases_pods_that_stop_matching(client, factory, kubelet):
    await client.create(bare_pod("orphan", {"app": "web"}))
    controller = ReplicaSetController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("web", 2))
        pods = await eventually(lambda: _count(kubelet, 2))
        names = {p["metadata"]["name"] for p in pods}
        assert "orphan" in names
        orphan = await client.get("pods", "orphan", namespace="default", raw=True)
        assert controller_ref(orphan)["name"] == "web"
        await client.patch("pods", "orphan", {"metadata": {"labels": {"app": "other"}}}, namespace="default")

        async def released():
            pod = await client.get("pods", "orphan", namespace="default", raw=True)
            return controller_ref(pod) is None

        await eventually(released)
        await eventually(lambda: _count(kubelet, 2))
    finally:
        await controller.stop()


async def test_sync_handler_is_the_test_seam(client, factory):
    controller = ReplicaSetController(client, factory, workers=1)
    seen: list[str] = []

    async def record(key: str) -> None:
        seen.append(key)

    controller.sync_handler = record
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("seam", 1))
        await eventually(lambda: _async(seen == ["default/seam"] or "default/seam" in seen))
        assert await _async(len(await _pods(client)) == 0)
    finally:
        await controller.stop()


async def _async(value):
    return value


async def _pods(client):
    return (await client.list("pods", namespace="default", raw=True)).items


async def test_available_waits_for_min_ready_seconds(client, factory, kubelet):
    controller = ReplicaSetController(client, factory)
    await run_controllers(factory, controller)
    try:
        await client.create(replica_set("slow", 1, min_ready=3600))
        pods = await eventually(lambda: _count(kubelet, 1, "app=slow"))
        await kubelet.set_ready(pods[0])
        status = await eventually(lambda: _status_has(client, "slow", readyReplicas=1))
        assert status["availableReplicas"] == 0
        await kubelet.set_ready(pods[0], since="2000-01-01T00:00:00Z")
        await eventually(lambda: _status_has(client, "slow", availableReplicas=1))
    finally:
        await controller.stop()


async def test_slow_start_stops_at_the_first_failed_batch(client, factory):
    controller = ReplicaSetController(client, factory, workers=1)
    calls = 0
    real_create = controller._create_pod

    async def failing_second_batch(rs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("quota exceeded")
        await real_create(rs)

    controller._create_pod = failing_second_batch
    await run_controllers(factory)
    await client.create(replica_set("batch", 10))
    await eventually(lambda: _async(factory.informer("replicasets").get("default/batch") is not None))
    with pytest.raises(RuntimeError, match="quota exceeded"):
        await controller.sync("default/batch")
    assert calls == 3  # batches of 1 and 2; the 4-pod batch never started
    failure = [c for c in (await rs_status(client, "batch"))["conditions"] if c["type"] == "ReplicaFailure"]
    assert failure[0]["reason"] == "FailedCreate" and "quota exceeded" in failure[0]["message"]
    assert len(await _pods(client)) == 2
    # the two created pods reach the informer; the failed and unattempted ones were written off
    await eventually(lambda: _async(controller.expectations.pending("default/batch") == (0, 0)))
    assert controller.expectations.satisfied("default/batch")
    controller._create_pod = real_create
    rs_cache = factory.informer("replicasets")
    await eventually(lambda: _async("conditions" in (rs_cache.get("default/batch").get("status") or {})))
    await controller.sync("default/batch")  # creates the other 8 and clears the condition
    assert "conditions" not in await rs_status(client, "batch")


def test_expectations_count_creations_and_deletions():
    from orchestra.controllers.base import Expectations

    expectations = Expectations()
    assert expectations.satisfied("ns/rs")
    expectations.expect_creations("ns/rs", 2)
    assert not expectations.satisfied("ns/rs")
    expectations.creation_observed("ns/rs")
    expectations.creation_observed("ns/rs")
    assert expectations.satisfied("ns/rs")
    expectations.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    expectations.deletion_observed("ns/rs", "ns/a")
    assert expectations.pending("ns/rs") == (0, 1) and not expectations.satisfied("ns/rs")
    expectations.deletion_observed("ns/rs", "ns/b")
    assert expectations.satisfied("ns/rs")
    stale = Expectations(ttl=-1.0)
    stale.expect_creations("ns/rs", 5)
    assert stale.pending("ns/rs") == (5, 0) and stale.satisfied("ns/rs")  # expired: act anyway
