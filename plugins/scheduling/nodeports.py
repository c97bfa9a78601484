"""NodePorts: a pod's host ports must be free on the node."""

from __future__ import annotations

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodePorts", "REASON", "orchestra_scheduler_plugins"]

REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts(Plugin):
    """Filter (kernel): same protocol and port with overlapping host IPs (0.0.0.0 overlaps all) conflict."""

    NAME = "NodePorts"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_PORTS

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> Status | None:
        """Compile the pod's host ports; skip when it has none."""
        if not pod.host_ports:
            return SKIP
        state.query.set_ports(_port_codes(snapshot, pod))
        return None

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple:
        """The pod's host ports."""
        return pod.host_ports

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """Rejection status: preemption may free the ports."""
        return Status.unschedulable(REASON, plugin=self.NAME)


def _port_codes(snapshot: ClusterSnapshot, pod: PodInfo) -> list[int]:
    """The pod's host ports encoded for the kernel (a helper: the comprehension would make
    ``snapshot`` a cell of the pre-filter, created on every call)."""
    return [snapshot.port_code(p.protocol, p.host_ip, p.port) for p in pod.host_ports]


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodePorts`."""
    return [NodePorts]
