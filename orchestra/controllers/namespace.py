"""The namespace controller: empty a Terminating namespace, then release it.

When a namespace is deleted the API server marks it Terminating with the ``kubernetes``
finalizer in ``spec.finalizers``. This controller deletes every namespaced object in it
(every namespaced kind served), waits until nothing is left — pods may take their grace
period, objects may carry finalizers — and then removes the finalizer through the
``finalize`` subresource, after which the API server removes the namespace.
"""

from __future__ import annotations

import copy
import logging

from orchestra.api.registry import resource_types
from orchestra.controllers.base import Controller, is_not_found, meta

__all__ = ["NamespaceController", "NAMESPACE_FINALIZER", "ContentRemaining"]

log = logging.getLogger(__name__)

NAMESPACE_FINALIZER = "kubernetes"


class ContentRemaining(Exception):
    """Objects remain in a terminating namespace; the sync is retried later."""


class NamespaceController(Controller):
    """Deletes the contents of terminating namespaces and finalizes them."""

    name = "namespace"
    default_workers = 2
    #: Seconds before checking again a namespace whose contents are still going away.
    recheck_delay = 0.5

    def setup(self) -> None:
        """Watch namespaces."""
        self.namespaces = self.informers.informer("namespaces")
        self.namespaces.add_handler(self.enqueue, lambda old, new: self.enqueue(new), None)

    async def sync(self, key: str) -> None:
        """Delete the namespace's contents; finalize it when empty."""
        namespace = self.namespaces.get(key)
        if namespace is None or not meta(namespace).get("deletionTimestamp"):
            return
        if NAMESPACE_FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or ()):
            return
        remaining = await self.delete_contents(key)
        if remaining:
            log.info("namespace %s: %d objects still being deleted", key, remaining)
            self.enqueue_after(key, self.recheck_delay)
            return
        await self.finalize(namespace)

    async def delete_contents(self, name: str) -> int:
        """Delete every object of every namespaced kind in namespace ``name``; how many remain."""
        remaining = 0
        for rt in resource_types():
            if not rt.namespaced:
                continue
            listing = await self.client.list(rt, namespace=name, raw=True)
            if not listing.items:
                continue
            pending = [o for o in listing.items if not meta(o).get("deletionTimestamp")]
            if pending:
                await self.client.delete_collection(rt, namespace=name, propagation_policy="Background")
                listing = await self.client.list(rt, namespace=name, raw=True)
            remaining += len(listing.items)
        return remaining

    async def finalize(self, namespace: dict) -> None:
        """Remove the ``kubernetes`` finalizer through the ``finalize`` subresource."""
        updated = copy.deepcopy(namespace)
        finalizers = [f for f in (updated.get("spec") or {}).get("finalizers") or () if f != NAMESPACE_FINALIZER]
        updated.setdefault("spec", {})["finalizers"] = finalizers
        updated.update(apiVersion="v1", kind="Namespace")
        try:
            await self.client.update(updated, subresource="finalize", raw=True)
        except Exception as exc:
            if not is_not_found(exc):
                raise  # a conflict is retried with the informer's newer version
