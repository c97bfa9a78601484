"""NodeAffinity: nodeSelector and required node affinity filter; preferred terms score."""

from __future__ import annotations

from array import array

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, NodeBatch, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.query import preferred_matchers, required_matcher
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodeAffinity", "REASON", "orchestra_scheduler_plugins"]

REASON = "node(s) didn't match Pod's node affinity/selector"


class NodeAffinity(Plugin):
    """Filter (kernel): nodeSelector AND any required term. Score: sum of the weights of
    matching preferred terms, normalized to 0-100 by the best node."""

    NAME = "NodeAffinity"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_NODE_AFFINITY
    TRUSTED_SCORES = True

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> Status | None:
        """Compile the pod's selector and required terms; skip when it has neither."""
        matcher = required_matcher(snapshot, pod)
        if matcher is None:
            return SKIP
        matcher.prepare(snapshot.table)
        state.query.required = matcher
        return None

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple | None:
        """The pod's nodeSelector and required terms; None with preferred terms (their score is
        normalized over the candidates)."""
        return None if pod.preferred_node_terms else (pod.node_selector, pod.required_node_terms)

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """Rejection status: preemption cannot help."""
        return Status.unschedulable(REASON, resolvable=False, plugin=self.NAME)

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array | None:
        """Preferred-term weights per candidate, normalized; None (skip) without preferred terms."""
        if not pod.preferred_node_terms:
            return None
        matchers, weights = preferred_matchers(batch.snapshot, pod)
        out = array("q", bytes(8 * batch.size))
        sched.score_node_affinity(batch.snapshot.table, matchers, array("q", weights), batch.slots, out)
        sched.normalize_default(out, False)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodeAffinity`."""
    return [NodeAffinity]
