"""Revisions and rollback as ``kubectl rollout history`` and ``undo`` do them in apps/v1.

There is no server-side rollback in apps/v1: a client reads the deployment's ReplicaSets (each
carries a revision annotation), picks the one of the wanted revision (the previous one by
default), and patches the deployment's template to that ReplicaSet's template without its
pod-template-hash label. The controller then finds that ReplicaSet as the new one and gives it
the next revision, recording the old number in ``revision-history``.
"""

from __future__ import annotations

import copy

import attrs

from orchestra.client import Client
from orchestra.controllers.base import controller_ref, meta
from orchestra.controllers.deployment import util
from orchestra.controllers.podutil import selector_of

__all__ = ["Revision", "RollbackError", "owned_replica_sets", "revisions", "rollback_target", "rollback_patch",
           "rollback"]


class RollbackError(Exception):
    """A rollback cannot be done; the message says why (as kubectl would)."""


@attrs.frozen
class Revision:
    """One kept revision: its number, ReplicaSet and change cause."""

    number: int
    replica_set: dict
    change_cause: str | None


async def owned_replica_sets(client: Client, deployment: dict) -> list[dict]:
    """The ReplicaSets the deployment controls (selector match and controller ownerReference)."""
    selector = selector_of((deployment.get("spec") or {}).get("selector"))
    listing = await client.list("replicasets", namespace=meta(deployment)["namespace"], raw=True)
    uid = meta(deployment)["uid"]
    return [rs for rs in listing.items
            if (ref := controller_ref(rs)) is not None and ref.get("uid") == uid
            and selector.matches(meta(rs).get("labels") or {})]


def revisions(replica_sets: list[dict]) -> list[Revision]:
    """Every revision, oldest first."""
    found = []
    for rs in replica_sets:
        number = util.revision_of(rs)
        if number <= 0:
            continue
        cause = (meta(rs).get("annotations") or {}).get(util.CHANGE_CAUSE_ANNOTATION)
        found.append(Revision(number, rs, cause))
    return sorted(found, key=lambda r: r.number)


def rollback_target(replica_sets: list[dict], to_revision: int = 0) -> Revision:
    """The revision to go back to: ``to_revision``, or the one before the latest when 0."""
    kept = revisions(replica_sets)
    if to_revision:
        for revision in kept:
            if revision.number == to_revision:
                return revision
        raise RollbackError(f"unable to find specified revision {to_revision} in history")
    if len(kept) < 2:
        raise RollbackError("no rollout history found for deployment")
    return kept[-2]


def rollback_patch(deployment: dict, target: Revision) -> list[dict]:
    """The JSON patch putting the target's template (and copied annotations) on the deployment."""
    template = copy.deepcopy((target.replica_set.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(util.POD_TEMPLATE_HASH_LABEL, None)
    # as kubectl: the deployment keeps only its bookkeeping annotations and takes the revision's others
    annotations = {k: v for k, v in (meta(deployment).get("annotations") or {}).items()
                   if k in util.ANNOTATIONS_NOT_COPIED}
    for key, value in (meta(target.replica_set).get("annotations") or {}).items():
        if key not in util.ANNOTATIONS_NOT_COPIED:
            annotations[key] = value
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]


async def rollback(client: Client, name: str, namespace: str, to_revision: int = 0) -> tuple[Revision, bool]:
    """Roll deployment ``name`` back; ``(target, changed)`` (unchanged: it already runs that template)."""
    deployment = await client.get("deployments", name, namespace=namespace, raw=True)
    if (deployment.get("spec") or {}).get("paused"):
        raise RollbackError(f'you cannot rollback a paused deployment; resume it first with '
                            f'"orchestra rollout resume deployment/{name}" and try again')
    target = rollback_target(await owned_replica_sets(client, deployment), to_revision)
    if util.templates_equal_ignoring_hash((deployment.get("spec") or {}).get("template"),
                                          (target.replica_set.get("spec") or {}).get("template")):
        return target, False
    await client.patch("deployments", name, rollback_patch(deployment, target), namespace=namespace,
                       patch_type="json", raw=True)
    return target, True
