"""The Deployment controller (with the ReplicaSet controller) against an in-process API server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.controllers.deployment import DeploymentController
from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.rollback import owned_replica_sets, revisions, rollback
from orchestra.controllers.replicaset import ReplicaSetController
from tests.controllers.conftest import eventually, run_controllers


def deployment(name: str, replicas: int = 3, image: str = "web:1", *, strategy: dict | None = None,
               history: int | None = None, deadline: int | None = None) -> dict:
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}}
    if strategy:
        spec["strategy"] = strategy
    if history is not None:
        spec["revisionHistoryLimit"] = history
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.fixture
async def controllers(client, factory):
    rs = ReplicaSetController(client, factory)
    dc = DeploymentController(client, factory)
    await run_controllers(factory, rs, dc)
    yield dc
    await dc.stop()
    await rs.stop()


async def get_d(client, name):
    return await client.get("deployments", name, namespace="default", raw=True)


def complete(d: dict) -> bool:
    status = d.get("status") or {}
    want = d["spec"]["replicas"]
    cond = util.get_condition(status, "Progressing") or {}
    return (status.get("observedGeneration", 0) >= d["metadata"]["generation"] and status.get("updatedReplicas") == want
            and status.get("replicas") == want and status.get("availableReplicas") == want
            and cond.get("reason") == "NewReplicaSetAvailable")


async def roll_to_completion(client, kubelet, name, *, check=None):
    """Drive pods ready one step at a time until the deployment reports complete."""
    async def step():
        if check is not None:
            await check()
        await kubelet.ready_all(selector=f"app={name}")
        d = await get_d(client, name)
        return d if complete(d) else None

    return await eventually(step, interval=0.05)


@given(st.integers(0, 50), st.one_of(st.integers(0, 10), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
       st.one_of(st.integers(0, 10), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])))
def test_fenceposts_never_both_zero(replicas, surge, unavailable):
    d = deployment("x", replicas, strategy={"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    s, u = util.resolve_fenceposts(d)
    assert s >= 0 and u >= 0 and (s, u) != (0, 0)


def test_a_writable_copy_shares_nothing_a_sync_changes():
    from orchestra.controllers.deployment.sync import set_new_replica_set_annotations, writable_copy

    rs = {"metadata": {"name": "r", "annotations": {"a": "1"}, "labels": {"x": "y"}},
          "spec": {"replicas": 1, "template": {"spec": {"containers": []}}}, "status": {"replicas": 1}}
    before = repr(rs)
    copy = writable_copy(rs)
    set_new_replica_set_annotations({"metadata": {"annotations": {"b": "2"}}}, copy, 3, False)
    copy["spec"]["replicas"] = 5
    assert repr(rs) == before  # the original (an informer's shared object) is untouched
    assert copy["metadata"]["annotations"]["b"] == "2" and copy["spec"]["replicas"] == 5
    assert copy["status"] is rs["status"] and copy["spec"]["template"] is rs["spec"]["template"]


def test_pod_template_hash_is_stable_and_follows_the_template():
    a = deployment("x")["spec"]["template"]
    b = deployment("x", image="web:2")["spec"]["template"]
    assert util.compute_hash(a) == util.compute_hash(dict(a))
    assert util.compute_hash(a) != util.compute_hash(b)
    assert util.compute_hash(a) != util.compute_hash(a, 1)
    labelled = {**a, "metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}}}
    assert util.compute_hash(labelled) == util.compute_hash(a)
    assert set(util.compute_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")


async def test_creates_replica_set_with_hash_revision_and_conditions(client, controllers, kubelet):
    await client.create(deployment("web", 3))
    d = await roll_to_completion(client, kubelet, "web")
    rss = await owned_replica_sets(client, d)
    assert len(rss) == 1
    rs = rss[0]
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    assert rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == template_hash
    assert rs["metadata"]["annotations"][util.REVISION_ANNOTATION] == "1"
    assert d["metadata"]["annotations"][util.REVISION_ANNOTATION] == "1"
    status = d["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3, 3)
    assert status.get("unavailableReplicas", 0) == 0
    assert util.get_condition(status, "Available")["reason"] == "MinimumReplicasAvailable"
    pods = await kubelet.pods(selector="app=web")
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {template_hash}


async def test_rolling_update_stays_within_surge_and_unavailable(client, controllers, kubelet):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    await client.create(deployment("roll", 4, strategy=strategy))
    await roll_to_completion(client, kubelet, "roll")
    await client.patch("deployments", "roll", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2"}]}}}}, namespace="default", patch_type="strategic")
    seen_new = set()

    async def invariant():
        pods = await kubelet.pods(selector="app=roll")
        ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in (p.get("status") or {}).get("conditions") or ())]
        assert len(pods) <= 4 + 1, f"{len(pods)} pods exceed replicas + maxSurge"
        assert len(ready) >= 4 - 1, f"only {len(ready)} ready pods, below replicas - maxUnavailable"
        seen_new.update(p["spec"]["containers"][0]["image"] for p in pods)

    d = await roll_to_completion(client, kubelet, "roll", check=invariant)
    await invariant()
    assert "web:2" in seen_new
    pods = await kubelet.pods(selector="app=roll")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"web:2"}
    assert d["metadata"]["annotations"][util.REVISION_ANNOTATION] == "2"
    rss = await owned_replica_sets(client, d)
    assert sorted(util.replicas_of(rs) for rs in rss) == [0, 4]


async def test_recreate_removes_old_pods_before_new_ones(client, controllers, kubelet):
    await client.create(deployment("re", 2, strategy={"type": "Recreate"}))
    await roll_to_completion(client, kubelet, "re")
    await client.patch("deployments", "re", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2"}]}}}}, namespace="default", patch_type="strategic")

    async def never_mixed():
        images = {p["spec"]["containers"][0]["image"] for p in await kubelet.pods(selector="app=re")}
        assert len(images) <= 1, f"old and new pods at once: {images}"

    await roll_to_completion(client, kubelet, "re", check=never_mixed)
    images = {p["spec"]["containers"][0]["image"] for p in await kubelet.pods(selector="app=re")}
    assert images == {"web:2"}


async def test_scaling_changes_the_replica_set(client, controllers, kubelet):
    await client.create(deployment("sc", 2))
    await roll_to_completion(client, kubelet, "sc")
    await client.patch("deployments", "sc", {"spec": {"replicas": 5}}, namespace="default")
    d = await roll_to_completion(client, kubelet, "sc")
    assert d["status"]["replicas"] == 5
    assert len(await kubelet.pods(selector="app=sc")) == 5
    await client.patch("deployments", "sc", {"spec": {"replicas": 1}}, namespace="default")
    await roll_to_completion(client, kubelet, "sc")
    assert len(await kubelet.pods(selector="app=sc")) == 1


async def test_pause_holds_the_template_and_resume_rolls_it_out(client, controllers, kubelet):
    await client.create(deployment("pz", 2))
    await roll_to_completion(client, kubelet, "pz")
    await client.patch("deployments", "pz", {"spec": {"paused": True}}, namespace="default")

    async def paused_condition():
        d = await get_d(client, "pz")
        cond = util.get_condition(d.get("status") or {}, "Progressing") or {}
        return d if cond.get("reason") == "DeploymentPaused" and cond.get("status") == "Unknown" else None

    await eventually(paused_condition)
    await client.patch("deployments", "pz", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2"}]}}}}, namespace="default", patch_type="strategic")

    async def observed():
        d = await get_d(client, "pz")
        return d if d["status"].get("observedGeneration") == d["metadata"]["generation"] else None

    await eventually(observed)
    assert len(await owned_replica_sets(client, await get_d(client, "pz"))) == 1
    assert {p["spec"]["containers"][0]["image"] for p in await kubelet.pods(selector="app=pz")} == {"web:1"}
    await client.patch("deployments", "pz", {"spec": {"paused": False}}, namespace="default")
    await roll_to_completion(client, kubelet, "pz")
    assert {p["spec"]["containers"][0]["image"] for p in await kubelet.pods(selector="app=pz")} == {"web:2"}


async def test_rollback_reuses_the_old_replica_set_with_a_new_revision(client, controllers, kubelet):
    await client.create(deployment("rb", 2))
    await roll_to_completion(client, kubelet, "rb")
    await client.patch("deployments", "rb", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2"}]}}}}, namespace="default", patch_type="strategic")
    await roll_to_completion(client, kubelet, "rb")
    target, changed = await rollback(client, "rb", "default")
    assert changed and target.number == 1
    d = await roll_to_completion(client, kubelet, "rb")
    assert {p["spec"]["containers"][0]["image"] for p in await kubelet.pods(selector="app=rb")} == {"web:1"}
    kept = revisions(await owned_replica_sets(client, d))
    assert [r.number for r in kept] == [2, 3]
    assert kept[-1].replica_set["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1"
    assert d["metadata"]["annotations"][util.REVISION_ANNOTATION] == "3"


async def test_revision_history_limit_deletes_oldest_replica_sets(client, controllers, kubelet):
    await client.create(deployment("hist", 1, history=1))
    for image in ("web:2", "web:3", "web:4"):
        await roll_to_completion(client, kubelet, "hist")
        await client.patch("deployments", "hist", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": image}]}}}}, namespace="default", patch_type="strategic")
    await roll_to_completion(client, kubelet, "hist")

    async def trimmed():
        rss = await owned_replica_sets(client, await get_d(client, "hist"))
        return rss if len(rss) == 2 else None

    rss = await eventually(trimmed)
    assert sorted(util.revision_of(rs) for rs in rss) == [3, 4]


async def test_progress_deadline_exceeded(client, controllers, kubelet):
    await client.create(deployment("stuck", 1, deadline=1))

    async def timed_out():
        d = await get_d(client, "stuck")
        cond = util.get_condition(d.get("status") or {}, "Progressing") or {}
        return d if cond.get("reason") == "ProgressDeadlineExceeded" else None

    d = await eventually(timed_out)
    cond = util.get_condition(d["status"], "Progressing")
    assert cond["status"] == "False"
    assert util.get_condition(d["status"], "Available")["reason"] == "MinimumReplicasUnavailable"


async def test_scaling_mid_rollout_is_proportional(client, controllers, kubelet):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}
    await client.create(deployment("prop", 4, strategy=strategy))
    d = await roll_to_completion(client, kubelet, "prop")
    await client.patch("deployments", "prop", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2"}]}}}}, namespace="default", patch_type="strategic")

    async def surged():
        rss = await owned_replica_sets(client, d)
        sizes = sorted((util.revision_of(rs), util.replicas_of(rs)) for rs in rss)
        return sizes if sizes == [(1, 4), (2, 2)] else None

    await eventually(surged)  # new pods never become ready: the rollout holds at the surge
    await client.patch("deployments", "prop", {"spec": {"replicas": 8}}, namespace="default")

    async def scaled():
        rss = await owned_replica_sets(client, d)
        sizes = sorted((util.revision_of(rs), util.replicas_of(rs)) for rs in rss)
        return sizes if sum(size for _, size in sizes) == 10 else None

    sizes = await eventually(scaled)
    # 4 of 6 and 2 of 6 spread over 8 + 2 surge: 7 and 3 (Kubernetes' proportions)
    assert sizes == [(1, 7), (2, 3)]
