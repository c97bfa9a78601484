"""DefaultPreemption: when no node fits, find the node where evicting the fewest, least
important lower-priority pods makes room, and nominate it.

PodDisruptionBudgets are not considered (every victim counts as non-violating).
"""

from __future__ import annotations

from array import array
from typing import Any, Callable, Mapping

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import (
    Code, CycleState, Diagnosis, FitError, Plugin, PostFilterResult, ProfileError, Status,
)
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot, PlacedPod

__all__ = ["DefaultPreemption", "NO_VICTIMS", "NOT_HELPFUL", "orchestra_scheduler_plugins"]

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
_INT32_OFFSET = 1 << 31


def _importance(p: PlacedPod) -> tuple[int, int]:
    return (-p.info.priority, p.info.start_micros)


def _narrow(cands: list, measure: Callable[[Any], Any], best: Callable[[list], Any]) -> list:
    if len(cands) == 1:
        return cands
    measures = [measure(c) for c in cands]
    target = best(measures)
    return [c for c, m in zip(cands, measures) if m == target]


class DefaultPreemption(Plugin):
    """Post-filter: dry-run eviction on nodes rejected for resolvable reasons.

    When only NodeResourcesFit can change as pods leave a node (:meth:`_resources_only`,
    the common case), the dry runs and the choice run in the kernel over its resource
    and per-node pod columns; otherwise every filter is re-run per node in Python.

    On each such node (searched from a random offset, stopping after
    max(minCandidateNodesAbsolute, nodes × minCandidateNodesPercentage %) candidates) every
    lower-priority pod is removed; if the pod then fits, the removed pods are put back most
    important first (higher priority, then earlier start) as long as the pod still fits —
    the rest are the victims. Among candidates the winner has the lowest highest-victim
    priority, then the lowest sum of priorities, then the fewest victims, then the latest
    start among its highest-priority victims.
    """

    NAME = "DefaultPreemption"
    DEFAULT_ARGS = {"minCandidateNodesPercentage": 10, "minCandidateNodesAbsolute": 100}
    #: :meth:`_profile_allows_arithmetic` of this plugin's framework, once worked out.
    _arithmetic_profile: bool | None = None

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Percentage 0..100, absolute ≥ 0, not both 0."""
        merged = super().validate_args(args)
        pct, absolute = merged["minCandidateNodesPercentage"], merged["minCandidateNodesAbsolute"]
        if not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ProfileError(f"plugin {cls.NAME}: minCandidateNodesPercentage must be an integer 0..100, not {pct!r}")
        if not isinstance(absolute, int) or absolute < 0:
            raise ProfileError(f"plugin {cls.NAME}: minCandidateNodesAbsolute must be a non-negative integer, not {absolute!r}")
        if pct == 0 and absolute == 0:
            raise ProfileError(f"plugin {cls.NAME}: minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be 0")
        return merged

    def post_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot,
                    diagnosis: Diagnosis) -> tuple[PostFilterResult | None, Status]:
        """Nominate a node and list the victims, or explain why preemption cannot help."""
        if pod.preemption_policy == "Never":
            return None, Status.unschedulable("preemption: not eligible due to preemptionPolicy=Never.", plugin=self.NAME)
        framework = self.handle.framework
        potential = diagnosis.slots_with(Code.UNSCHEDULABLE)
        statuses: dict[int, Status] = {}
        chosen: tuple[int, list[PlacedPod]] | None = None
        if potential:
            want = max(snapshot.num_nodes * self.args["minCandidateNodesPercentage"] // 100,
                       self.args["minCandidateNodesAbsolute"])
            want = min(want, len(potential))
            offset = self.handle.rng.randrange(len(potential))
            if self._resources_only(pod, snapshot):
                chosen = self._select_in_kernel(framework, pod, snapshot, potential, offset, want, statuses)
            else:
                chosen = self._select(framework, pod, snapshot, potential, offset, want, statuses)
        if chosen is None:
            reasons: dict[str, int] = {}
            for s in snapshot.slots():
                st = statuses.get(s) or Status.unschedulable(NOT_HELPFUL, resolvable=False)
                for r in st.reasons:
                    reasons[r] = reasons.get(r, 0) + 1
            return None, Status.unschedulable("preemption: " + FitError(pod, snapshot.num_nodes, reasons).message(), plugin=self.NAME)
        slot, victims = chosen
        return PostFilterResult(snapshot.node(slot).name, tuple(v.info for v in victims)), Status()

    def _select(self, framework: Any, pod: PodInfo, snapshot: ClusterSnapshot, potential: array, offset: int,
                want: int, statuses: dict[int, Status]) -> tuple[int, list[PlacedPod]] | None:
        """The general dry run (every filter re-run per node), then :meth:`_pick`; None without a candidate."""
        candidates: list[tuple[int, list[PlacedPod]]] = []
        for k in range(len(potential)):
            slot = potential[(offset + k) % len(potential)]
            found = self._victims(framework, pod, snapshot, slot)
            if isinstance(found, Status):
                statuses[slot] = found
                continue
            candidates.append((slot, found))
            if len(candidates) >= want:
                break
        return self._pick(candidates) if candidates else None

    def _select_in_kernel(self, framework: Any, pod: PodInfo, snapshot: ClusterSnapshot, slots: array,
                          offset: int, want: int, statuses: dict[int, Status]) -> tuple[int, list[PlacedPod]] | None:
        """The same dry run and choice as :meth:`_select`, on the kernel's resource columns
        (:func:`orchestra._ext.sched.select_victims`); valid when :meth:`_resources_only`."""
        outcome = array("i", bytes(4 * len(slots)))
        cpu, memory, ephemeral = pod.requests
        _, slot, ids = sched.select_victims(snapshot.table, slots, offset, want, pod.priority, cpu, memory, ephemeral, outcome)
        if slot >= 0:
            return slot, [snapshot.pod_by_id(i) for i in ids]
        resources = framework.kernel_plugin(sched.K_RESOURCES)
        no_victims = Status.unschedulable(NO_VICTIMS, resolvable=False, plugin=self.NAME)
        for s, bits in zip(slots, outcome):
            statuses[s] = no_victims if bits < 0 else resources.kernel_status(bits, snapshot)
        return None

    def _victims(self, framework: Any, pod: PodInfo, snapshot: ClusterSnapshot, slot: int) -> list[PlacedPod] | Status:
        lower = [snapshot.pod(p.key) for p in snapshot.pods_on(slot) if p.priority < pod.priority]
        if not lower:
            return Status.unschedulable(NO_VICTIMS, resolvable=False, plugin=self.NAME)
        removed = [p for p in lower if p is not None]
        for placed in removed:
            snapshot.remove_pod(placed.info.key)
        try:
            status = framework.check_node(pod, snapshot, slot)
            if not status.is_success:
                return status
            victims = []
            for placed in sorted(removed, key=_importance):
                snapshot.restore(placed)
                if not framework.check_node(pod, snapshot, slot).is_success:
                    snapshot.remove_pod(placed.info.key)
                    victims.append(placed)
            return victims
        finally:
            for placed in removed:
                if snapshot.pod(placed.info.key) is None:
                    snapshot.restore(placed)

    def _resources_only(self, pod: PodInfo, snapshot: ClusterSnapshot) -> bool:
        """Whether only NodeResourcesFit can change when pods leave a node, so dry runs can be arithmetic.

        True when the pod has no host ports, hard spread constraints, required pod
        (anti-)affinity or extended resources, no placed pod has required anti-affinity,
        and the profile's filters allow it (:meth:`_profile_allows_arithmetic`).
        """
        if pod.host_ports or pod.affinity_required or pod.anti_required or pod.scalar_requests:
            return False
        if any(c.hard for c in pod.spread) or snapshot.any_owner("anti_required"):
            return False
        allowed = self._arithmetic_profile
        if allowed is None:
            allowed = self._arithmetic_profile = self._profile_allows_arithmetic(self.handle.framework)
        return allowed

    @staticmethod
    def _profile_allows_arithmetic(framework: Any) -> bool:
        """Whether the profile's filters leave resources as the only thing a dry run must re-check
        (fixed with the profile, so worked out once): NodeResourcesFit is a kernel filter, every
        kernel filter after it is one such a pod skips, and no Python filter is enabled."""
        kinds = [p.KERNEL_FILTER for p in framework.plugins("filter") if p.KERNEL_FILTER]
        if sched.K_RESOURCES not in kinds:
            return False
        # a node rejected for resources passed every filter before NodeResourcesFit; the ones
        # after it must be filters this pod skips
        after = kinds[kinds.index(sched.K_RESOURCES) + 1:]
        if any(k not in (sched.K_PORTS, sched.K_SPREAD, sched.K_INTERPOD) for k in after):
            return False
        return all(p.NAME == "NodeResourcesFit" for p in framework.plugins("filter") if not p.KERNEL_FILTER)

    @staticmethod
    def _pick(candidates: list[tuple[int, list[PlacedPod]]]) -> tuple[int, list[PlacedPod]]:
        for c in candidates:
            if not c[1]:
                return c
        cands = _narrow(candidates, lambda c: max(v.info.priority for v in c[1]), min)
        cands = _narrow(cands, lambda c: sum(v.info.priority + _INT32_OFFSET for v in c[1]), min)
        cands = _narrow(cands, lambda c: len(c[1]), min)

        def earliest_of_highest(c: tuple[int, list[PlacedPod]]) -> int:
            top = max(v.info.priority for v in c[1])
            return min(v.info.start_micros for v in c[1] if v.info.priority == top)

        cands = _narrow(cands, earliest_of_highest, max)
        return cands[0]


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`DefaultPreemption`."""
    return [DefaultPreemption]
