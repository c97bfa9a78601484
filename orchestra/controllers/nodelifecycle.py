"""The node lifecycle controller: notice dead nodes, taint them, evict their pods.

As Kubernetes' ``pkg/controller/nodelifecycle`` (node monitor and NoExecute taint manager):

- A node's heartbeat is its Lease in ``kube-node-lease`` (``spec.renewTime``) and its Ready
  condition's ``lastHeartbeatTime``. When neither changed for :attr:`NodeLifecycleController.grace_period`
  seconds of the controller's own clock, every node condition turns ``Unknown`` (reason
  ``NodeStatusUnknown``, or ``NodeStatusNeverUpdated`` when the kubelet never reported).
- A node whose Ready condition is ``Unknown`` gets the ``node.kubernetes.io/unreachable`` taints,
  one whose Ready is ``False`` the ``node.kubernetes.io/not-ready`` ones — each as ``NoExecute``
  and ``NoSchedule``. Both are removed when the node reports Ready again.
- The pods of a node that is not Ready get their Ready condition set to ``False``.
- A pod on a node with ``NoExecute`` taints is evicted (deleted, so that its controller replaces
  it) at once when it does not tolerate one of them, else after the shortest
  ``tolerationSeconds`` of its matching tolerations, counted from when the taint was added.

Keys are node names. ``clock`` (epoch seconds) is injectable.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Callable

import attrs

from orchestra.api.timestamps import format_seconds
from orchestra.client import Client
from orchestra.controllers.base import (
    Controller,
    InformerFactory,
    is_conflict,
    is_not_found,
    key_of,
    meta,
    parse_time,
)
from orchestra.controllers.podutil import is_pod_ready

__all__ = [
    "NodeLifecycleController",
    "DEFAULT_GRACE_PERIOD",
    "LEASE_NAMESPACE",
    "NOT_READY_TAINT",
    "UNREACHABLE_TAINT",
    "desired_taints",
    "tolerates",
    "eviction_delay",
]

log = logging.getLogger(__name__)

#: kube-controller-manager's ``--node-monitor-grace-period`` default (seconds).
DEFAULT_GRACE_PERIOD = 50.0
#: The taint of a node whose kubelet reports Ready=False.
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
#: The taint of a node whose heartbeats stopped (Ready=Unknown).
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
#: Where node heartbeat Leases live.
LEASE_NAMESPACE = "kube-node-lease"
_MANAGED_KEYS = (NOT_READY_TAINT, UNREACHABLE_TAINT)
_NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _ready_condition(node: dict) -> dict | None:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond
    return None


def desired_taints(ready_status: str | None) -> list[tuple[str, str]]:
    """The ``(key, effect)`` lifecycle taints a node with this Ready status should carry."""
    key = {"Unknown": UNREACHABLE_TAINT, "False": NOT_READY_TAINT}.get(ready_status or "")
    return [(key, "NoExecute"), (key, "NoSchedule")] if key else []


def tolerates(toleration: dict, taint: dict) -> bool:
    """Whether one toleration matches a taint (key, operator, value and effect)."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    key = toleration.get("key")
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    return operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: dict, taints: list[dict]) -> float | None:
    """Seconds after the taints appeared at which ``pod`` must go (0: now), or None for never."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or ()
    delay: float | None = None
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        bounded = [float(t["tolerationSeconds"]) for t in matching if t.get("tolerationSeconds") is not None]
        if len(bounded) == len(matching):
            shortest = max(min(bounded), 0.0)
            delay = shortest if delay is None else min(delay, shortest)
    return delay


@attrs.define
class _Health:
    """The last heartbeat seen from a node, and when (by the controller's clock) it was seen."""

    signature: tuple
    probed: float


class NodeLifecycleController(Controller):
    """Marks silent nodes Unknown, taints unhealthy nodes and evicts pods from them."""

    name = "nodelifecycle"
    default_workers = 2

    def __init__(self, client: Client, informers: InformerFactory, *, workers: int | None = None,
                 grace_period: float = DEFAULT_GRACE_PERIOD, clock: Callable[[], float] = time.time) -> None:
        self.grace_period = grace_period
        self.clock = clock
        super().__init__(client, informers, workers=workers)

    def setup(self) -> None:
        """Watch nodes, their Leases and pods (indexed by node)."""
        self._health: dict[str, _Health] = {}
        self._wake_at: dict[str, float] = {}
        self._pods_by_node: dict[str, dict[str, dict]] = {}
        self._pod_node: dict[str, str] = {}
        self.nodes = self.informers.informer("nodes")
        self.leases = self.informers.informer("leases")
        self.pods = self.informers.informer("pods")
        self.nodes.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self._node_deleted)
        self.leases.add_handler(self._lease_event, lambda old, new: self._lease_event(new), None)
        self.pods.add_handler(self._pod_event, lambda old, new: self._pod_event(new), self._pod_deleted)


    # ------------------------------------------------------------------ event handlers

    def _node_deleted(self, node: dict) -> None:
        name = meta(node).get("name")
        self._health.pop(name, None)
        self._wake_at.pop(name, None)

    def _lease_event(self, lease: dict) -> None:
        if meta(lease).get("namespace") == LEASE_NAMESPACE:
            self.enqueue(meta(lease).get("name") or "")

    def _pod_event(self, pod: dict) -> None:
        key = key_of(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        previous = self._pod_node.get(key)
        if previous is not None and previous != node:
            self._pods_by_node.get(previous, {}).pop(key, None)
        if not node:
            self._pod_node.pop(key, None)
            return
        self._pod_node[key] = node
        self._pods_by_node.setdefault(node, {})[key] = pod
        current = self.nodes.get(node)
        if current is not None and _lifecycle_taints(current):
            self.enqueue(node)

    def _pod_deleted(self, pod: dict) -> None:
        key = key_of(pod)
        node = self._pod_node.pop(key, None)
        if node is not None:
            self._pods_by_node.get(node, {}).pop(key, None)

    def pods_on(self, node_name: str) -> list[dict]:
        """The pods the informer sees bound to ``node_name``."""
        return list(self._pods_by_node.get(node_name, {}).values())

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Update the node's health, conditions and taints; mark and evict its pods."""
        node = self.nodes.get(key)
        if node is None:
            self._health.pop(key, None)
            return
        now = self.clock()
        if self._wake_at.get(key, now + 1) <= now:
            self._wake_at.pop(key, None)
        node = await self._monitor(key, node, now)
        ready = _ready_condition(node)
        ready_status = ready.get("status") if ready else None
        node = await self._reconcile_taints(node, ready_status, now)
        if ready_status is not None and ready_status != "True":
            await self._mark_pods_not_ready(key)
        await self._evict(key, node, now)

    async def _monitor(self, name: str, node: dict, now: float) -> dict:
        ready = _ready_condition(node)
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        signature = ((lease or {}).get("spec", {}).get("renewTime"),
                     (ready or {}).get("lastHeartbeatTime"), (ready or {}).get("lastTransitionTime"))
        health = self._health.get(name)
        if health is None or health.signature != signature:
            health = self._health[name] = _Health(signature, now)
        expires = health.probed + self.grace_period
        if now < expires:
            self._wake(name, expires - now)
            return node
        if ready is not None and ready.get("status") == "Unknown":
            return node
        return await self._mark_unknown(node, ready is None, now)

    async def _mark_unknown(self, node: dict, never_updated: bool, now: float) -> dict:
        reason = "NodeStatusNeverUpdated" if never_updated else "NodeStatusUnknown"
        message = "Kubelet never posted node status." if never_updated else "Kubelet stopped posting node status."
        updated = copy.deepcopy(node)
        status = updated.setdefault("status", {})
        existing = {c.get("type"): c for c in status.get("conditions") or ()}
        conditions = [c for c in status.get("conditions") or () if c.get("type") not in _NODE_CONDITIONS]
        for kind in _NODE_CONDITIONS:
            cond = dict(existing.get(kind) or {"type": kind, "lastHeartbeatTime": format_seconds(now)})
            if cond.get("status") != "Unknown":
                cond["lastTransitionTime"] = format_seconds(now)
            cond.update(status="Unknown", reason=reason, message=message)
            conditions.append(cond)
        status["conditions"] = conditions
        updated.setdefault("apiVersion", "v1")
        updated.setdefault("kind", "Node")
        log.info("node %s: no heartbeat for %.0fs, Ready=Unknown", meta(node).get("name"), self.grace_period)
        return await self.client.update_status(updated, raw=True)

    async def _reconcile_taints(self, node: dict, ready_status: str | None, now: float) -> dict:
        current = list((node.get("spec") or {}).get("taints") or ())
        wanted = desired_taints(ready_status)
        kept = [t for t in current if t.get("key") not in _MANAGED_KEYS
                or (t.get("key"), t.get("effect")) in wanted]
        present = {(t.get("key"), t.get("effect")) for t in kept}
        added = [{"key": key, "effect": effect, "timeAdded": format_seconds(now)}
                 for key, effect in wanted if (key, effect) not in present]
        taints = kept + added
        if taints == current:
            return node
        updated = copy.deepcopy(node)
        spec = updated.setdefault("spec", {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        updated.setdefault("apiVersion", "v1")
        updated.setdefault("kind", "Node")
        return await self.client.update(updated, raw=True)

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods_on(node_name):
            if meta(pod).get("deletionTimestamp") or not is_pod_ready(pod):
                continue
            updated = copy.deepcopy(pod)
            stamp = format_seconds(self.clock())
            for cond in (updated.get("status") or {}).get("conditions") or ():
                if cond.get("type") == "Ready":
                    cond.update(status="False", lastTransitionTime=stamp)
            updated.setdefault("apiVersion", "v1")
            updated.setdefault("kind", "Pod")
            try:
                await self.client.update_status(updated, raw=True)
            except Exception as exc:
                if not (is_not_found(exc) or is_conflict(exc)):
                    raise

    async def _evict(self, node_name: str, node: dict, now: float) -> None:
        taints = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]
        if not taints:
            return
        since = max((parse_time(t.get("timeAdded")) or now) for t in taints)
        for pod in self.pods_on(node_name):
            if meta(pod).get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            delay = eviction_delay(pod, taints)
            if delay is None:
                continue
            due = since + delay
            if due > now:
                self._wake(node_name, due - now)
                continue
            log.info("node %s: evicting pod %s", node_name, key_of(pod))
            try:
                await self.client.delete("pods", meta(pod)["name"], namespace=meta(pod).get("namespace"),
                                         preconditions={"uid": meta(pod)["uid"]})
            except Exception as exc:
                if not (is_not_found(exc) or is_conflict(exc)):
                    raise

    def _wake(self, name: str, delay: float) -> None:
        """Sync ``name`` again in ``delay`` seconds unless an earlier wake-up is already pending."""
        due = self.clock() + delay
        pending = self._wake_at.get(name)
        if pending is not None and self.clock() < pending <= due:
            return
        self._wake_at[name] = due
        self.enqueue_after(name, delay + 0.01)


def _lifecycle_taints(node: dict) -> list[dict]:
    return [t for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("key") in _MANAGED_KEYS and t.get("effect") == "NoExecute"]
