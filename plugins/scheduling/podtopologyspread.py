"""PodTopologySpread: spread matching pods evenly over topology domains (hard and soft)."""

from __future__ import annotations

from array import array
from typing import Any, Mapping

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, NodeBatch, Plugin, ProfileError, Status
from orchestra.scheduler.podinfo import AffinityTerm, PodInfo, SpreadConstraint
from orchestra.scheduler.query import spread_domains
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = ["HOSTNAME_KEY", "PodTopologySpread", "REASON", "REASON_MISSING_LABEL", "orchestra_scheduler_plugins"]

REASON = "node(s) didn't match pod topology spread constraints"
REASON_MISSING_LABEL = REASON + " (missing required label)"
HOSTNAME_KEY = "kubernetes.io/hostname"


def _key_ids(snapshot: ClusterSnapshot, constraints: list[SpreadConstraint]) -> list[int]:
    """The constraints' topology keys' ids (a helper: the comprehension would make ``snapshot`` a
    cell of the hooks, created on every call)."""
    return [snapshot.intern_key(c.topology_key) for c in constraints]


def _counts(snapshot: ClusterSnapshot, pod: PodInfo, c: SpreadConstraint) -> array:
    return snapshot.pod_counts((AffinityTerm(c.selector, "", frozenset([pod.namespace])),), skip_terminating=True)


class PodTopologySpread(Plugin):
    """Filter (kernel): for each DoNotSchedule constraint, matching pods in the node's domain
    + 1 (if the pod matches its own selector) − the global minimum must not exceed maxSkew;
    the minimum is 0 while fewer than minDomains domains exist. Domains count only nodes
    passing the constraint's node inclusion policies and carrying every constraint's key.

    Pods being deleted are not counted. Score: for ScheduleAnyway constraints, Kubernetes' weighted counts
    (count × log(domains + 2) + maxSkew − 1), fewer matching pods scoring higher.
    Cluster-level default constraints are not supported (``defaultConstraints`` must be empty).
    """

    NAME = "PodTopologySpread"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_SPREAD
    TRUSTED_SCORES = True
    DEFAULT_ARGS = {"defaultConstraints": [], "defaultingType": "List"}

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Only List defaulting with no default constraints is supported."""
        merged = super().validate_args(args)
        if merged["defaultingType"] not in ("List", "System"):
            raise ProfileError(f"plugin {cls.NAME}: defaultingType must be List or System, not {merged['defaultingType']!r}")
        if merged["defaultConstraints"] or merged["defaultingType"] == "System":
            raise ProfileError(f"plugin {cls.NAME}: default constraints need workload selectors, which this scheduler does not derive; use defaultingType List with no defaultConstraints")
        return merged

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> Status | None:
        """Per hard constraint: per-domain totals and the global minimum; skip when none."""
        if not pod.spread:
            return SKIP
        hard = [c for c in pod.spread if c.hard]
        if not hard:
            return SKIP
        key_ids = _key_ids(snapshot, hard)
        n_values = len(snapshot.values)
        for c, kid in zip(hard, key_ids):
            groups = spread_domains(snapshot, pod, c.honor_node_affinity, c.honor_node_taints, key_ids, kid)
            totals, domains, lowest, _ = sched.domain_sums(*groups, _counts(snapshot, pod, c), n_values)
            if domains < c.min_domains:
                lowest = 0
            state.query.add_spread(kid, c.max_skew, lowest, c.selector.matches(pod.labels), totals)
        return None

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple | None:
        """None for a pod with spread constraints (placing one pod changes its domain's counts,
        which every node of the domain reads); nothing to sign without."""
        return None if pod.spread else ()

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """Skew too large (preemption may help) or the node lacks a topology key (it cannot)."""
        if detail == 1:
            return Status.unschedulable(REASON_MISSING_LABEL, resolvable=False, plugin=self.NAME)
        return Status.unschedulable(REASON, plugin=self.NAME)

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array | None:
        """Normalized spreading scores; None (skip) without ScheduleAnyway constraints."""
        if not pod.spread:
            return None
        soft = [c for c in pod.spread if not c.hard]
        if not soft:
            return None
        snapshot = batch.snapshot
        table = snapshot.table
        key_ids = _key_ids(snapshot, soft)
        n_values = len(snapshot.values)
        totals, per_node = [], []
        for c, kid in zip(soft, key_ids):
            counts = _counts(snapshot, pod, c)
            per_node.append(counts)
            if c.topology_key == HOSTNAME_KEY:
                totals.append(None)
            else:
                groups = spread_domains(snapshot, pod, c.honor_node_affinity, c.honor_node_taints, key_ids, kid)
                totals.append(sched.domain_sums(*groups, counts, n_values)[0])
        out = array("q", bytes(8 * batch.size))
        sched.score_spread(table, batch.slots, key_ids, totals, per_node, array("q", [c.max_skew for c in soft]), out)
        return out


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`PodTopologySpread`."""
    return [PodTopologySpread]
