"""What several controllers need to know about pods and owners (Kubernetes' ``controller_utils``).

- pod state: active, ready, available (ready for ``minReadySeconds``);
- :func:`active_pods_deletion_order`: Kubernetes' ActivePods ranking, the pods to delete first;
- :func:`selector_of`: a wire ``LabelSelector`` as a matcher (an empty selector matches nothing
  here, as controllers treat it);
- :class:`RefManager`: adopt orphans matching a selector and release owned objects that stop
  matching (ownerReferences with ``controller: true`` and ``blockOwnerDeletion: true``).
"""

from __future__ import annotations

import time
from typing import Any

from orchestra.api.selectors import LabelSelector
from orchestra.client import Client
from orchestra.controllers.base import controller_ref, is_conflict, is_not_found, meta, parse_time

__all__ = [
    "is_pod_active",
    "is_pod_ready",
    "is_pod_available",
    "pod_ready_since",
    "active_pods_deletion_order",
    "selector_of",
    "owner_reference",
    "RefManager",
]


def is_pod_active(pod: dict) -> bool:
    """Not finished (Succeeded/Failed) and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def _ready_condition(pod: dict) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: dict) -> bool:
    """The pod's Ready condition is True."""
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def pod_ready_since(pod: dict) -> float | None:
    """When the pod last became Ready (epoch seconds), or None when not ready."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime")) or 0.0


def is_pod_available(pod: dict, min_ready_seconds: int, now: float | None = None) -> bool:
    """Ready, and ready for at least ``min_ready_seconds``."""
    if min_ready_seconds <= 0:
        return is_pod_ready(pod)  # no timestamp to parse: every sync of a ReplicaSet checks each pod
    since = pod_ready_since(pod)
    if since is None:
        return False
    return since + min_ready_seconds <= (time.time() if now is None else now)


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def active_pods_deletion_order(pods: list[dict], related: list[dict] | None = None) -> list[dict]:
    """``pods`` sorted so that the ones to delete first come first (Kubernetes' ActivePodsWithRanks).

    Unscheduled before scheduled; Pending before Unknown before Running; not ready before ready;
    more pods of the same owner on the same node before fewer; ready for less time before
    longer; more container restarts before fewer; newer before older.
    """
    per_node: dict[str, int] = {}
    for pod in related if related is not None else pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_pod_active(pod):
            per_node[node] = per_node.get(node, 0) + 1

    def rank(pod: dict) -> tuple[Any, ...]:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        node = spec.get("nodeName")
        ready_since = pod_ready_since(pod)
        restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or ())
        created = parse_time(meta(pod).get("creationTimestamp")) or 0.0
        return (
            1 if node else 0,
            _PHASE_RANK.get(status.get("phase") or "Pending", 0),
            1 if ready_since is not None else 0,
            -per_node.get(node, 0) if node else 0,
            -(ready_since or 0.0),
            -restarts,
            -created,
            meta(pod).get("name") or "",
        )

    return sorted(pods, key=rank)


def selector_of(spec_selector: dict | None) -> LabelSelector:
    """A matcher for a wire selector; an empty or missing selector matches nothing."""
    if not spec_selector or not (spec_selector.get("matchLabels") or spec_selector.get("matchExpressions")):
        return LabelSelector.nothing()
    return LabelSelector.from_dict(spec_selector)


def owner_reference(owner: dict, api_version: str, kind: str) -> dict:
    """The controller ownerReference an owner puts on what it creates."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta(owner)["name"],
        "uid": meta(owner)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class RefManager:
    """Claims the objects of one owner: adopts matching orphans, releases owned non-matching ones."""

    def __init__(self, client: Client, owner: dict, selector: LabelSelector, api_version: str, kind: str,
                 dependent_kind: str) -> None:
        self.client = client
        self.owner = owner
        self.selector = selector
        self.api_version = api_version
        self.kind = kind
        self.dependent_kind = dependent_kind

    async def claim(self, candidates: list[dict]) -> list[dict]:
        """The candidates this owner controls after adopting and releasing (patched on the server)."""
        uid = meta(self.owner).get("uid")
        owner_deleting = bool(meta(self.owner).get("deletionTimestamp"))
        claimed: list[dict] = []
        for obj in candidates:
            ref = controller_ref(obj)
            matches = self.selector.matches(meta(obj).get("labels") or {})
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches or owner_deleting:
                    claimed.append(obj)
                    continue
                if meta(obj).get("deletionTimestamp"):
                    continue
                await self._release(obj)
                continue
            if not matches or owner_deleting or meta(obj).get("deletionTimestamp"):
                continue
            adopted = await self._adopt(obj)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _adopt(self, obj: dict) -> dict | None:
        refs = list(meta(obj).get("ownerReferences") or ())
        refs.append(owner_reference(self.owner, self.api_version, self.kind))
        patch = {"metadata": {"ownerReferences": refs, "uid": meta(obj)["uid"],
                              "resourceVersion": meta(obj).get("resourceVersion")}}
        try:
            return await self.client.patch(self.dependent_kind, meta(obj)["name"], patch,
                                           namespace=meta(obj).get("namespace"), raw=True)
        except Exception as exc:
            if is_not_found(exc) or is_conflict(exc):
                return None
            raise

    async def _release(self, obj: dict) -> None:
        uid = meta(self.owner).get("uid")
        refs = [r for r in meta(obj).get("ownerReferences") or () if r.get("uid") != uid]
        patch = {"metadata": {"ownerReferences": refs or None, "uid": meta(obj)["uid"],
                              "resourceVersion": meta(obj).get("resourceVersion")}}
        try:
            await self.client.patch(self.dependent_kind, meta(obj)["name"], patch,
                                    namespace=meta(obj).get("namespace"), raw=True)
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise
