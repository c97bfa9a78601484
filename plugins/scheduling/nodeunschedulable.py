"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods tolerating it."""

from __future__ import annotations

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.query import tolerates_unschedulable
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodeUnschedulable", "REASON", "orchestra_scheduler_plugins"]

REASON = "node(s) were unschedulable"


class NodeUnschedulable(Plugin):
    """Filter (kernel): reject unschedulable nodes unless the pod tolerates
    ``node.kubernetes.io/unschedulable:NoSchedule``."""

    NAME = "NodeUnschedulable"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_UNSCHEDULABLE

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> None:
        """Record whether the pod tolerates the unschedulable taint (moot while no node is
        cordoned: the kernel then skips this filter)."""
        state.query.tolerates_unschedulable = snapshot.table.n_unschedulable > 0 and tolerates_unschedulable(pod)

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple:
        """The pod's tolerations decide whether it tolerates a cordoned node."""
        return pod.tolerations

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """Rejection status: preemption cannot help."""
        return Status.unschedulable(REASON, resolvable=False, plugin=self.NAME)


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodeUnschedulable`."""
    return [NodeUnschedulable]
