"""Rollout progress: the Progressing condition and ``progressDeadlineSeconds``.

As Kubernetes' ``deployment/progress.go``: the condition reads NewReplicaSetCreated /
FoundNewReplicaSet (set when the new ReplicaSet is made or found), ReplicaSetUpdated while the
rollout moves, NewReplicaSetAvailable when complete, and ProgressDeadlineExceeded when nothing
moved for ``progressDeadlineSeconds``; a deployment still rolling out is re-checked when its
deadline would pass.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orchestra.controllers.base import key_of, meta, parse_time
from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.sync import update_deployment_status, calculate_status

if TYPE_CHECKING:
    from orchestra.controllers.deployment.controller import DeploymentController

__all__ = ["sync_rollout_status", "requeue_stuck_deployment"]


async def sync_rollout_status(dc: "DeploymentController", all_rs: list[dict | None], new: dict | None,
                              deployment: dict) -> None:
    """Update the status and the Progressing condition after a rollout step."""
    status = calculate_status(all_rs, new, deployment)
    if not util.has_progress_deadline(deployment):
        util.remove_condition(status, "Progressing")
    current = util.get_condition(status, "Progressing")
    complete = (status.get("replicas") == status.get("updatedReplicas") and current is not None
                and current.get("reason") == "NewReplicaSetAvailable")
    rs_name = meta(new)["name"] if new is not None else ""
    if util.has_progress_deadline(deployment) and not complete:
        if util.deployment_complete(deployment, status):
            util.set_condition(status, util.new_condition(
                "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'))
        elif util.deployment_progressing(deployment, status):
            condition = util.new_condition("Progressing", "True", "ReplicaSetUpdated",
                                           f'ReplicaSet "{rs_name}" is progressing.')
            if current is not None and current.get("status") == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            util.remove_condition(status, "Progressing")
            util.set_condition(status, condition)
        elif util.deployment_timed_out(deployment, status):
            util.set_condition(status, util.new_condition(
                "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.'))
    failure = _replica_failure(all_rs)
    if failure is not None:
        util.set_condition(status, failure)
    else:
        util.remove_condition(status, "ReplicaFailure")
    if status == (deployment.get("status") or {}):
        requeue_stuck_deployment(dc, deployment, status)
        return
    deployment["status"] = status
    await update_deployment_status(dc, deployment)


def _replica_failure(all_rs: list[dict | None]) -> dict | None:
    for rs in all_rs:
        if rs is None:
            continue
        cond = util.get_condition(rs.get("status") or {}, "ReplicaFailure")
        if cond is not None and cond.get("status") == "True":
            return util.new_condition("ReplicaFailure", "True", cond.get("reason") or "FailedCreate",
                                      cond.get("message") or "")
    return None


def requeue_stuck_deployment(dc: "DeploymentController", deployment: dict, status: dict) -> float | None:
    """Queue the deployment again when its progress deadline would pass; the delay, or None."""
    cond = util.get_condition(status, "Progressing")
    if not util.has_progress_deadline(deployment) or cond is None:
        return None
    if util.deployment_complete(deployment, status) or cond.get("reason") in ("NewReplicaSetAvailable",
                                                                                "ProgressDeadlineExceeded"):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    after = since + deadline - time.time()
    delay = max(after, 0.0) + 1.0
    dc.enqueue_after(key_of(deployment), delay)
    return delay
