"""Compiling a pod's node-affinity terms and tolerations for the kernel, with a per-snapshot cache.

Pods of one workload share their terms, so a compiled :class:`~orchestra._ext.sched.NodeMatcher`
or tolerated-taint mask is cached on the snapshot (keyed by the terms) and reused.
"""

from __future__ import annotations

from array import array
from typing import Any

from orchestra._ext import sched
from orchestra.scheduler.podinfo import NodeTerm, PodInfo, Taint
from orchestra.scheduler.snapshot import FIELD_NAME_KEY, ClusterSnapshot

__all__ = ["UNSCHEDULABLE_TAINT", "image_ids", "spread_domains", "topology_domains", "required_matcher", "preferred_matchers", "tolerated_masks",
           "tolerates_unschedulable", "pod_query_for_nodes"]

#: The taint a cordoned node behaves as if it had (NodeUnschedulable).
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")

_OPS = {"In": sched.OP_IN, "NotIn": sched.OP_NOT_IN, "Exists": sched.OP_EXISTS,
        "DoesNotExist": sched.OP_DOES_NOT_EXIST, "Gt": sched.OP_GT, "Lt": sched.OP_LT}
_CACHE_LIMIT = 1024
_NO_IMAGES = array("i")


def _cache(snapshot: ClusterSnapshot) -> dict[Any, Any]:
    cache = snapshot.__dict__.setdefault("_query_cache", {})
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    return cache


def _add(snapshot: ClusterSnapshot, m: sched.NodeMatcher, key: str, op: str, values: tuple[str, ...]) -> None:
    kid = snapshot.intern_key(key)
    if op in ("Gt", "Lt"):
        m.add(kid, _OPS[op], (), int(values[0]))
    else:
        m.add(kid, _OPS[op], [snapshot.intern_value(v) for v in values])


def _add_term(snapshot: ClusterSnapshot, m: sched.NodeMatcher, term: NodeTerm) -> None:
    m.begin_term()
    for key, op, values in term.expressions:
        _add(snapshot, m, key, op, values)
    for _key, op, values in term.fields:
        _add(snapshot, m, FIELD_NAME_KEY, op, values)


def required_matcher(snapshot: ClusterSnapshot, pod: PodInfo) -> sched.NodeMatcher | None:
    """nodeSelector AND required node affinity, compiled; None when the pod has neither."""
    if not pod.node_selector and pod.required_node_terms is None:
        return None
    key = ("required", pod.node_selector, pod.required_node_terms)
    cache = _cache(snapshot)
    m = cache.get(key)
    if m is None:
        m = sched.NodeMatcher()
        for k, v in pod.node_selector:
            _add(snapshot, m, k, "In", (v,))
        if pod.required_node_terms is not None:
            if not pod.required_node_terms:
                m.begin_term()  # an empty term list matches no node
            for term in pod.required_node_terms:
                _add_term(snapshot, m, term)
        cache[key] = m
    return m


def preferred_matchers(snapshot: ClusterSnapshot, pod: PodInfo) -> tuple[list[sched.NodeMatcher], list[int]]:
    """One matcher and weight per preferred node-affinity term."""
    key = ("preferred", pod.preferred_node_terms)
    cache = _cache(snapshot)
    hit = cache.get(key)
    if hit is None:
        matchers = []
        for wt in pod.preferred_node_terms:
            m = sched.NodeMatcher()
            _add_term(snapshot, m, wt.term)
            matchers.append(m)
        hit = cache[key] = (matchers, [wt.weight for wt in pod.preferred_node_terms])
    return hit


def tolerated_masks(snapshot: ClusterSnapshot, pod: PodInfo) -> tuple[bytes, bytes]:
    """Per interned taint: tolerated when filtering (any toleration), and when scoring
    (tolerations with effect PreferNoSchedule or empty)."""
    taints = snapshot.taints.items
    key = ("tolerations", pod.tolerations, len(taints))
    cache = _cache(snapshot)
    hit = cache.get(key)
    if hit is None:
        tols = pod.tolerations
        soft_tols = [t for t in tols if t.effect in ("", "PreferNoSchedule")]
        hard = bytes(any(t.tolerates(x.key, x.value, x.effect) for t in tols) for x in taints)
        soft = bytes(any(t.tolerates(x.key, x.value, x.effect) for t in soft_tols) for x in taints)
        hit = cache[key] = (hard, soft)
    return hit


def image_ids(snapshot: ClusterSnapshot, pod: PodInfo) -> array:
    """``array('i')`` of the interned ids of the pod's images (images no node ever reported are left out;
    shared with other callers, not to be changed)."""
    images = snapshot.images
    if not images.items:  # no node ever reported an image: nothing to look up
        return _NO_IMAGES
    key = ("images", pod.images, len(images))
    cache = _cache(snapshot)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = array("i", [i for i in (images.get(n) for n in pod.images) if i >= 0])
    return hit


def spread_domains(snapshot: ClusterSnapshot, pod: PodInfo, honor_affinity: bool, honor_taints: bool,
                   key_ids: list[int], key: int) -> tuple[array, array, array]:
    """The pod's topology domains of label ``key`` for its spread constraints, as
    :func:`orchestra._ext.sched.domain_groups` (sum them with ``domain_sums``): the nodes carrying
    every key of ``key_ids`` and kept by the node inclusion policies (``honor_affinity``: the pod's
    required node affinity; ``honor_taints``: its tolerations). Cached while no node changes."""
    cache_key = ("domains", snapshot.node_generation, honor_affinity, honor_taints, tuple(key_ids), key,
                 (pod.node_selector, pod.required_node_terms) if honor_affinity else None,
                 pod.tolerations if honor_taints else None)
    cache = _cache(snapshot)
    hit = cache.get(cache_key)
    if hit is None:
        mask = sched.node_mask(snapshot.table, pod_query_for_nodes(snapshot, pod), honor_affinity, honor_taints, key_ids)
        hit = cache[cache_key] = sched.domain_groups(snapshot.table, key, mask)
    return hit


def topology_domains(snapshot: ClusterSnapshot, key: int) -> tuple[array, array, array]:
    """Every node's topology domain of label ``key`` as :func:`orchestra._ext.sched.domain_groups`
    (no node left out); cached while no node changes."""
    cache_key = ("topology", snapshot.node_generation, key)
    cache = _cache(snapshot)
    hit = cache.get(cache_key)
    if hit is None:
        hit = cache[cache_key] = sched.domain_groups(snapshot.table, key, None)
    return hit


def tolerates_unschedulable(pod: PodInfo) -> bool:
    """Whether the pod tolerates the unschedulable taint."""
    if not pod.tolerations:
        return False
    t = UNSCHEDULABLE_TAINT
    return any(x.tolerates(t.key, t.value, t.effect) for x in pod.tolerations)


def pod_query_for_nodes(snapshot: ClusterSnapshot, pod: PodInfo) -> sched.PodQuery:
    """A query with only the pod's node affinity and tolerations (for node inclusion policies)."""
    q = sched.PodQuery()
    q.required = required_matcher(snapshot, pod)
    hard, soft = tolerated_masks(snapshot, pod)
    q.set_tolerated(hard, soft)
    return q
