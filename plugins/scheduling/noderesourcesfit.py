"""NodeResourcesFit: the node must have room for the pod's requests; scoring strategies
LeastAllocated (default), MostAllocated and RequestedToCapacityRatio."""

from __future__ import annotations

from array import array
from typing import Any, Mapping

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, NodeBatch, Plugin, PluginProfile, ProfileError, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["NodeResourcesFit", "STRATEGIES", "orchestra_scheduler_plugins"]

STRATEGIES = {"LeastAllocated": 0, "MostAllocated": 1, "RequestedToCapacityRatio": 2}
SCORED_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_BITS = ((8, "Too many pods"), (1, "Insufficient cpu"), (2, "Insufficient memory"), (4, "Insufficient ephemeral-storage"))
#: kernel_status's answers by (detail, plugin name): at most one per combination of _BITS.
_KERNEL_STATUSES: dict[tuple[int, str], Status] = {}
_DEFAULT_SHAPE = ({"utilization": 0, "score": 10}, {"utilization": 100, "score": 0})


def _resources(items: Any, where: str) -> list[tuple[str, int]]:
    out = []
    for i, r in enumerate(items or ()):
        name, weight = (r or {}).get("name"), (r or {}).get("weight", 1)
        if name not in SCORED_RESOURCES:
            raise ProfileError(f"{where}[{i}].name: {name!r} cannot be scored; use one of {', '.join(SCORED_RESOURCES)}")
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            raise ProfileError(f"{where}[{i}].weight: must be an integer 1..100, not {weight!r}")
        out.append((name, weight))
    return out


class NodeResourcesFit(Plugin):
    """Filter (kernel): requests fit in allocatable minus requested; extended resources in Python.

    Score: ``scoringStrategy.type`` over ``scoringStrategy.resources`` (cpu and memory with
    weight 1 by default), with non-zero default requests for cpu and memory.
    """

    NAME = "NodeResourcesFit"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_RESOURCES
    TRUSTED_SCORES = True
    DEFAULT_ARGS = {
        "scoringStrategy": {"type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]},
    }

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Check the scoring strategy, its resources and the ratio shape."""
        merged = super().validate_args(args)
        strategy = dict(merged["scoringStrategy"] or {})
        where = f"plugin {cls.NAME}: scoringStrategy"
        kind = strategy.get("type") or "LeastAllocated"
        if kind not in STRATEGIES:
            raise ProfileError(f"{where}.type: {kind!r} is not one of {', '.join(STRATEGIES)}")
        resources = _resources(strategy.get("resources") or cls.DEFAULT_ARGS["scoringStrategy"]["resources"], f"{where}.resources")
        shape = (strategy.get("requestedToCapacityRatio") or {}).get("shape") or _DEFAULT_SHAPE
        util, score = [], []
        for i, p in enumerate(shape):
            u, s = p.get("utilization"), p.get("score")
            if not isinstance(u, int) or not 0 <= u <= 100 or (util and u <= util[-1]):
                raise ProfileError(f"{where}.requestedToCapacityRatio.shape[{i}].utilization: must increase within 0..100")
            if not isinstance(s, int) or not 0 <= s <= 10:
                raise ProfileError(f"{where}.requestedToCapacityRatio.shape[{i}].score: must be an integer 0..10")
            util.append(u)
            score.append(s * 10)
        weights = dict(resources)
        merged["_kernel"] = (
            STRATEGIES[kind],
            array("q", [weights.get(r, 0) for r in SCORED_RESOURCES]),
            array("q", util),
            array("q", score),
        )
        return merged

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> None:
        """Requests are compiled by the framework for every pod; without extended resources the
        kernel's check is the whole filter (the Python part is not run)."""
        if not pod.scalar_requests:
            state.kernel_only.add(self.NAME)
        return None

    def filter_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> list | None:
        """Extended resources (rare): checked in Python; None when the pod asks for none."""
        if not pod.scalar_requests:
            return None
        snapshot = batch.snapshot
        out: list[Any] = []
        for slot in batch.slots:
            node = snapshot.node(slot)
            reasons = []
            for name, want in sorted(pod.scalar_requests.items()):
                used = sum(p.scalar_requests.get(name, 0) for p in snapshot.pods_on(slot))
                if want > node.scalar_allocatable.get(name, 0) - used:
                    reasons.append(f"Insufficient {name}")
            out.append(Status.unschedulable(*reasons, plugin=self.NAME) if reasons else True)
        return out

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple:
        """The pod's requests (and the non-zero requests scores use)."""
        scalar = pod.scalar_requests
        return pod.requests, pod.non_zero, tuple(sorted(scalar.items())) if scalar else ()

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """One reason per short resource (made once per combination: every failed cycle asks)."""
        key = (detail, self.NAME)
        status = _KERNEL_STATUSES.get(key)
        if status is None:
            status = _KERNEL_STATUSES[key] = Status.unschedulable(*(r for bit, r in _BITS if detail & bit),
                                                                  plugin=self.NAME)
        return status

    def fuse_score(self, plan: sched.ScorePlan, weight: int, profile: PluginProfile) -> int:
        """Join the framework's fused score pass (requests come from the pod's query)."""
        strategy, weights, util, score = self.args["_kernel"]
        plan.add_resources(weight, strategy, weights, util, score)
        return sched.S_RESOURCES

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array:
        """The strategy's score for every candidate."""
        strategy, weights, util, score = self.args["_kernel"]
        out = array("q", bytes(8 * batch.size))
        sched.score_resources(batch.snapshot.table, state.query, batch.slots, out, strategy, weights, util, score)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`NodeResourcesFit`."""
    return [NodeResourcesFit]
