"""The Recreate strategy: scale every old ReplicaSet to zero, wait until their pods are gone,
then scale the new one up (Kubernetes' ``deployment/recreate.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.progress import sync_rollout_status
from orchestra.controllers.deployment.sync import cleanup_deployment, get_all_replica_sets, scale_replica_set

if TYPE_CHECKING:
    from orchestra.controllers.deployment.controller import DeploymentController

__all__ = ["rollout_recreate", "old_pods_running"]


def old_pods_running(dc: "DeploymentController", new: dict | None, old: list[dict]) -> bool:
    """Whether any pod of an old ReplicaSet may still run (not Succeeded or Failed)."""
    if util.actual_replicas_sum(old) > 0:
        return True
    for rs in old:
        for pod in dc.pods_of(rs):
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False


async def rollout_recreate(dc: "DeploymentController", deployment: dict, replica_sets: list[dict]) -> None:
    """One step of a Recreate rollout."""
    new, old = await get_all_replica_sets(dc, deployment, replica_sets, False)
    scaled = False
    for rs in util.filter_active(old):
        changed, _ = await scale_replica_set(dc, rs, 0, deployment)
        scaled = scaled or changed
    if scaled:
        await sync_rollout_status(dc, dc.fresh([*old, new]), dc.fresh([new])[0], deployment)
        return
    if old_pods_running(dc, new, old):
        await sync_rollout_status(dc, [*old, new], new, deployment)
        return
    if new is None:
        new, old = await get_all_replica_sets(dc, deployment, replica_sets, True)
    await scale_replica_set(dc, new, util.replicas_of(deployment), deployment)
    if util.deployment_complete(deployment, deployment.get("status") or {}):
        await cleanup_deployment(dc, old, deployment)
    await sync_rollout_status(dc, dc.fresh([*old, new]), dc.fresh([new])[0], deployment)
