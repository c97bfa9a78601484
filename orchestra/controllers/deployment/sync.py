"""Syncing a Deployment that is scaling or paused, and what every strategy shares.

As Kubernetes' ``deployment/sync.go``: finding (or creating) the new ReplicaSet and syncing
revisions, proportional scaling, revision-history cleanup, status calculation and the paused
conditions.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from orchestra.controllers.base import is_conflict, is_not_found, meta, parse_time
from orchestra.controllers.deployment import util
from orchestra.controllers.podutil import owner_reference

if TYPE_CHECKING:
    from orchestra.controllers.deployment.controller import DeploymentController

__all__ = [
    "split_replica_sets",
    "set_replicas_annotations",
    "set_new_replica_set_annotations",
    "new_replicas_for",
    "is_saturated",
    "update_deployment_status",
    "get_all_replica_sets",
    "get_new_replica_set",
    "scale_replica_set",
    "scale",
    "sync",
    "cleanup_deployment",
    "calculate_status",
    "sync_deployment_status",
    "is_scaling_event",
    "check_paused_conditions",
    "find_active_or_latest",
    "MAX_REVISION_HISTORY_CHARS",
    "writable_copy",
]

#: The revision-history annotation is cut to this many characters (oldest revisions first).
MAX_REVISION_HISTORY_CHARS = 2000


def split_replica_sets(deployment: dict, replica_sets: list[dict]) -> tuple[dict | None, list[dict]]:
    """``(new, old)``: the oldest ReplicaSet whose template equals the deployment's, and the rest."""
    template = (deployment.get("spec") or {}).get("template")
    new = None
    for rs in util.by_creation(replica_sets):
        if util.templates_equal_ignoring_hash((rs.get("spec") or {}).get("template"), template):
            new = rs
            break
    return new, [rs for rs in replica_sets if rs is not new]


def writable_copy(rs: dict) -> dict:
    """A copy of ``rs`` whose ``metadata``, annotations and ``spec`` may be changed in place.

    Everything else is shared with ``rs`` (which may be an informer's object, never to be
    changed): what the controller changes on a ReplicaSet is its annotations and spec fields.
    """
    metadata = meta(rs)
    return {**rs, "metadata": {**metadata, "annotations": dict(metadata.get("annotations") or {})},
            "spec": dict(rs.get("spec") or {})}


def _copy_annotations(deployment: dict, rs: dict) -> bool:
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in (meta(deployment).get("annotations") or {}).items():
        if key in util.ANNOTATIONS_NOT_COPIED:
            continue
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def set_replicas_annotations(rs: dict, desired: int, maximum: int) -> bool:
    """Record the deployment's replicas and max (replicas + surge) on a ReplicaSet; whether changed."""
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((util.DESIRED_REPLICAS_ANNOTATION, str(desired)), (util.MAX_REPLICAS_ANNOTATION, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def set_new_replica_set_annotations(deployment: dict, rs: dict, new_revision: int, exists: bool) -> bool:
    """Copy the deployment's annotations and raise the revision, keeping the old one in the history."""
    changed = _copy_annotations(deployment, rs)
    annotations = rs["metadata"]["annotations"]
    had_revision = util.REVISION_ANNOTATION in annotations
    old_revision = util.revision_of(rs)
    if old_revision < new_revision:
        annotations[util.REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if had_revision:
            history = [r for r in annotations.get(util.REVISION_HISTORY_ANNOTATION, "").split(",") if r]
            history.append(str(old_revision))
            while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            annotations[util.REVISION_HISTORY_ANNOTATION] = ",".join(history)
    if not exists:
        desired = util.replicas_of(deployment)
        changed = set_replicas_annotations(rs, desired, desired + util.max_surge(deployment)) or changed
    return changed


async def get_all_replica_sets(dc: "DeploymentController", deployment: dict, replica_sets: list[dict],
                               create: bool) -> tuple[dict | None, list[dict]]:
    """``(new, old)`` ReplicaSets, creating the new one when ``create``; syncs the revisions."""
    _, old = split_replica_sets(deployment, replica_sets)
    new = await get_new_replica_set(dc, deployment, replica_sets, old, create)
    return new, old


async def _set_deployment_revision(dc: "DeploymentController", deployment: dict, revision: str) -> None:
    annotations = meta(deployment).get("annotations") or {}
    if annotations.get(util.REVISION_ANNOTATION) == revision:
        return
    patch = {"metadata": {"annotations": {util.REVISION_ANNOTATION: revision}}}
    updated = await dc.client.patch("deployments", meta(deployment)["name"], patch,
                                    namespace=meta(deployment)["namespace"], raw=True)
    deployment["metadata"] = updated["metadata"]


async def update_deployment_status(dc: "DeploymentController", deployment: dict) -> None:
    """Write ``deployment``'s status through ``/status``; the dict takes the server's answer."""
    updated = await dc.client.update_status(deployment, raw=True)
    deployment["metadata"] = updated["metadata"]
    deployment["status"] = updated.get("status") or {}


async def get_new_replica_set(dc: "DeploymentController", deployment: dict, replica_sets: list[dict],
                              old: list[dict], create: bool) -> dict | None:
    """The new ReplicaSet with its revision brought up to date; created when missing and ``create``."""
    existing, _ = split_replica_sets(deployment, replica_sets)
    new_revision = util.max_revision(old) + 1
    spec = deployment.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = deployment.setdefault("status", {})
    if existing is not None:
        rs = writable_copy(existing)
        changed = set_new_replica_set_annotations(deployment, rs, new_revision, True)
        if changed or int((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            return await dc.client.update(rs, raw=True)
        await _set_deployment_revision(dc, deployment, rs["metadata"]["annotations"][util.REVISION_ANNOTATION])
        if util.has_progress_deadline(deployment) and util.get_condition(status, "Progressing") is None:
            util.set_condition(status, util.new_condition(
                "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{meta(rs)["name"]}"'))
            await update_deployment_status(dc, deployment)
        return rs
    if not create:
        return None
    collision_count = status.get("collisionCount")
    template_hash = util.compute_hash(spec.get("template"), collision_count)
    template = copy.deepcopy(spec.get("template") or {})
    template.setdefault("metadata", {}).setdefault("labels", {})[util.POD_TEMPLATE_HASH_LABEL] = template_hash
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[util.POD_TEMPLATE_HASH_LABEL] = template_hash
    name = f"{meta(deployment)['name']}-{template_hash}"
    rs = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": meta(deployment)["namespace"],
                     "labels": dict(template["metadata"]["labels"]),
                     "ownerReferences": [owner_reference(deployment, "apps/v1", "Deployment")]},
        "spec": {"replicas": 0, "minReadySeconds": min_ready, "selector": selector, "template": template},
    }
    all_rs = [*old]
    rs["spec"]["replicas"] = new_replicas_for(deployment, all_rs, rs)
    set_new_replica_set_annotations(deployment, rs, new_revision, False)
    try:
        created = await dc.client.create(rs, raw=True)
    except Exception as exc:
        if not is_conflict(exc):
            raise
        found = await dc.client.get("replicasets", name, namespace=meta(deployment)["namespace"], raw=True)
        ref = next((r for r in meta(found).get("ownerReferences") or () if r.get("controller")), None)
        if ref is not None and ref.get("uid") == meta(deployment)["uid"] and util.templates_equal_ignoring_hash(
                (found.get("spec") or {}).get("template"), spec.get("template")):
            return found
        # a different object took the name: count the collision so the next hash differs
        status["collisionCount"] = int(collision_count or 0) + 1
        await update_deployment_status(dc, deployment)
        raise
    await _set_deployment_revision(dc, deployment, str(new_revision))
    if util.has_progress_deadline(deployment):
        util.set_condition(status, util.new_condition(
            "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'))
        await update_deployment_status(dc, deployment)
    return created


def new_replicas_for(deployment: dict, all_rs: list[dict], new_rs: dict) -> int:
    """How many replicas the new ReplicaSet may have now (Kubernetes' NewRSNewReplicas)."""
    desired = util.replicas_of(deployment)
    if not util.is_rolling_update(deployment):
        return desired
    current_new = util.replicas_of(new_rs)
    current_total = util.spec_replicas_sum([*all_rs, new_rs]) if new_rs not in all_rs else util.spec_replicas_sum(all_rs)
    max_total = desired + util.max_surge(deployment)
    if current_total >= max_total:
        return current_new
    return current_new + max(0, min(max_total - current_total, desired - current_new))


async def scale_replica_set(dc: "DeploymentController", rs: dict, replicas: int, deployment: dict) -> tuple[bool, dict]:
    """Set a ReplicaSet's replicas and replica annotations; ``(scaled, rs)``."""
    updated = writable_copy(rs)
    desired = util.replicas_of(deployment)
    annotations_changed = set_replicas_annotations(updated, desired, desired + util.max_surge(deployment))
    size_changed = util.replicas_of(rs) != replicas
    if not size_changed and not annotations_changed:
        return False, rs
    updated["spec"]["replicas"] = replicas
    result = await dc.client.update(updated, raw=True)
    dc.replace_cached_rs(rs, result)
    return size_changed, result


def find_active_or_latest(new: dict | None, old: list[dict]) -> dict | None:
    """The only active ReplicaSet, or the newest when none is active; None when several are."""
    if new is None and not old:
        return None
    old_newest_first = list(reversed(util.by_creation(old)))
    active = util.filter_active([*old_newest_first, new])
    if not active:
        return new if new is not None else old_newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def _annotation_int(rs: dict, key: str) -> int | None:
    try:
        return int((meta(rs).get("annotations") or {})[key])
    except (KeyError, ValueError):
        return None


def is_saturated(deployment: dict, rs: dict | None) -> bool:
    """The new ReplicaSet runs all the deployment's replicas, all available."""
    if rs is None:
        return False
    desired = util.replicas_of(deployment)
    return (_annotation_int(rs, util.DESIRED_REPLICAS_ANNOTATION) == desired and util.replicas_of(rs) == desired
            and int((rs.get("status") or {}).get("availableReplicas") or 0) == desired)


def _proportion(rs: dict, deployment: dict, to_add: int, added: int) -> int:
    if util.replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    desired = util.replicas_of(deployment)
    if desired == 0:
        fraction = -util.replicas_of(rs)
    else:
        allowed_total = desired + util.max_surge(deployment)
        annotated = _annotation_int(rs, util.MAX_REPLICAS_ANNOTATION)
        if annotated is None:
            annotated = int((deployment.get("status") or {}).get("replicas") or 0)
        if annotated == 0:
            fraction = 0
        else:
            fraction = round(util.replicas_of(rs) * allowed_total / annotated) - util.replicas_of(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


async def scale(dc: "DeploymentController", deployment: dict, new: dict | None, old: list[dict]) -> None:
    """Scale the ReplicaSets to the deployment's replicas, proportionally during a rollout."""
    desired = util.replicas_of(deployment)
    target = find_active_or_latest(new, old)
    if target is not None:
        if util.replicas_of(target) != desired or _annotation_int(target, util.DESIRED_REPLICAS_ANNOTATION) != desired:
            await scale_replica_set(dc, target, desired, deployment)
        return
    if is_saturated(deployment, new):
        for rs in util.filter_active(old):
            await scale_replica_set(dc, rs, 0, deployment)
        return
    if not util.is_rolling_update(deployment):
        return
    all_rs = util.filter_active([*old, new])
    total = util.spec_replicas_sum(all_rs)
    allowed = desired + util.max_surge(deployment) if desired > 0 else 0
    to_add = allowed - total
    if to_add > 0:  # larger first, newer first on ties
        all_rs.sort(key=lambda rs: (-util.replicas_of(rs), -(_created(rs))))
    elif to_add < 0:  # larger first, older first on ties
        all_rs.sort(key=lambda rs: (-util.replicas_of(rs), _created(rs)))
    sizes: dict[str, int] = {}
    added = 0
    for rs in all_rs:
        if to_add != 0:
            proportion = _proportion(rs, deployment, to_add, added)
            sizes[meta(rs)["name"]] = util.replicas_of(rs) + proportion
            added += proportion
        else:
            sizes[meta(rs)["name"]] = util.replicas_of(rs)
    if to_add != 0 and all_rs:
        first = meta(all_rs[0])["name"]
        sizes[first] = max(0, sizes[first] + to_add - added)
    for rs in all_rs:
        await scale_replica_set(dc, rs, sizes[meta(rs)["name"]], deployment)


def _created(rs: dict) -> float:
    return parse_time(meta(rs).get("creationTimestamp")) or 0.0


async def cleanup_deployment(dc: "DeploymentController", old: list[dict], deployment: dict) -> None:
    """Delete the oldest scaled-down ReplicaSets beyond ``revisionHistoryLimit``."""
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return
    alive = [rs for rs in old if not meta(rs).get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return
    alive.sort(key=lambda rs: (util.revision_of(rs), _created(rs)))
    for rs in alive[:excess]:
        status = rs.get("status") or {}
        if int(status.get("replicas") or 0) != 0 or util.replicas_of(rs) != 0:
            continue
        if int(meta(rs).get("generation") or 0) > int(status.get("observedGeneration") or 0):
            continue
        try:
            await dc.client.delete("replicasets", meta(rs)["name"], namespace=meta(rs)["namespace"],
                                   preconditions={"uid": meta(rs)["uid"]})
        except Exception as exc:
            if not is_not_found(exc):
                raise


def calculate_status(all_rs: list[dict | None], new: dict | None, deployment: dict) -> dict:
    """The deployment status the ReplicaSets add up to, with the Available condition."""
    available = util.available_replicas_sum(all_rs)
    total = util.spec_replicas_sum(all_rs)
    status = dict(deployment.get("status") or {})  # its conditions are replaced, never changed in place
    status.update({
        "observedGeneration": meta(deployment).get("generation"),
        "replicas": util.actual_replicas_sum(all_rs),
        "updatedReplicas": util.actual_replicas_sum([new]),
        "readyReplicas": util.ready_replicas_sum(all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    })
    if available >= util.replicas_of(deployment) - util.max_unavailable(deployment):
        util.set_condition(status, util.new_condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."))
    else:
        util.set_condition(status, util.new_condition(
            "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."))
    return status


async def sync_deployment_status(dc: "DeploymentController", all_rs: list[dict | None], new: dict | None,
                                 deployment: dict) -> None:
    """Write the calculated status when it differs."""
    status = calculate_status(all_rs, new, deployment)
    if status == (deployment.get("status") or {}):
        return
    deployment["status"] = status
    await update_deployment_status(dc, deployment)


async def is_scaling_event(dc: "DeploymentController", deployment: dict, replica_sets: list[dict]) -> bool:
    """Whether an active ReplicaSet records other replicas than the deployment wants."""
    new, old = await get_all_replica_sets(dc, deployment, replica_sets, False)
    desired = util.replicas_of(deployment)
    for rs in util.filter_active([*old, new]):
        recorded = _annotation_int(rs, util.DESIRED_REPLICAS_ANNOTATION)
        if recorded is not None and recorded != desired:
            return True
    return False


async def sync(dc: "DeploymentController", deployment: dict, replica_sets: list[dict]) -> None:
    """A paused or scaling deployment: scale proportionally, clean up when paused, update status."""
    new, old = await get_all_replica_sets(dc, deployment, replica_sets, False)
    await scale(dc, deployment, new, old)
    if (deployment.get("spec") or {}).get("paused"):
        await cleanup_deployment(dc, old, deployment)
    refreshed = dc.replica_sets_of(deployment)
    new, old = await get_all_replica_sets(dc, deployment, refreshed, False)
    await sync_deployment_status(dc, [*old, new], new, deployment)


async def check_paused_conditions(dc: "DeploymentController", deployment: dict) -> None:
    """Progressing=Unknown with DeploymentPaused / DeploymentResumed when pause flips."""
    if not util.has_progress_deadline(deployment):
        return
    status = deployment.setdefault("status", {})
    cond = util.get_condition(status, "Progressing")
    if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
        return
    paused_recorded = cond is not None and cond.get("reason") == "DeploymentPaused"
    paused = bool((deployment.get("spec") or {}).get("paused"))
    if paused and not paused_recorded:
        util.set_condition(status, util.new_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"))
    elif not paused and paused_recorded:
        util.set_condition(status, util.new_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"))
    else:
        return
    await update_deployment_status(dc, deployment)
