"""InterPodAffinity: pod affinity and anti-affinity, required (filter) and preferred (score)."""

from __future__ import annotations

from array import array
from typing import Any, Mapping

from orchestra._ext import sched
from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SKIP, CycleState, NodeBatch, Plugin, ProfileError, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.query import topology_domains
from orchestra.scheduler.snapshot import OWNER_KINDS, ClusterSnapshot

__all__ = [
    "InterPodAffinity", "REASON_AFFINITY", "REASON_ANTI_AFFINITY", "REASON_EXISTING_ANTI_AFFINITY",
    "orchestra_scheduler_plugins",
]

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


class InterPodAffinity(Plugin):
    """Filter (kernel), in Kubernetes' order:

    1. required affinity: every term's domain on the node holds a pod matching all terms
       (unless no such pod exists anywhere and the pod matches its own terms);
    2. required anti-affinity: no pod matching a term in the node's domain;
    3. symmetry: no existing pod whose required anti-affinity matches this pod shares a domain.

    Score: Σ preferred weights of matching pods per domain (negative for anti-affinity),
    plus existing pods' terms matching this pod (required affinity × hardPodAffinityWeight),
    min-max normalized.
    """

    NAME = "InterPodAffinity"
    SIGNED_PREPARATION = True
    KERNEL_FILTER = sched.K_INTERPOD
    TRUSTED_SCORES = True
    DEFAULT_ARGS = {"hardPodAffinityWeight": 1, "ignorePreferredTermsOfExistingPods": False}

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """hardPodAffinityWeight must be 0..100."""
        merged = super().validate_args(args)
        w = merged["hardPodAffinityWeight"]
        if not isinstance(w, int) or not 0 <= w <= 100:
            raise ProfileError(f"plugin {cls.NAME}: hardPodAffinityWeight must be an integer 0..100, not {w!r}")
        return merged

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: ClusterSnapshot) -> Status | None:
        """Per-domain totals for each required term and for existing pods' anti-affinity; skip when
        the pod has no required term and no placed pod carries a required anti-affinity term."""
        if not pod.affinity_required and not pod.anti_required and not snapshot.any_owner("anti_required"):
            return SKIP
        q = state.query
        n_values = len(snapshot.values)
        lookup = snapshot.namespace_labels
        used = False
        for term, carriers in snapshot.owners("anti_required").items():
            if term.matches(pod, lookup):
                kid = snapshot.intern_key(term.topology_key)
                q.add_existing_anti_affinity(kid, sched.domain_sums(*topology_domains(snapshot, kid), carriers, n_values)[0])
                used = True
        if pod.affinity_required:
            counts = snapshot.pod_counts(pod.affinity_required)
            anywhere = 0
            for term in pod.affinity_required:
                kid = snapshot.intern_key(term.topology_key)
                totals, _, _, grand = sched.domain_sums(*topology_domains(snapshot, kid), counts, n_values)
                anywhere += grand
                q.add_affinity(kid, totals)
            q.affinity_bypass = anywhere == 0 and _all_match(pod.affinity_required, pod, lookup)
            used = True
        for term in pod.anti_required:
            kid = snapshot.intern_key(term.topology_key)
            q.add_anti_affinity(kid, sched.domain_sums(*topology_domains(snapshot, kid), snapshot.pod_counts((term,)), n_values)[0])
            used = True
        return None if used else SKIP

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> tuple | None:
        """None while the pod or any placed pod carries an affinity term (placing a pod changes
        counts every node of its domain reads, and scores are normalized over the candidates);
        nothing to sign otherwise."""
        return None if pod.has_inter_pod_terms or snapshot.any_owner(*OWNER_KINDS) else ()

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """The failed rule; an unmet affinity cannot be fixed by preemption."""
        if detail == 0:
            return Status.unschedulable(REASON_AFFINITY, resolvable=False, plugin=self.NAME)
        if detail == 1:
            return Status.unschedulable(REASON_ANTI_AFFINITY, plugin=self.NAME)
        return Status.unschedulable(REASON_EXISTING_ANTI_AFFINITY, plugin=self.NAME)

    def score_batch(self, state: CycleState, pod: PodInfo, batch: NodeBatch) -> array | None:
        """Normalized preference scores; None (skip) when no term applies."""
        snapshot = batch.snapshot
        if not pod.affinity_preferred and not pod.anti_preferred and (
                self.args["ignorePreferredTermsOfExistingPods"]
                or not snapshot.any_owner("affinity_required", "affinity_preferred", "anti_preferred")):
            return None
        lookup = snapshot.namespace_labels
        terms: list[tuple[Any, array, int]] = []  # (term, per-slot counts of the pods it counts, weight)
        for wt in pod.affinity_preferred:
            terms.append((wt.term, snapshot.pod_counts((wt.term,)), wt.weight))
        for wt in pod.anti_preferred:
            terms.append((wt.term, snapshot.pod_counts((wt.term,)), -wt.weight))
        if not self.args["ignorePreferredTermsOfExistingPods"] or pod.affinity_preferred or pod.anti_preferred:
            hard = self.args["hardPodAffinityWeight"]
            if hard > 0:
                for term, carriers in snapshot.owners("affinity_required").items():
                    if term.matches(pod, lookup):
                        terms.append((term, carriers, hard))
            for wt, carriers in snapshot.owners("affinity_preferred").items():
                if wt.term.matches(pod, lookup):
                    terms.append((wt.term, carriers, wt.weight))
            for wt, carriers in snapshot.owners("anti_preferred").items():
                if wt.term.matches(pod, lookup):
                    terms.append((wt.term, carriers, -wt.weight))
        if not terms:
            return None
        keys, totals = _domain_totals(snapshot, terms)
        out = array("q", bytes(8 * batch.size))
        sched.score_interpod(snapshot.table, batch.slots, keys, totals, array("q", [w for _, _, w in terms]), out)
        sched.normalize_min_max(out)
        return out


# Comprehensions live in these helpers: one over a method's local would make that local a cell,
# created on every call, and the methods above run every scheduling cycle.


def _all_match(terms: tuple, pod: PodInfo, lookup: Any) -> bool:
    """Whether ``pod`` matches every one of ``terms``."""
    return all(t.matches(pod, lookup) for t in terms)


def _domain_totals(snapshot: ClusterSnapshot, terms: list[tuple[Any, array, int]]) -> tuple[list[int], list[array]]:
    """Per term: its topology key's id and the per-domain sums of its per-slot counts."""
    n_values = len(snapshot.values)
    keys = [snapshot.intern_key(term.topology_key) for term, _, _ in terms]
    totals = [sched.domain_sums(*topology_domains(snapshot, kid), counts, n_values)[0]
              for kid, (_, counts, _) in zip(keys, terms)]
    return keys, totals


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`InterPodAffinity`."""
    return [InterPodAffinity]
