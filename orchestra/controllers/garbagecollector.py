"""The garbage collector: ownerReferences cascade (Kubernetes' ``pkg/controller/garbagecollector``).

A graph keyed by uid is built from informers on every kind served: each node knows its owners;
an index knows each owner's dependents. A uid is synced when its object, owners or dependents
change:

- an object whose owners are all gone (checked against the API server, not only the cache) is
  deleted — with its own pending policy (an ``orphan`` / ``foregroundDeletion`` finalizer it
  carries), else in the background;
- an object with a live owner keeps living, but loses its references to owners that are gone;
- an owner being deleted with the ``orphan`` finalizer has its reference removed from every
  dependent, then the finalizer removed;
- an owner being deleted with ``foregroundDeletion`` has its dependents deleted, and its
  finalizer removed once no dependent with ``blockOwnerDeletion`` remains.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from orchestra.api.registry import ResourceType, resource_types
from orchestra.client import Client
from orchestra.controllers.base import Controller, InformerFactory, is_conflict, is_not_found, meta

__all__ = ["GarbageCollector", "GraphNode", "ORPHAN_FINALIZER", "FOREGROUND_FINALIZER"]

log = logging.getLogger(__name__)

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


@attrs.define
class GraphNode:
    """One object in the graph: its kind, coordinates, owners and deletion state."""

    rtype: ResourceType
    namespace: str | None
    name: str
    uid: str
    owners: list[dict]
    finalizers: list[str]
    deleting: bool
    resource_version: str

    @classmethod
    def of(cls, rtype: ResourceType, obj: dict) -> "GraphNode":
        """The node of a wire object."""
        m = meta(obj)
        return cls(rtype, m.get("namespace"), m["name"], m["uid"], list(m.get("ownerReferences") or ()),
                   list(m.get("finalizers") or ()), bool(m.get("deletionTimestamp")), m.get("resourceVersion") or "")


def _kind_index() -> dict[tuple[str, str], ResourceType]:
    return {(rt.api_version, rt.kind): rt for rt in resource_types()}


class GarbageCollector(Controller):
    """Deletes dependents whose owners are gone, and carries out orphan and foreground deletion."""

    name = "garbagecollector"

    def __init__(self, client: Client, informers: InformerFactory, *, workers: int | None = None,
                 kinds: list[str] | None = None) -> None:
        self.kinds = kinds
        super().__init__(client, informers, workers=workers)

    def setup(self) -> None:
        """One informer per served kind (or the ``kinds`` given), all feeding the graph."""
        self.nodes: dict[str, GraphNode] = {}
        self.dependents: dict[str, set[str]] = {}
        self._by_kind = _kind_index()
        for rt in resource_types():
            if self.kinds is not None and rt.plural not in self.kinds:
                continue
            informer = self.informers.informer(rt)
            informer.add_handler(self._adder(rt), self._updater(rt), self._deleter(rt))

    # ------------------------------------------------------------------ graph upkeep

    def _adder(self, rt: ResourceType):
        def on_add(obj: dict) -> None:
            node = self._upsert(rt, obj)
            if node.owners or (node.deleting and node.finalizers):
                self.enqueue(node.uid)
        return on_add

    def _updater(self, rt: ResourceType):
        def on_update(old: dict, new: dict) -> None:
            before = self.nodes.get(meta(old).get("uid"))
            old_owners = {r.get("uid") for r in (before.owners if before else meta(old).get("ownerReferences") or ())}
            node = self._upsert(rt, new)
            new_owners = {r.get("uid") for r in node.owners}
            if node.owners or node.deleting:
                self.enqueue(node.uid)
            for uid in old_owners - new_owners:
                self.enqueue(uid)  # an owner waiting in foreground deletion may be free now
            if node.deleting and FOREGROUND_FINALIZER in node.finalizers:
                for uid in self.dependents.get(node.uid, ()):
                    self.enqueue(uid)
        return on_update

    def _deleter(self, rt: ResourceType):
        def on_delete(obj: dict) -> None:
            uid = meta(obj).get("uid")
            node = self.nodes.pop(uid, None)
            if node is not None:
                for ref in node.owners:
                    deps = self.dependents.get(ref.get("uid"))
                    if deps is not None:
                        deps.discard(uid)
                        if not deps and ref.get("uid") not in self.nodes:
                            self.dependents.pop(ref.get("uid"), None)
                    self.enqueue(ref.get("uid"))
            for dep in self.dependents.get(uid, ()):
                self.enqueue(dep)
        return on_delete

    def _upsert(self, rt: ResourceType, obj: dict) -> GraphNode:
        node = GraphNode.of(rt, obj)
        previous = self.nodes.get(node.uid)
        if previous is not None:
            for ref in previous.owners:
                self.dependents.get(ref.get("uid"), set()).discard(node.uid)
        self.nodes[node.uid] = node
        for ref in node.owners:
            self.dependents.setdefault(ref.get("uid"), set()).add(node.uid)
        return node

    def dependents_of(self, uid: str) -> list[GraphNode]:
        """The nodes that name ``uid`` as an owner."""
        return [self.nodes[d] for d in self.dependents.get(uid, ()) if d in self.nodes]

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Act on one uid: finish an orphan or foreground deletion, or collect it if ownerless."""
        node = self.nodes.get(key)
        if node is None:
            return
        if node.deleting:
            if ORPHAN_FINALIZER in node.finalizers:
                await self._orphan_dependents(node)
            elif FOREGROUND_FINALIZER in node.finalizers:
                await self._process_foreground(node)
            return
        if node.owners:
            await self._attempt_to_delete(node)

    async def _orphan_dependents(self, node: GraphNode) -> None:
        for dep in self.dependents_of(node.uid):
            refs = [r for r in dep.owners if r.get("uid") != node.uid]
            await self._patch_owner_refs(dep, refs)
        await self._remove_finalizer(node, ORPHAN_FINALIZER)

    async def _process_foreground(self, node: GraphNode) -> None:
        blocking = [d for d in self.dependents_of(node.uid)
                    if any(r.get("uid") == node.uid and r.get("blockOwnerDeletion") for r in d.owners)]
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND_FINALIZER)
            return
        for dep in self.dependents_of(node.uid):
            if not dep.deleting:
                self.enqueue(dep.uid)

    async def _owner_state(self, node: GraphNode, ref: dict) -> str:
        """``solid``, ``dangling`` or ``waiting`` (owner being deleted in the foreground)."""
        owner = self.nodes.get(ref.get("uid"))
        if owner is not None:
            return "waiting" if owner.deleting and FOREGROUND_FINALIZER in owner.finalizers else "solid"
        rt = self._by_kind.get((ref.get("apiVersion"), ref.get("kind")))
        if rt is None:
            return "solid"  # a kind we do not serve: never collect on its account
        namespace = node.namespace if rt.namespaced else None
        if rt.namespaced and namespace is None:
            return "dangling"  # a cluster-scoped object cannot be owned by a namespaced one
        try:
            live = await self.client.get(rt, ref.get("name"), namespace=namespace, raw=True)
        except Exception as exc:
            if is_not_found(exc):
                return "dangling"
            raise
        if meta(live).get("uid") != ref.get("uid"):
            return "dangling"
        finalizers = meta(live).get("finalizers") or ()
        return "waiting" if meta(live).get("deletionTimestamp") and FOREGROUND_FINALIZER in finalizers else "solid"

    async def _attempt_to_delete(self, node: GraphNode) -> None:
        states = {ref.get("uid"): await self._owner_state(node, ref) for ref in node.owners}
        solid = [u for u, s in states.items() if s == "solid"]
        gone_or_waiting = {u for u, s in states.items() if s != "solid"}
        waiting = [u for u, s in states.items() if s == "waiting"]
        if solid:
            if gone_or_waiting:
                await self._patch_owner_refs(node, [r for r in node.owners if r.get("uid") not in gone_or_waiting])
            return
        if waiting and self.dependents_of(node.uid):
            refs = [{**r, "blockOwnerDeletion": False} if r.get("uid") in waiting else r for r in node.owners]
            if refs != node.owners:
                await self._patch_owner_refs(node, refs)
            policy = "Foreground"
        elif ORPHAN_FINALIZER in node.finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in node.finalizers or waiting:
            policy = "Foreground" if self.dependents_of(node.uid) else "Background"
        else:
            policy = "Background"
        log.info("garbage collecting %s %s/%s (policy %s)", node.rtype.kind, node.namespace, node.name, policy)
        try:
            await self.client.delete(node.rtype, node.name, namespace=node.namespace, propagation_policy=policy,
                                     preconditions={"uid": node.uid})
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise

    async def _patch(self, node: GraphNode, metadata: dict[str, Any]) -> None:
        body = {"metadata": {**metadata, "uid": node.uid, "resourceVersion": node.resource_version}}
        try:
            await self.client.patch(node.rtype, node.name, body, namespace=node.namespace, raw=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise  # a conflict is retried with the newer version the informer brings

    async def _patch_owner_refs(self, node: GraphNode, refs: list[dict]) -> None:
        await self._patch(node, {"ownerReferences": refs or None})

    async def _remove_finalizer(self, node: GraphNode, finalizer: str) -> None:
        remaining = [f for f in node.finalizers if f != finalizer]
        await self._patch(node, {"finalizers": remaining or None})
