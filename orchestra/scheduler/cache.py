"""The scheduler's cache: the core's :class:`ClusterSnapshot` fed from node and pod events.

Informers deliver wire dicts (``raw=True``: no model decoding); the cache converts each
node and bound pod once and applies it to the snapshot incrementally. Pods the scheduler
has just placed are *assumed* (counted on their node before the API confirms the binding);
the pod's next event with the same node confirms them without converting the pod again. An
assumed pod whose binding finished but was never confirmed expires after ``assumed_ttl``
seconds, as in Kubernetes' scheduler cache.

Terminal pods (phase Succeeded or Failed) no longer use their node's resources and are
dropped; pods being deleted stay counted until they are gone.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from orchestra.scheduler.podinfo import PodInfo, PodInfoError, pod_key
from orchestra.scheduler.snapshot import ClusterSnapshot, SnapshotError

__all__ = ["DEFAULT_ASSUMED_TTL", "SchedulerCache", "is_terminal", "raw_pod_key"]

log = logging.getLogger(__name__)

#: Seconds an assumed pod whose binding finished may wait for its confirmation.
DEFAULT_ASSUMED_TTL = 30.0


def raw_pod_key(pod: Mapping[str, Any]) -> str:
    """``namespace/name`` of a pod wire dict."""
    meta = pod.get("metadata") or {}
    return pod_key(meta.get("namespace") or "default", meta.get("name") or "")


def is_terminal(pod: Mapping[str, Any]) -> bool:
    """Whether a pod wire dict has finished (phase Succeeded or Failed)."""
    return ((pod.get("status") or {}).get("phase")) in ("Succeeded", "Failed")


class SchedulerCache:
    """Nodes and bound pods for the scheduling cycle, plus the scheduler's assumed pods.

    :param snapshot: the snapshot to keep (a new one by default).
    :param assumed_ttl: seconds an assumed pod may wait for its confirmation once bound.
    :param clock: monotonic seconds.
    """

    def __init__(self, snapshot: ClusterSnapshot | None = None, *, assumed_ttl: float = DEFAULT_ASSUMED_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.snapshot = snapshot if snapshot is not None else ClusterSnapshot()
        self.assumed_ttl = assumed_ttl
        self.clock = clock
        #: assumed pod key → deadline (None while its binding is in flight)
        self._assumed: dict[str, float | None] = {}
        #: Pods confirmed on a node since the cache was made (for benchmarks and tests).
        self.confirmed = 0

    # ------------------------------------------------------------------ nodes

    def add_node(self, node: Mapping[str, Any]) -> bool:
        """A node was added or changed; False (logged) when it cannot be read."""
        try:
            self.snapshot.add_node(node)
        except PodInfoError as exc:
            log.warning("ignoring node: %s", exc)
            return False
        return True

    update_node = add_node

    def remove_node(self, node: Mapping[str, Any]) -> None:
        """A node was deleted."""
        name = (node.get("metadata") or {}).get("name") or ""
        try:
            self.snapshot.remove_node(name)
        except SnapshotError:
            pass

    # ------------------------------------------------------------------ pods

    def add_pod(self, pod: Mapping[str, Any], key: str | None = None) -> bool:
        """A bound pod was added or changed (an assumed one is confirmed); False when not placed.
        ``key``: the pod's ``namespace/name``, when the caller has it already."""
        if key is None:
            key = raw_pod_key(pod)
        if is_terminal(pod):
            self.remove_pod(key)
            return False
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return False
        snap = self.snapshot
        if key in self._assumed:
            placed = snap.pod(key)
            uid = (pod.get("metadata") or {}).get("uid") or ""
            if placed is not None and placed.assumed and placed.info.uid == uid and snap.slot_of(node_name) == placed.slot:
                placed.assumed = False  # confirmed where we put it: keep the accounting
                del self._assumed[key]
                self.confirmed += 1
                return True
            del self._assumed[key]
        else:
            current = snap.pod(key)
            if current is not None and (current.info.raw is pod or snap.refresh_pod(key, pod)):
                return True
        try:
            info = PodInfo.from_dict(pod)
        except PodInfoError as exc:
            log.warning("ignoring pod: %s", exc)
            return False
        snap.add_pod(info, node_name)
        self.confirmed += 1
        return True

    update_pod = add_pod

    def remove_pod(self, key: str) -> PodInfo | None:
        """Pod ``key`` was deleted (or finished); return what the snapshot held."""
        self._assumed.pop(key, None)
        return self.snapshot.remove_pod(key)

    # ------------------------------------------------------------------ assumed pods

    def assume(self, pod: PodInfo, node_name: str) -> None:
        """Count ``pod`` on ``node_name`` now; its binding is about to be sent."""
        self.snapshot.assume_pod(pod, node_name)
        self._assumed[pod.key] = None

    def finish_binding(self, key: str) -> None:
        """The binding of assumed pod ``key`` was accepted: start its expiry clock."""
        if key in self._assumed and self.snapshot.is_assumed(key):
            self._assumed[key] = self.clock() + self.assumed_ttl

    def forget(self, key: str) -> None:
        """The binding of assumed pod ``key`` failed: uncount it."""
        if self._assumed.pop(key, "missing") != "missing":
            self.snapshot.forget_pod(key)

    def is_assumed(self, key: str) -> bool:
        """Whether ``key`` is assumed and not yet confirmed."""
        return key in self._assumed

    @property
    def assumed_count(self) -> int:
        """Assumed pods awaiting confirmation."""
        return len(self._assumed)

    def cleanup_expired(self) -> list[str]:
        """Uncount assumed pods whose binding finished more than ``assumed_ttl`` ago; return their keys."""
        now = self.clock()
        expired = [k for k, deadline in self._assumed.items() if deadline is not None and deadline <= now]
        for key in expired:
            log.warning("assumed pod %s expired without confirmation", key)
            del self._assumed[key]
            self.snapshot.forget_pod(key)
        return expired
