"""Deployment arithmetic and bookkeeping (Kubernetes' ``deployment/util``).

pod-template-hash: FNV-32a over the template's canonical JSON (sorted keys, no whitespace)
followed by the collision count as 4 little-endian bytes, written with Kubernetes'
``SafeEncodeString`` alphabet. The value is stable and changes with the template, but is not
byte-for-byte Kubernetes' (which hashes Go's printed struct).
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from orchestra.api.timestamps import now_rfc3339
from orchestra.controllers.base import meta, parse_time

__all__ = [
    "POD_TEMPLATE_HASH_LABEL",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "CHANGE_CAUSE_ANNOTATION",
    "LAST_APPLIED_ANNOTATION",
    "ANNOTATIONS_NOT_COPIED",
    "compute_hash",
    "safe_encode",
    "fnv32a",
    "canonical_template",
    "templates_equal_ignoring_hash",
    "revision_of",
    "max_revision",
    "resolve_int_or_percent",
    "resolve_fenceposts",
    "max_surge",
    "max_unavailable",
    "replicas_of",
    "spec_replicas_sum",
    "actual_replicas_sum",
    "available_replicas_sum",
    "ready_replicas_sum",
    "filter_active",
    "by_creation",
    "get_condition",
    "new_condition",
    "set_condition",
    "remove_condition",
    "is_rolling_update",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "has_progress_deadline",
]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
#: Deployment annotations the controller does not copy onto its ReplicaSets.
ANNOTATIONS_NOT_COPIED = frozenset({
    LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION, "deprecated.deployment.rollback.to",
})

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data``."""
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: every character mapped into a vowel-free alphabet."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def _prune(value: Any) -> Any:
    """Drop ``None``, empty maps and empty lists, recursively (what Go's omitempty would not print)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def canonical_template(template: dict | None) -> dict:
    """The template without empty fields and without the pod-template-hash label."""
    result = _prune(template or {})  # a new tree of containers: the template itself is never changed
    labels = (result.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
        if not labels:
            result["metadata"].pop("labels")
        if not result["metadata"]:
            result.pop("metadata")
    return result


def compute_hash(template: dict | None, collision_count: int | None = None) -> str:
    """The pod-template-hash of a template (and collision count)."""
    data = orjson.dumps(canonical_template(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(fnv32a(data)))


def templates_equal_ignoring_hash(a: dict | None, b: dict | None) -> bool:
    """Whether two pod templates are the same apart from the pod-template-hash label."""
    return canonical_template(a) == canonical_template(b)


def revision_of(obj: dict) -> int:
    """The revision annotation as a number (0 when absent or malformed)."""
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: list[dict]) -> int:
    """The highest revision among ``replica_sets`` (0 for none)."""
    return max((revision_of(rs) for rs in replica_sets), default=0)


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString (``3`` or ``"25%"``) as a count out of ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        fraction = int(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(text)


def _rolling(deployment: dict) -> dict:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    return strategy.get("rollingUpdate") or {}


def replicas_of(obj: dict) -> int:
    """``spec.replicas`` (1 when unset, as defaulting would make it)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def resolve_fenceposts(deployment: dict) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as counts; both 0 would block, so unavailable becomes 1."""
    desired = replicas_of(deployment)
    rolling = _rolling(deployment)
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(deployment: dict) -> bool:
    """Whether the strategy is RollingUpdate (the default)."""
    return (((deployment.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def max_surge(deployment: dict) -> int:
    """How many pods above the replicas a rolling update may run (0 for Recreate)."""
    return resolve_fenceposts(deployment)[0] if is_rolling_update(deployment) else 0


def max_unavailable(deployment: dict) -> int:
    """How many pods may be unavailable during a rolling update (0 for Recreate or no replicas)."""
    desired = replicas_of(deployment)
    if not is_rolling_update(deployment) or desired == 0:
        return 0
    return min(resolve_fenceposts(deployment)[1], desired)


def spec_replicas_sum(replica_sets: list[dict | None]) -> int:
    """Total ``spec.replicas``."""
    return sum(replicas_of(rs) for rs in replica_sets if rs is not None)


def _status_sum(replica_sets: list[dict | None], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in replica_sets if rs is not None)


def actual_replicas_sum(replica_sets: list[dict | None]) -> int:
    """Total ``status.replicas``."""
    return _status_sum(replica_sets, "replicas")


def available_replicas_sum(replica_sets: list[dict | None]) -> int:
    """Total ``status.availableReplicas``."""
    return _status_sum(replica_sets, "availableReplicas")


def ready_replicas_sum(replica_sets: list[dict | None]) -> int:
    """Total ``status.readyReplicas``."""
    return _status_sum(replica_sets, "readyReplicas")


def filter_active(replica_sets: list[dict | None]) -> list[dict]:
    """The ReplicaSets with ``spec.replicas`` > 0."""
    return [rs for rs in replica_sets if rs is not None and replicas_of(rs) > 0]


def by_creation(replica_sets: list[dict]) -> list[dict]:
    """Oldest first (ties by name)."""
    return sorted(replica_sets, key=lambda rs: (parse_time(meta(rs).get("creationTimestamp")) or 0.0, meta(rs).get("name")))


# ----------------------------------------------------------------------- conditions


def get_condition(status: dict, kind: str) -> dict | None:
    """The condition of ``kind`` in a status."""
    for cond in status.get("conditions") or ():
        if cond.get("type") == kind:
            return cond
    return None


def new_condition(kind: str, status: str, reason: str, message: str) -> dict:
    """A condition stamped now."""
    now = now_rfc3339()
    return {"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: dict, condition: dict) -> None:
    """Set a condition; the same status and reason is left alone, the same status keeps its transition time."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != condition["type"]] + [condition]


def remove_condition(status: dict, kind: str) -> None:
    """Remove the condition of ``kind``."""
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != kind]


def has_progress_deadline(deployment: dict) -> bool:
    """Whether ``progressDeadlineSeconds`` is set (and not the 'no deadline' max int)."""
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and value != 2**31 - 1


def deployment_complete(deployment: dict, status: dict) -> bool:
    """All replicas updated and available, and the newest generation observed."""
    desired = replicas_of(deployment)
    return (int(status.get("updatedReplicas") or 0) == desired and int(status.get("replicas") or 0) == desired
            and int(status.get("availableReplicas") or 0) == desired
            and int(status.get("observedGeneration") or 0) >= int(meta(deployment).get("generation") or 0))


def deployment_progressing(deployment: dict, new_status: dict) -> bool:
    """Whether ``new_status`` shows progress over the deployment's current status."""
    old = deployment.get("status") or {}

    def n(status: dict, field: str) -> int:
        return int(status.get(field) or 0)

    return (n(new_status, "updatedReplicas") > n(old, "updatedReplicas")
            or n(new_status, "replicas") - n(new_status, "updatedReplicas") < n(old, "replicas") - n(old, "updatedReplicas")
            or n(new_status, "readyReplicas") > n(old, "readyReplicas")
            or n(new_status, "availableReplicas") > n(old, "availableReplicas"))


def deployment_timed_out(deployment: dict, status: dict, now: float | None = None) -> bool:
    """Whether the last progress is older than ``progressDeadlineSeconds``."""
    if not has_progress_deadline(deployment):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    deadline = int((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return since + deadline < (time.time() if now is None else now)
