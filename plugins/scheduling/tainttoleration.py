"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; fewer intolerable
PreferNoSchedule taints score higher."""

from __future__ import annotations

from array import array

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, NodeBatch, Plugin, PluginProfile, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.query import tolerated_masks
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["TaintToleration", "orchestra_scheduler_plugins"]


class TaintToleration(Plugin):
    """Filter (kernel): the first untolerated NoSchedule/NoExecute taint rejects the node.
    Score: count of untolerated PreferNoSchedule taints, reversed and normalized."""

    NAME = "TaintToleration"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_TAINTS
    TRUSTED_SCORES = True

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> None:
        """Compile which of the cluster's taints the pod tolerates (nothing to compile without
        tolerations or without any taint in the cluster: a new query tolerates no taint)."""
        if pod.tolerations and snapshot.taints.items:
            hard, soft = tolerated_masks(snapshot, pod)
            state.query.set_tolerated(hard, soft)

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple | None:
        """The pod's tolerations; None while a node has a PreferNoSchedule taint (the score is
        then normalized over the candidates)."""
        return None if snapshot.table.n_soft_tainted else pod.tolerations

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """``node(s) had untolerated taint {key: value}``; preemption cannot help."""
        taint = snapshot.taints.items[detail]
        return Status.unschedulable(f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}", resolvable=False, plugin=self.NAME)

    def fuse_score(self, plan: sched.ScorePlan, weight: int, profile: PluginProfile) -> int:
        """Join the framework's fused score pass, which reads the tolerations :meth:`pre_filter`
        compiled; not when this plugin's pre-filter is disabled."""
        if self not in profile.points["preFilter"]:
            return 0
        plan.add_taints(weight)
        return sched.S_TAINTS

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array:
        """Reverse-normalized intolerable PreferNoSchedule counts."""
        hard, soft = tolerated_masks(batch.snapshot, pod)
        state.query.set_tolerated(hard, soft)
        out = array("q", bytes(8 * batch.size))
        sched.score_taints(batch.snapshot.table, state.query, batch.slots, out)
        sched.normalize_default(out, True)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`TaintToleration`."""
    return [TaintToleration]
