"""The built-in plugins in plain Python: obviously correct, slow.

Everything is recomputed from the node and pod lists on every call — no snapshot, no
interning, no trackers, no kernel. Wire dicts are read through :class:`PodInfo` /
:class:`NodeInfo` (the same field reading as the fast path); every filter and score is
evaluated here independently, following kube-scheduler's plugins. Property tests compare
the Cython path against it, and the benchmark reports the speed ratio.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from orchestra.scheduler.podinfo import NodeInfo, PodInfo

__all__ = ["DEFAULT_WEIGHTS", "FILTER_ORDER", "UNRESOLVABLE_REASONS", "ReferenceScheduler"]

#: Kubernetes' default score weights.
DEFAULT_WEIGHTS = {
    "TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2,
    "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1,
}
#: Filters in the default profile's order.
FILTER_ORDER = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity")
#: Filter reasons preemption cannot resolve (Kubernetes' UnschedulableAndUnresolvable).
UNRESOLVABLE_REASONS = (
    "node(s) were unschedulable", "node(s) didn't match the requested node name", "node(s) had untolerated taint",
    "node(s) didn't match Pod's node affinity/selector", "node(s) didn't match pod affinity rules",
    "node(s) didn't match pod topology spread constraints (missing required label)",
)
HOSTNAME = "kubernetes.io/hostname"
MB = 1024 * 1024

Placed = tuple[PodInfo, str]


def _info(x: Any, cls: type) -> Any:
    return x if isinstance(x, cls) else cls.from_dict(x)


class ReferenceScheduler:
    """The default profile's filters and scores over plain lists.

    :param strategy: NodeResourcesFit scoring (``LeastAllocated``, ``MostAllocated`` or
        ``RequestedToCapacityRatio`` with ``shape`` as ``[(utilization, score 0-10)]``).
    """

    def __init__(self, strategy: str = "LeastAllocated", shape: Sequence[tuple[int, int]] = ((0, 10), (100, 0)),
                 weights: Mapping[str, int] | None = None, hard_pod_affinity_weight: int = 1) -> None:
        self.strategy = strategy
        self.shape = [(u, s * 10) for u, s in shape]
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.hard_weight = hard_pod_affinity_weight

    # ------------------------------------------------------------------ entry points

    def schedule(self, pod: Any, nodes: Iterable[Any], pods: Iterable[tuple[Any, str]]) -> tuple[str | None, dict[str, int]]:
        """The best node (first in node order among equal totals) and every feasible node's total."""
        pod = _info(pod, PodInfo)
        nodes = [_info(n, NodeInfo) for n in nodes]
        placed = [(_info(p, PodInfo), n) for p, n in pods]
        feasible = [n for n in nodes if not self.filter_node(pod, n, nodes, placed)]
        if not feasible:
            return None, {}
        totals = self.totals(pod, feasible, nodes, placed)
        best = max(totals.values())
        return next(n.name for n in feasible if totals[n.name] == best), totals

    def reasons(self, pod: Any, nodes: Iterable[Any], pods: Iterable[tuple[Any, str]]) -> dict[str, list[str]]:
        """Per node, the reasons it is rejected (empty when it fits)."""
        pod = _info(pod, PodInfo)
        nodes = [_info(n, NodeInfo) for n in nodes]
        placed = [(_info(p, PodInfo), n) for p, n in pods]
        return {n.name: self.filter_node(pod, n, nodes, placed) for n in nodes}

    def filter_node(self, pod: PodInfo, node: NodeInfo, nodes: list[NodeInfo], placed: list[Placed]) -> list[str]:
        """The first failing filter's reasons for ``node`` (empty list: feasible)."""
        for name in FILTER_ORDER:
            reasons = getattr(self, "filter_" + name)(pod, node, nodes, placed)
            if reasons:
                return reasons
        return []

    def totals(self, pod: PodInfo, feasible: list[NodeInfo], nodes: list[NodeInfo], placed: list[Placed]) -> dict[str, int]:
        """Weighted sum of the normalized scores of every plugin, per feasible node."""
        out = {n.name: 0 for n in feasible}
        for name, weight in self.weights.items():
            scores = getattr(self, "score_" + name)(pod, feasible, nodes, placed)
            for n in feasible:
                out[n.name] += weight * scores[n.name]
        return out

    def preemption_candidates(self, pod: Any, nodes: Iterable[Any], pods: Iterable[tuple[Any, str]]
                              ) -> tuple[dict[str, list[PodInfo]], dict[str, list[str]]]:
        """DefaultPreemption's dry run on every node: ``(victims per candidate node, reasons per other node)``.

        A node rejected only for resolvable reasons is a candidate when the pod fits once
        every lower-priority pod on it is gone; the removed pods are then put back most
        important first (higher priority, earlier start, then their order in ``pods``)
        while the pod still fits, and the rest are its victims, in that order. Other
        nodes get the reasons preemption reports for them.
        """
        pod = _info(pod, PodInfo)
        nodes = [_info(n, NodeInfo) for n in nodes]
        placed = [(_info(p, PodInfo), n) for p, n in pods]
        victims: dict[str, list[PodInfo]] = {}
        reasons: dict[str, list[str]] = {}
        for node in nodes:
            failed = self.filter_node(pod, node, nodes, placed)
            if not failed or any(r.startswith(u) for r in failed for u in UNRESOLVABLE_REASONS):
                reasons[node.name] = ["Preemption is not helpful for scheduling"]
                continue
            lower = [p for p, n in placed if n == node.name and p.priority < pod.priority]
            if not lower:
                reasons[node.name] = ["No preemption victims found for incoming pod"]
                continue
            rest = [(p, n) for p, n in placed if not (n == node.name and p.priority < pod.priority)]
            failed = self.filter_node(pod, node, nodes, rest)
            if failed:
                reasons[node.name] = failed
                continue
            chosen = []
            for p in sorted(lower, key=lambda p: (-p.priority, p.start_micros)):
                rest.append((p, node.name))
                if self.filter_node(pod, node, nodes, rest):
                    rest.pop()
                    chosen.append(p)
            victims[node.name] = chosen
        return victims, reasons

    @staticmethod
    def best_preemption_nodes(candidates: Mapping[str, list[PodInfo]]) -> list[str]:
        """The candidates DefaultPreemption may nominate (all tied for best; it takes the first visited).

        A node without victims if any; else the lowest highest-victim priority, then the
        lowest sum of victim priorities, then the fewest victims, then the latest earliest
        start among the highest-priority victims.
        """
        free = [name for name, v in candidates.items() if not v]
        if free:
            return free

        def rank(victims: list[PodInfo]) -> tuple[int, int, int, int]:
            top = max(v.priority for v in victims)
            earliest = min(v.start_micros for v in victims if v.priority == top)
            return (top, sum(v.priority + (1 << 31) for v in victims), len(victims), -earliest)

        ranks = {name: rank(v) for name, v in candidates.items()}
        best = min(ranks.values(), default=None)
        return [name for name, r in ranks.items() if r == best]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _on(node: NodeInfo, placed: list[Placed]) -> list[PodInfo]:
        return [p for p, n in placed if n == node.name]

    @staticmethod
    def _untolerated(pod: PodInfo, node: NodeInfo, effects: tuple[str, ...]) -> list:
        return [t for t in node.taints if t.effect in effects
                and not any(x.tolerates(t.key, t.value, t.effect) for x in pod.tolerations)]

    @staticmethod
    def _matches(term: Any, pod: PodInfo) -> bool:
        return term.matches(pod)

    # ------------------------------------------------------------------ filters

    def filter_NodeUnschedulable(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """Cordoned node, unless the pod tolerates node.kubernetes.io/unschedulable:NoSchedule."""
        ok = any(t.tolerates("node.kubernetes.io/unschedulable", "", "NoSchedule") for t in pod.tolerations)
        return ["node(s) were unschedulable"] if node.unschedulable and not ok else []

    def filter_NodeName(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """spec.nodeName must name this node."""
        return ["node(s) didn't match the requested node name"] if pod.node_name and pod.node_name != node.name else []

    def filter_TaintToleration(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """The first NoSchedule/NoExecute taint the pod does not tolerate."""
        bad = self._untolerated(pod, node, ("NoSchedule", "NoExecute"))
        return [f"node(s) had untolerated taint {{{bad[0].key}: {bad[0].value}}}"] if bad else []

    def filter_NodeAffinity(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """nodeSelector and required node affinity."""
        return [] if pod.matches_node_affinity(node.labels, node.name) else ["node(s) didn't match Pod's node affinity/selector"]

    def filter_NodePorts(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """Host ports in use on the node."""
        used = [hp for p in self._on(node, placed) for hp in p.host_ports]
        if any(a.conflicts(b) for a in pod.host_ports for b in used):
            return ["node(s) didn't have free ports for the requested pod ports"]
        return []

    def filter_NodeResourcesFit(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """Requests within allocatable minus requested; pod count within the limit."""
        on = self._on(node, placed)
        reasons = []
        if len(on) + 1 > node.allocatable[3]:
            reasons.append("Too many pods")
        for i, name in enumerate(("cpu", "memory", "ephemeral-storage")):
            used = sum(p.requests[i] for p in on)
            if pod.requests[i] > 0 and pod.requests[i] > node.allocatable[i] - used:
                reasons.append(f"Insufficient {name}")
        return reasons

    def _eligible(self, pod: PodInfo, c: Any, keys: list[str], node: NodeInfo) -> bool:
        if any(k not in node.labels for k in keys):
            return False
        if c.honor_node_affinity and not pod.matches_node_affinity(node.labels, node.name):
            return False
        if c.honor_node_taints and self._untolerated(pod, node, ("NoSchedule", "NoExecute")):
            return False
        return True

    def _spread_counts(self, pod: PodInfo, c: Any, keys: list[str], nodes: list[NodeInfo], placed: list[Placed]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in nodes:
            if not self._eligible(pod, c, keys, n):
                continue
            v = n.labels[c.topology_key]
            matching = sum(1 for p in self._on(n, placed)
                           if p.namespace == pod.namespace and not p.terminating and c.selector.matches(p.labels))
            counts[v] = counts.get(v, 0) + matching
        return counts

    def filter_PodTopologySpread(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """Skew of matching pods across domains for DoNotSchedule constraints."""
        hard = [c for c in pod.spread if c.hard]
        keys = [c.topology_key for c in hard]
        for c in hard:
            if c.topology_key not in node.labels:
                return ["node(s) didn't match pod topology spread constraints (missing required label)"]
            counts = self._spread_counts(pod, c, keys, nodes, placed)
            lowest = min(counts.values()) if counts else 0
            if len(counts) < c.min_domains:
                lowest = 0
            own = 1 if c.selector.matches(pod.labels) else 0
            if counts.get(node.labels[c.topology_key], 0) + own - lowest > c.max_skew:
                return ["node(s) didn't match pod topology spread constraints"]
        return []

    def filter_InterPodAffinity(self, pod: PodInfo, node: NodeInfo, nodes: list, placed: list) -> list[str]:
        """Required affinity, required anti-affinity, then existing pods' anti-affinity."""
        where = {n.name: n for n in nodes}
        if pod.affinity_required:
            exists = True
            any_match = False
            for term in pod.affinity_required:
                if term.topology_key not in node.labels:
                    return ["node(s) didn't match pod affinity rules"]
                value = node.labels[term.topology_key]
                count = 0
                for p, n in placed:
                    host = where.get(n)
                    if host is None or term.topology_key not in host.labels:
                        continue
                    if all(t.matches(p) for t in pod.affinity_required):
                        any_match = True
                        if host.labels[term.topology_key] == value:
                            count += 1
                if count <= 0:
                    exists = False
            if not exists and not (not any_match and all(t.matches(pod) for t in pod.affinity_required)):
                return ["node(s) didn't match pod affinity rules"]
        for term in pod.anti_required:
            value = node.labels.get(term.topology_key)
            if value is None:
                continue
            for p, n in placed:
                host = where.get(n)
                if host is not None and host.labels.get(term.topology_key) == value and term.matches(p):
                    return ["node(s) didn't match pod anti-affinity rules"]
        for p, n in placed:
            host = where.get(n)
            if host is None:
                continue
            for term in p.anti_required:
                value = host.labels.get(term.topology_key)
                if value is not None and node.labels.get(term.topology_key) == value and term.matches(pod):
                    return ["node(s) didn't satisfy existing pods anti-affinity rules"]
        return []

    # ------------------------------------------------------------------ scores

    @staticmethod
    def _normalize(raw: dict[str, int], reverse: bool) -> dict[str, int]:
        top = max(raw.values(), default=0)
        if top == 0:
            return {k: (100 if reverse else 0) for k in raw}
        return {k: (100 - 100 * v // top) if reverse else 100 * v // top for k, v in raw.items()}

    def score_NodeResourcesFit(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """LeastAllocated / MostAllocated / RequestedToCapacityRatio over cpu and memory (non-zero requests)."""
        out = {}
        for n in feasible:
            on = self._on(n, placed)
            total = weight_sum = 0
            for i in (0, 1):
                alloc = n.allocatable[i]
                if alloc == 0:
                    continue
                req = sum(p.non_zero[i] for p in on) + pod.non_zero[i]
                if self.strategy == "LeastAllocated":
                    s = 0 if req > alloc else (alloc - req) * 100 // alloc
                elif self.strategy == "MostAllocated":
                    s = min(req, alloc) * 100 // alloc
                else:
                    s = self._shape(100 if req > alloc else req * 100 // alloc)
                total += s
                weight_sum += 1
            if weight_sum == 0:
                out[n.name] = 0
            elif self.strategy == "RequestedToCapacityRatio":
                out[n.name] = int(math.floor(total / weight_sum + 0.5))
            else:
                out[n.name] = total // weight_sum
        return out

    def _shape(self, p: int) -> int:
        for i, (u, s) in enumerate(self.shape):
            if p <= u:
                if i == 0:
                    return s
                pu, ps = self.shape[i - 1]
                return ps + _trunc_div((s - ps) * (p - pu), u - pu)
        return self.shape[-1][1]

    def score_NodeResourcesBalancedAllocation(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """100 × (1 − std-dev) of the cpu and memory fractions (actual requests, pod included);
        0 everywhere for a pod requesting neither (best-effort pods are not scored)."""
        if not pod.requests[0] and not pod.requests[1]:
            return {n.name: 0 for n in feasible}
        out = {}
        for n in feasible:
            on = self._on(n, placed)
            fractions = []
            for i in (0, 1):
                if n.allocatable[i] == 0:
                    continue
                f = (sum(p.requests[i] for p in on) + pod.requests[i]) / n.allocatable[i]
                fractions.append(min(f, 1.0))
            std = 0.0
            if len(fractions) == 2:
                std = abs((fractions[0] - fractions[1]) / 2)
            out[n.name] = int((1 - std) * 100)
        return out

    def score_TaintToleration(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """Fewer intolerable PreferNoSchedule taints is better."""
        tols = [t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")]
        raw = {n.name: sum(1 for t in n.taints if t.effect == "PreferNoSchedule" and not any(x.tolerates(t.key, t.value, t.effect) for x in tols))
               for n in feasible}
        return self._normalize(raw, True)

    def score_NodeAffinity(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """Sum of matching preferred term weights, normalized."""
        raw = {n.name: sum(w.weight for w in pod.preferred_node_terms if w.term.matches(n.labels, n.name)) for n in feasible}
        return self._normalize(raw, False)

    def score_ImageLocality(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """Image sizes present on the node scaled by their spread, clamped and scaled to 0-100."""
        have: dict[str, int] = {}
        for n in nodes:
            for names, _size in n.images:
                for name in names:
                    have[name] = have.get(name, 0) + 1
        out = {}
        for n in feasible:
            sizes = {name: size for names, size in n.images for name in names}
            total = 0
            for image in pod.images:
                if image in sizes:
                    total += int(sizes[image] * (have[image] / len(nodes)))
            lo, hi = 23 * MB, 1000 * MB * pod.num_containers
            total = min(max(total, lo), hi)
            out[n.name] = 100 * (total - lo) // (hi - lo) if hi > lo else 0
        return out

    def score_PodTopologySpread(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """ScheduleAnyway constraints: weighted matching counts, fewer is better."""
        soft = [c for c in pod.spread if not c.hard]
        if not soft:
            return {n.name: 0 for n in feasible}
        keys = [c.topology_key for c in soft]
        ignored = {n.name for n in feasible if any(k not in n.labels for k in keys)}
        kept = [n for n in feasible if n.name not in ignored]
        raw: dict[str, int] = {}
        weights, counts = [], []
        for c in soft:
            size = len(kept) if c.topology_key == HOSTNAME else len({n.labels[c.topology_key] for n in kept})
            weights.append(math.log(size + 2))
            counts.append(self._spread_counts(pod, c, keys, nodes, placed))
        for n in kept:
            acc = 0.0
            for c, w, cnt in zip(soft, weights, counts):
                if c.topology_key == HOSTNAME:
                    k = sum(1 for p in self._on(n, placed)
                            if p.namespace == pod.namespace and not p.terminating and c.selector.matches(p.labels))
                else:
                    k = cnt.get(n.labels[c.topology_key], 0)
                acc += k * w + (c.max_skew - 1)
            raw[n.name] = int(math.floor(acc + 0.5))
        out = {n.name: 0 for n in feasible}
        if raw:
            lo, hi = min(raw.values()), max(max(raw.values()), 0)
            for name, s in raw.items():
                out[name] = 100 if hi == 0 else 100 * (hi + lo - s) // hi
        return out

    def score_InterPodAffinity(self, pod: PodInfo, feasible: list, nodes: list, placed: list) -> dict[str, int]:
        """Preferred (anti-)affinity of the pod and of existing pods, per topology domain, min-max normalized."""
        where = {n.name: n for n in nodes}
        topo: dict[tuple[str, str], int] = {}

        def bump(term: Any, host: NodeInfo, weight: int) -> None:
            value = host.labels.get(term.topology_key)
            if value is not None:
                topo[(term.topology_key, value)] = topo.get((term.topology_key, value), 0) + weight

        for p, n in placed:
            host = where.get(n)
            if host is None:
                continue
            for wt in pod.affinity_preferred:
                if wt.term.matches(p):
                    bump(wt.term, host, wt.weight)
            for wt in pod.anti_preferred:
                if wt.term.matches(p):
                    bump(wt.term, host, -wt.weight)
            if self.hard_weight > 0:
                for term in p.affinity_required:
                    if term.matches(pod):
                        bump(term, host, self.hard_weight)
            for wt in p.affinity_preferred:
                if wt.term.matches(pod):
                    bump(wt.term, host, wt.weight)
            for wt in p.anti_preferred:
                if wt.term.matches(pod):
                    bump(wt.term, host, -wt.weight)
        raw = {n.name: sum(v for (k, val), v in topo.items() if n.labels.get(k) == val) for n in feasible}
        lo, hi = min(raw.values()), max(raw.values())
        return {k: int(100 * ((v - lo) / (hi - lo))) if hi > lo else 0 for k, v in raw.items()}


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q

