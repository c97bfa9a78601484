"""The RollingUpdate strategy: grow the new ReplicaSet within ``maxSurge``, shrink the old ones
within ``maxUnavailable`` (Kubernetes' ``deployment/rolling.go``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.progress import sync_rollout_status
from orchestra.controllers.deployment.sync import (
    cleanup_deployment,
    get_all_replica_sets,
    new_replicas_for,
    scale_replica_set,
)

if TYPE_CHECKING:
    from orchestra.controllers.deployment.controller import DeploymentController

__all__ = ["rollout_rolling", "reconcile_new_replica_set", "reconcile_old_replica_sets"]


async def rollout_rolling(dc: "DeploymentController", deployment: dict, replica_sets: list[dict]) -> None:
    """One step of a rolling update."""
    new, old = await get_all_replica_sets(dc, deployment, replica_sets, True)
    all_rs = [*old, new]
    if await reconcile_new_replica_set(dc, all_rs, new, deployment):
        await sync_rollout_status(dc, dc.fresh(all_rs), dc.fresh([new])[0], deployment)
        return
    if await reconcile_old_replica_sets(dc, all_rs, util.filter_active(old), new, deployment):
        await sync_rollout_status(dc, dc.fresh(all_rs), dc.fresh([new])[0], deployment)
        return
    if util.deployment_complete(deployment, deployment.get("status") or {}):
        await cleanup_deployment(dc, old, deployment)
    await sync_rollout_status(dc, all_rs, new, deployment)


async def reconcile_new_replica_set(dc: "DeploymentController", all_rs: list[dict], new: dict,
                                    deployment: dict) -> bool:
    """Scale the new ReplicaSet up as far as maxSurge allows (or down to the replicas); whether it changed."""
    desired = util.replicas_of(deployment)
    current = util.replicas_of(new)
    if current == desired:
        return False
    if current > desired:
        scaled, _ = await scale_replica_set(dc, new, desired, deployment)
        return scaled
    others = [rs for rs in all_rs if rs is not new]
    target = new_replicas_for(deployment, others, new)
    scaled, _ = await scale_replica_set(dc, new, target, deployment)
    return scaled


async def reconcile_old_replica_sets(dc: "DeploymentController", all_rs: list[dict], old: list[dict], new: dict,
                                     deployment: dict) -> bool:
    """Scale old ReplicaSets down without going below ``replicas - maxUnavailable``; whether any changed."""
    if util.spec_replicas_sum(old) == 0:
        return False
    all_count = util.spec_replicas_sum(all_rs)
    min_available = util.replicas_of(deployment) - util.max_unavailable(deployment)
    new_unavailable = util.replicas_of(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
    max_scaled_down = all_count - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old, cleaned = await _cleanup_unhealthy(dc, old, deployment, max_scaled_down)
    scaled = await _scale_down_old(dc, [*old, new], old, deployment)
    return cleaned + scaled > 0


async def _cleanup_unhealthy(dc: "DeploymentController", old: list[dict], deployment: dict,
                             max_cleanup: int) -> tuple[list[dict], int]:
    """Scale away old ReplicaSets' unavailable replicas first: they serve nothing."""
    total = 0
    result = []
    for rs in util.by_creation(old):
        if total >= max_cleanup:
            result.append(rs)
            continue
        replicas = util.replicas_of(rs)
        available = int((rs.get("status") or {}).get("availableReplicas") or 0)
        if replicas == 0 or replicas == available:
            result.append(rs)
            continue
        count = min(max_cleanup - total, replicas - available)
        _, updated = await scale_replica_set(dc, rs, replicas - count, deployment)
        total += count
        result.append(updated)
    return result, total


async def _scale_down_old(dc: "DeploymentController", all_rs: list[dict], old: list[dict], deployment: dict) -> int:
    min_available = util.replicas_of(deployment) - util.max_unavailable(deployment)
    available = util.available_replicas_sum(all_rs)
    if available <= min_available:
        return 0
    total_down = available - min_available
    done = 0
    for rs in util.by_creation(old):
        if done >= total_down:
            break
        replicas = util.replicas_of(rs)
        if replicas == 0:
            continue
        count = min(replicas, total_down - done)
        await scale_replica_set(dc, rs, replicas - count, deployment)
        done += count
    return done
