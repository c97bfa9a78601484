"""The Deployment controller: the event handlers and the sync that picks a behaviour.

A sync claims the deployment's ReplicaSets (adopting and releasing by selector), then:
a deployment being deleted only gets its status synced; a paused one or one that is only
scaling is scaled proportionally (:mod:`.sync`); otherwise its strategy rolls it out
(:mod:`.rolling` or :mod:`.recreate`), with progress tracked by :mod:`.progress`.
"""

from __future__ import annotations

import logging

from orchestra.controllers.base import Controller, controller_ref, key_of, meta, split_key
from orchestra.controllers.deployment import sync as sync_mod
from orchestra.controllers.deployment import util
from orchestra.controllers.deployment.recreate import rollout_recreate
from orchestra.controllers.deployment.rolling import rollout_rolling
from orchestra.controllers.podutil import RefManager, selector_of

__all__ = ["DeploymentController"]

log = logging.getLogger(__name__)


def _rv(obj: dict) -> int:
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets."""

    name = "deployment"

    def setup(self) -> None:
        """Watch Deployments, ReplicaSets and pods (pods matter to Recreate)."""
        self.deployments = self.informers.informer("deployments")
        self.replica_sets = self.informers.informer("replicasets")
        self.pods = self.informers.informer("pods")
        self.replica_sets_by_owner = self.informers.controller_index("replicasets")
        self.pods_by_owner = self.informers.controller_index("pods")
        self._written: dict[str, dict] = {}
        self.deployments.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.replica_sets.add_handler(self._rs_event, lambda old, new: self._rs_updated(old, new), self._rs_event)
        self.pods.add_handler(None, None, self._pod_deleted)

    # ------------------------------------------------------------------ handlers

    def _owner_key(self, obj: dict, kind: str) -> str | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != kind:
            return None
        return f"{meta(obj).get('namespace')}/{ref.get('name')}"

    def _rs_event(self, rs: dict) -> None:
        key = self._owner_key(rs, "Deployment")
        if key is not None:
            self.enqueue(key)
            return
        labels = meta(rs).get("labels") or {}
        for d in self.deployments.list():
            if meta(d).get("namespace") == meta(rs).get("namespace") and selector_of(
                    (d.get("spec") or {}).get("selector")).matches(labels):
                self.enqueue(d)

    def _rs_updated(self, old: dict, new: dict) -> None:
        old_key = self._owner_key(old, "Deployment")
        if old_key and old_key != self._owner_key(new, "Deployment"):
            self.enqueue(old_key)
        self._rs_event(new)

    def _pod_deleted(self, pod: dict) -> None:
        rs_key = self._owner_key(pod, "ReplicaSet")
        if rs_key is None:
            return
        rs = self.replica_sets.get(rs_key)
        if rs is None:
            return
        key = self._owner_key(rs, "Deployment")
        d = self.deployments.get(key) if key else None
        if d is not None and not util.is_rolling_update(d):
            self.enqueue(key)

    # ------------------------------------------------------------------ views for the behaviours

    def fresh(self, replica_sets: list[dict | None]) -> list[dict | None]:
        """The newest version known of each ReplicaSet (this controller's writes or the cache)."""
        result: list[dict | None] = []
        for rs in replica_sets:
            if rs is None:
                result.append(None)
                continue
            candidates = [rs, self.replica_sets.get(key_of(rs)), self._written.get(meta(rs).get("uid"))]
            best = max((c for c in candidates if c is not None and meta(c).get("uid") == meta(rs).get("uid")), key=_rv)
            result.append(best)
        return result

    def replace_cached_rs(self, old: dict, new: dict) -> None:
        """Remember a ReplicaSet this controller just wrote (the informer may not have it yet)."""
        self._written[meta(new).get("uid")] = new

    def replica_sets_of(self, deployment: dict) -> list[dict]:
        """The ReplicaSets controlled by ``deployment`` (newest known versions)."""
        owned = self.replica_sets_by_owner.owned(meta(deployment).get("uid"))
        return [rs for rs in self.fresh(owned) if rs is not None]

    def pods_of(self, rs: dict) -> list[dict]:
        """The pods controlled by ``rs``."""
        return self.pods_by_owner.owned(meta(rs).get("uid"))

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Reconcile one deployment."""
        cached = self.deployments.get(key)
        if cached is None:
            return
        # The cached object is shared (the API server's own): the behaviours replace its top-level
        # fields (status, metadata) with the server's answers and change only the status in place.
        deployment = {**cached, "status": dict(cached.get("status") or {})}
        spec = deployment.get("spec") or {}
        raw_selector = spec.get("selector") or {}
        if not (raw_selector.get("matchLabels") or raw_selector.get("matchExpressions")):
            log.warning("deployment %s has an empty selector, which would select every pod; not syncing it", key)
            return
        selector = selector_of(raw_selector)
        namespace, _ = split_key(key)
        candidates = self.replica_sets_by_owner.candidates(deployment)
        manager = RefManager(self.client, deployment, selector, "apps/v1", "Deployment", "replicasets")
        replica_sets = [rs for rs in self.fresh(await manager.claim(candidates)) if rs is not None]
        if self._written:
            live = {meta(rs)["uid"] for rs in self.replica_sets.list()}
            self._written = {uid: rs for uid, rs in self._written.items() if uid in live}
        if meta(deployment).get("deletionTimestamp"):
            new, old = await sync_mod.get_all_replica_sets(self, deployment, replica_sets, False)
            await sync_mod.sync_deployment_status(self, [*old, new], new, deployment)
            return
        await sync_mod.check_paused_conditions(self, deployment)
        if spec.get("paused"):
            await sync_mod.sync(self, deployment, replica_sets)
            return
        if await sync_mod.is_scaling_event(self, deployment, replica_sets):
            await sync_mod.sync(self, deployment, replica_sets)
            return
        if util.is_rolling_update(deployment):
            await rollout_rolling(self, deployment, replica_sets)
        else:
            await rollout_recreate(self, deployment, replica_sets)
