"""NodeName: a pod naming a node in ``spec.nodeName`` fits only that node."""

from __future__ import annotations

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodeName", "REASON", "orchestra_scheduler_plugins"]

REASON = "node(s) didn't match the requested node name"
_NO_NODE = 1 << 30


class NodeName(Plugin):
    """Filter (kernel): only the node named by ``spec.nodeName`` passes."""

    NAME = "NodeName"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_NODE_NAME

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> Status | None:
        """Compile the wanted node; skip the filter when the pod names none."""
        if not pod.node_name:
            return SKIP
        slot = snapshot.slot_of(pod.node_name)
        state.query.only_node = slot if slot >= 0 else _NO_NODE
        return None

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> str:
        """The pod's ``spec.nodeName``."""
        return pod.node_name

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """Rejection status: preemption cannot help."""
        return Status.unschedulable(REASON, resolvable=False, plugin=self.NAME)


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodeName`."""
    return [NodeName]
