"""The ReplicaSet controller: keep ``spec.replicas`` pods of the template running.

As Kubernetes' ``pkg/controller/replicaset``: pods are claimed by selector and controller
ownerReference (orphans adopted, non-matching pods released); missing pods are created from the
template with ``generateName: <rs>-`` in slow-start batches (1, 2, 4, …, at most
:data:`BURST_REPLICAS` per sync, stopping at the first failure); surplus pods are deleted in
ActivePods order (unscheduled, pending, not ready and newest first). While the creations or
deletions of a sync have not been seen by the pod informer, the controller only updates status.
"""

from __future__ import annotations

import asyncio
import logging
import time

from orchestra.api.timestamps import now_rfc3339
from orchestra.client import resolve_kind, resource_path
from orchestra.controllers.base import (
    Controller,
    Expectations,
    controller_ref,
    delete_pods,
    is_conflict,
    is_namespace_terminating,
    is_not_found,
    key_of,
    meta,
)
from orchestra.controllers.podutil import (
    RefManager,
    active_pods_deletion_order,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    owner_reference,
    pod_ready_since,
    selector_of,
)

__all__ = ["ReplicaSetController", "BURST_REPLICAS", "SLOW_START_INITIAL_BATCH", "slow_start_batches",
           "replica_set_status"]

log = logging.getLogger(__name__)

#: At most this many pods are created or deleted in one sync (as Kubernetes).
BURST_REPLICAS = 500
#: The first batch of a slow-start creation.
SLOW_START_INITIAL_BATCH = 1


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """The batch sizes creating ``count`` pods: 1, 2, 4, … with the last one cut to fit."""
    batches, batch, remaining = [], initial, count
    while remaining > 0:
        size = min(batch, remaining)
        batches.append(size)
        remaining -= size
        batch *= 2
    return batches


def replica_set_status(rs: dict, pods: list[dict], now: float | None = None,
                       failure: tuple[str, str] | None = None, managed: bool = False) -> dict:
    """The status the RS should report for its claimed active ``pods``.

    ``failure`` (reason, message) adds the ReplicaFailure condition after a failed create or
    delete; a sync that ``managed`` replicas without failing removes it.
    """
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = dict(rs.get("status") or {})  # its conditions are replaced, never changed in place
    status["replicas"] = len(pods)
    status["fullyLabeledReplicas"] = sum(
        1 for p in pods if all((meta(p).get("labels") or {}).get(k) == v for k, v in template_labels.items()))
    status["readyReplicas"] = sum(1 for p in pods if is_pod_ready(p))
    status["availableReplicas"] = sum(1 for p in pods if is_pod_available(p, min_ready, now))
    status["observedGeneration"] = meta(rs).get("generation")
    conditions = [c for c in status.get("conditions") or () if c.get("type") != "ReplicaFailure"]
    existing = next((c for c in status.get("conditions") or () if c.get("type") == "ReplicaFailure"), None)
    if failure is not None:
        if existing is None:
            existing = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": now_rfc3339(),
                        "reason": failure[0], "message": failure[1]}
        conditions.append(existing)
    elif existing is not None and not managed:
        conditions.append(existing)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


class ReplicaSetController(Controller):
    """Creates and deletes pods so each ReplicaSet has ``spec.replicas`` of them."""

    name = "replicaset"

    def setup(self) -> None:
        """Watch ReplicaSets and pods."""
        self.expectations = Expectations()
        self._pods = resolve_kind("pods")
        self.rs_informer = self.informers.informer("replicasets")
        self.pod_informer = self.informers.informer("pods")
        self.pods_by_owner = self.informers.controller_index("pods")
        self.rs_informer.add_handler(self.enqueue, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # ------------------------------------------------------------------ event handlers

    def _rs_updated(self, old: dict, new: dict) -> None:
        self.enqueue(new)

    def _rs_deleted(self, rs: dict) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: dict) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        key = f"{meta(pod).get('namespace')}/{ref.get('name')}"
        rs = self.rs_informer.get(key)
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None
        return key

    def _matching_rs_keys(self, pod: dict) -> list[str]:
        labels = meta(pod).get("labels") or {}
        namespace = meta(pod).get("namespace")
        return [key_of(rs) for rs in self.rs_informer.list()
                if meta(rs).get("namespace") == namespace and selector_of((rs.get("spec") or {}).get("selector")).matches(labels)]

    def _pod_added(self, pod: dict) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif controller_ref(pod) is None:
            for rs_key in self._matching_rs_keys(pod):
                self.enqueue(rs_key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            # a graceful delete: the pod is as good as gone for the expectations
            self._pod_deleted(new)
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and old_ref is not None:
            old_key = self._owner_key(old)
            if old_key:
                self.enqueue(old_key)
        key = self._owner_key(new)
        if key is not None:
            self.enqueue(key)
            min_ready = int((self.rs_informer.get(key) or {}).get("spec", {}).get("minReadySeconds") or 0)
            if min_ready > 0 and is_pod_ready(new) and not is_pod_ready(old):
                # availability comes minReadySeconds later, with no event to announce it
                self.enqueue_after(key, min_ready + 1)
        elif new_ref is None and (meta(old).get("labels") != meta(new).get("labels") or old_ref is not None):
            for rs_key in self._matching_rs_keys(new):
                self.enqueue(rs_key)

    def _pod_deleted(self, pod: dict) -> None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        key = f"{meta(pod).get('namespace')}/{ref.get('name')}"
        self.expectations.deletion_observed(key, key_of(pod))
        self.enqueue(key)

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Claim pods, create or delete the difference, update status."""
        rs = self.rs_informer.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        selector = selector_of((rs.get("spec") or {}).get("selector"))
        candidates = [p for p in self.pods_by_owner.candidates(rs) if is_pod_active(p)]
        manager = RefManager(self.client, rs, selector, "apps/v1", "ReplicaSet", "pods")
        pods = await manager.claim(candidates)
        error: Exception | None = None
        failure: tuple[str, str] | None = None
        managed = self.expectations.satisfied(key) and not meta(rs).get("deletionTimestamp")
        if managed:
            want = int((rs.get("spec") or {}).get("replicas") or 0)
            try:
                await self._manage_replicas(key, rs, pods)
            except Exception as exc:  # status is still worth updating; re-raised below
                error = exc
                failure = ("FailedCreate" if len(pods) < want else "FailedDelete", str(exc))
        await self._update_status(rs, pods, failure, managed)
        if error is not None:
            raise error

    async def _manage_replicas(self, key: str, rs: dict, pods: list[dict]) -> None:
        want = int((rs.get("spec") or {}).get("replicas") or 0)
        diff = len(pods) - want
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect_creations(key, count)
            attempted = 0
            for batch in slow_start_batches(count):
                results = await asyncio.gather(*(self._create_pod(rs) for _ in range(batch)), return_exceptions=True)
                attempted += batch
                failures = [r for r in results if isinstance(r, BaseException)]
                if not failures:
                    continue
                # neither the failed creations nor the batches never attempted will be observed
                for _ in range(len(failures) + count - attempted):
                    self.expectations.creation_observed(key)
                if all(is_namespace_terminating(f) for f in failures):
                    return  # the namespace is being emptied: nothing to retry
                raise failures[0]
        elif diff > 0:
            victims = active_pods_deletion_order(pods)[: min(diff, BURST_REPLICAS)]
            await delete_pods(self.client, self.expectations, key, victims)

    async def _create_pod(self, rs: dict) -> None:
        # The pod's spec is the ReplicaSet's own (shared with the informer and the API server):
        # the client encodes the body, so nothing changes it. The answer is not needed.
        template = (rs.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        pod_meta = {
            "generateName": f"{meta(rs)['name']}-",
            "namespace": meta(rs).get("namespace"),
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [owner_reference(rs, "apps/v1", "ReplicaSet")],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        if template_meta.get("finalizers"):
            pod_meta["finalizers"] = list(template_meta["finalizers"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
        await self.client.request_status("POST", resource_path(self._pods, meta(rs).get("namespace") or "default"), body=pod)

    async def _update_status(self, rs: dict, pods: list[dict], failure: tuple[str, str] | None = None,
                             managed: bool = False) -> None:
        now = time.time()
        status = replica_set_status(rs, pods, now, failure, managed)
        if status == (rs.get("status") or {}):
            self._requeue_for_availability(rs, pods, now)
            return
        updated = {**rs, "status": status}  # rs is shared: a new top level, the rest as it is
        for attempt in range(2):
            try:
                await self.client.update_status(updated, raw=True)
                break
            except Exception as exc:
                if is_not_found(exc):
                    return
                if not is_conflict(exc) or attempt:
                    raise
                # another writer (the Deployment controller scaling it) won: retry once on the fresh object
                try:
                    fresh = await self.client.get("replicasets", meta(rs)["name"], namespace=meta(rs)["namespace"],
                                                  raw=True)
                except Exception as get_exc:
                    if is_not_found(get_exc):
                        return
                    raise
                if meta(fresh).get("uid") != meta(rs).get("uid"):
                    return
                fresh["status"] = status
                updated = fresh
        self._requeue_for_availability(rs, pods, now)

    def _requeue_for_availability(self, rs: dict, pods: list[dict], now: float) -> None:
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        pending = [since + min_ready - now for p in pods
                   if (since := pod_ready_since(p)) is not None and since + min_ready > now]
        if pending:
            self.enqueue_after(key_of(rs), min(pending) + 0.5)
