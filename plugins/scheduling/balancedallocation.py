"""NodeResourcesBalancedAllocation: prefer nodes whose resource fractions stay balanced."""

from __future__ import annotations

from array import array
from typing import Any, Mapping

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, NodeBatch, Plugin, PluginProfile, ProfileError
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodeResourcesBalancedAllocation", "orchestra_scheduler_plugins"]

_INDEX = {"cpu": 0, "memory": 1, "ephemeral-storage": 2}


class NodeResourcesBalancedAllocation(Plugin):
    """Score: 100 × (1 − standard deviation of requested/allocatable over ``resources``),
    counting the pod's own requests (two resources: |f1 − f2| / 2). Pods requesting none
    of the resources are not scored (Kubernetes skips best-effort pods)."""

    NAME = "NodeResourcesBalancedAllocation"
    TRUSTED_SCORES = True
    DEFAULT_ARGS = {"resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Check the resources (cpu, memory, ephemeral-storage)."""
        merged = super().validate_args(args)
        idx = []
        for i, r in enumerate(merged["resources"] or ()):
            name = (r or {}).get("name")
            if name not in _INDEX:
                raise ProfileError(f"plugin {cls.NAME}: resources[{i}].name: {name!r} is not one of {', '.join(_INDEX)}")
            if _INDEX[name] in idx:
                raise ProfileError(f"plugin {cls.NAME}: resources[{i}].name: {name!r} is listed twice")
            idx.append(_INDEX[name])
        merged["_kernel"] = array("q", idx)
        return merged

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple:
        """The pod's requests."""
        return pod.requests

    def fuse_score(self, plan: sched.ScorePlan, weight: int, profile: PluginProfile) -> int:
        """Join the framework's fused score pass (which skips pods requesting none of the resources)."""
        plan.add_balanced(weight, self.args["_kernel"])
        return sched.S_BALANCED

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array | None:
        """The balance score of every candidate; None (skip) for a pod requesting none of the
        resources, as Kubernetes skips best-effort pods."""
        if not any(pod.requests[r] for r in self.args["_kernel"]):
            return None
        out = array("q", bytes(8 * batch.size))
        sched.score_balanced(batch.snapshot.table, state.query, batch.slots, out, self.args["_kernel"])
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodeResourcesBalancedAllocation`."""
    return [NodeResourcesBalancedAllocation]
