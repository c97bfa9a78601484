"""The cluster snapshot: nodes as columns in the kernel, pods indexed, all kept incrementally.

Nodes live in slots of a :class:`orchestra._ext.sched.NodeTable` (allocatable and
requested resources, interned labels, taints, used host ports, images). Pods are indexed
by label (``(key, value)`` → pod keys) and counted per node by *trackers*:

- a selector tracker counts, per node, the pods matching a tuple of affinity terms
  (a topology-spread selector, a pod's required affinity terms, ...). It is built on
  first use from the label index (a selector with a matchLabels/In requirement only
  visits the pods carrying one of its values) and kept up to date on every pod add and
  remove after that; the least recently used ones are dropped past a bound.
- an owner tracker counts, per node, the pods that *carry* a given (anti-)affinity term,
  for the symmetric checks (existing pods' anti-affinity, preferred terms of existing pods).

Nothing here is rebuilt per pod: every event updates a few cells.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterator, Mapping

import attrs

from orchestra._ext import sched
from orchestra.scheduler.podinfo import AffinityTerm, NodeInfo, PodInfo, Taint

__all__ = ["ClusterSnapshot", "Interner", "PlacedPod", "SnapshotError", "FIELD_NAME_KEY", "OWNER_KINDS"]

#: The pseudo label key under which every node carries its own name (for matchFields).
FIELD_NAME_KEY = "\x00metadata.name"
#: Term kinds owner trackers count: required anti-affinity, required affinity, preferred ones.
OWNER_KINDS = ("anti_required", "affinity_required", "affinity_preferred", "anti_preferred")

_EFFECTS = {"NoSchedule": sched.EFFECT_NO_SCHEDULE, "PreferNoSchedule": sched.EFFECT_PREFER_NO_SCHEDULE,
            "NoExecute": sched.EFFECT_NO_EXECUTE}
_PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}
_MAX_TRACKERS = 512


class SnapshotError(KeyError):
    """An operation named a node or pod the snapshot does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Interner:
    """Strings (or other hashables) to dense integer ids and back."""

    __slots__ = ("ids", "items")

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.items: list[Any] = []

    def intern(self, item: Any) -> int:
        """The id of ``item``, assigning the next one if new."""
        i = self.ids.get(item)
        if i is None:
            i = self.ids[item] = len(self.items)
            self.items.append(item)
        return i

    def get(self, item: Any) -> int:
        """The id of ``item`` or -1 when it was never interned."""
        return self.ids.get(item, -1)

    def __len__(self) -> int:
        return len(self.items)


@attrs.define
class PlacedPod:
    """A pod on a node of the snapshot; ``assumed`` while the scheduler awaits its binding."""

    info: PodInfo
    slot: int
    assumed: bool = False


def _places_alike(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two versions of a pod give the same :class:`PodInfo` but for ``raw``."""
    old_spec, new_spec = old.get("spec"), new.get("spec")
    if old_spec is not new_spec and old_spec != new_spec:
        return False
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    for field in ("uid", "labels", "deletionTimestamp", "creationTimestamp"):
        if om.get(field) != nm.get(field):
            return False
    os_, ns_ = old.get("status") or {}, new.get("status") or {}
    return os_.get("startTime") == ns_.get("startTime") and os_.get("nominatedNodeName") == ns_.get("nominatedNodeName")


def _int_label(text: str) -> tuple[int, bool]:
    try:
        v = int(text, 10)
    except ValueError:
        return 0, False
    if -(1 << 63) <= v < (1 << 63):
        return v, True
    return 0, False


class ClusterSnapshot:
    """Nodes and placed pods, kept incrementally for the scheduling kernel.

    Feed it node and pod events (:meth:`add_node`, :meth:`update_node`,
    :meth:`remove_node`, :meth:`add_pod`, :meth:`remove_pod`) and the scheduler's own
    decisions (:meth:`assume_pod`, :meth:`forget_pod`). Pods naming a node the snapshot
    does not know wait until that node arrives.
    """

    def __init__(self) -> None:
        self.table = sched.NodeTable()
        self.keys = Interner()
        self.values = Interner()
        self.taints = Interner()
        self.images = Interner()
        self.host_ips = Interner()
        self.host_ips.intern("0.0.0.0")
        #: Bumped by every change.
        self.generation = 0
        #: The slot every change since generation ``_local_from`` was confined to (-1: none);
        #: see :meth:`changed_only_on`.
        self._local_slot = -1
        self._local_from = 0
        #: Bumped by every node change (add, update, remove): what depends on nodes alone is
        #: valid while it stays the same.
        self.node_generation = 0
        self._slot_by_name: dict[str, int] = {}
        self._nodes: list[NodeInfo | None] = []
        self._free: list[int] = []
        self._node_pods: list[dict[str, PodInfo]] = []
        self._pods: dict[str, PlacedPod] = {}
        self._pod_ids: dict[str, int] = {}
        self._pod_keys: dict[int, str] = {}
        self._next_pod_id = 0
        self._waiting: dict[str, dict[str, PodInfo]] = {}
        self._label_index: dict[tuple[str, str], set[str]] = {}
        self._trackers: dict[tuple[tuple[AffinityTerm, ...], bool], array] = {}
        self._owners: dict[str, dict[Any, array]] = {k: {} for k in OWNER_KINDS}
        self._owner_totals: dict[str, dict[Any, int]] = {k: {} for k in OWNER_KINDS}
        self._namespace_labels: dict[str, dict[str, str]] = {}
        self._capacity = 0

    # ------------------------------------------------------------------ reading

    @property
    def num_nodes(self) -> int:
        """The number of nodes."""
        return len(self._slot_by_name)

    @property
    def num_slots(self) -> int:
        """The number of slots in use (live or free); kernel arrays are this long."""
        return self.table.size

    def node_names(self) -> list[str]:
        """Every node name, in slot order."""
        return [n.name for n in self._nodes if n is not None]

    def slot_of(self, name: str) -> int:
        """The slot of node ``name`` or -1."""
        return self._slot_by_name.get(name, -1)

    def node(self, slot: int) -> NodeInfo:
        """The node in ``slot``."""
        info = self._nodes[slot] if 0 <= slot < len(self._nodes) else None
        if info is None:
            raise SnapshotError(f"no node in slot {slot}")
        return info

    def node_by_name(self, name: str) -> NodeInfo:
        """The node called ``name``; raise :class:`SnapshotError` if unknown."""
        slot = self._slot_by_name.get(name)
        if slot is None:
            raise SnapshotError(f"node {name!r} is not in the snapshot")
        return self._nodes[slot]  # type: ignore[return-value]

    def slots(self) -> Iterator[int]:
        """Slots holding a node."""
        return (i for i, n in enumerate(self._nodes) if n is not None)

    def pods_on(self, slot: int) -> list[PodInfo]:
        """The pods placed on the node in ``slot``."""
        return list(self._node_pods[slot].values())

    def pod(self, key: str) -> PlacedPod | None:
        """The placed pod ``namespace/name``, or None."""
        return self._pods.get(key)

    def pod_by_id(self, pod_id: int) -> PlacedPod:
        """The placed pod the kernel knows as ``pod_id`` (see :func:`orchestra._ext.sched.select_victims`)."""
        key = self._pod_keys.get(pod_id)
        if key is None:
            raise SnapshotError(f"no placed pod has id {pod_id}")
        return self._pods[key]

    def pods(self) -> Iterator[PlacedPod]:
        """Every placed pod."""
        return iter(self._pods.values())

    def resources(self, slot: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int]]:
        """``(allocatable, requested, non_zero_requested)`` of a slot (cpu, memory, ephemeral, pods)."""
        return self.table.resources(slot)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """Labels of a namespace (for namespaceSelector in affinity terms); empty if unknown."""
        return self._namespace_labels.get(namespace, {})

    def set_namespace_labels(self, namespace: str, labels: Mapping[str, str] | None) -> None:
        """Record (or with None, forget) a namespace's labels; trackers using namespace selectors are dropped."""
        if labels is None:
            self._namespace_labels.pop(namespace, None)
        else:
            self._namespace_labels[namespace] = dict(labels)
        for key in [k for k in self._trackers if any(x.namespace_selector is not None for x in k[0])]:
            del self._trackers[key]
        self._changed(-1)

    # ------------------------------------------------------------------ nodes

    def add_node(self, node: Mapping[str, Any] | NodeInfo) -> int:
        """Add a node (wire dict or :class:`NodeInfo`), or update it if known; return its slot."""
        info = node if isinstance(node, NodeInfo) else NodeInfo.from_dict(node)
        slot = self._slot_by_name.get(info.name)
        if slot is not None:
            self._write_node(slot, info, self._nodes[slot])
            return slot
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._nodes)
            self._nodes.append(None)
            self._node_pods.append({})
            self.table.ensure(slot + 1)
            self._grow()
        self._slot_by_name[info.name] = slot
        self.table.set_live(slot, True)
        self._write_node(slot, info, None)
        for pod in self._waiting.pop(info.name, {}).values():
            self._place(pod, slot, assumed=False)
        return slot

    update_node = add_node

    def remove_node(self, name: str) -> None:
        """Remove a node; its pods wait for a node of that name to come back."""
        slot = self._slot_by_name.pop(name, None)
        if slot is None:
            raise SnapshotError(f"node {name!r} is not in the snapshot")
        for pod in list(self._node_pods[slot].values()):
            assumed = self._pods[pod.key].assumed
            self._unplace(pod.key)
            if not assumed:
                self._waiting.setdefault(name, {})[pod.key] = pod
        self.table.clear(slot)
        self._nodes[slot] = None
        self._free.append(slot)
        self._changed(-1)
        self.node_generation += 1

    def _grow(self) -> None:
        cap = self.table.capacity
        if cap == self._capacity:
            return
        extra = array("q", bytes(8 * (cap - self._capacity)))
        for arr in self._trackers.values():
            arr.extend(extra)
        for kind in OWNER_KINDS:
            for arr in self._owners[kind].values():
                arr.extend(extra)
        self._capacity = cap

    def intern_value(self, text: str) -> int:
        """The id of label value ``text`` (interned and registered with the kernel on first use)."""
        vid = self.values.get(text)
        if vid < 0:
            vid = self.values.intern(text)
            as_int, ok = _int_label(text)
            self.table.ensure_value(vid, as_int, ok)
        return vid

    def intern_key(self, key: str) -> int:
        """The id of label key ``key`` (a kernel column is made on first use)."""
        kid = self.keys.get(key)
        if kid < 0:
            kid = self.keys.intern(key)
            self.table.ensure_key(kid)
        return kid

    def taint_id(self, taint: Taint) -> int:
        """The interned id of a taint (interned on first use)."""
        tid = self.taints.get(taint)
        if tid < 0:
            tid = self.taints.intern(taint)
            self.table.ensure_taint(tid, _EFFECTS[taint.effect])
        return tid

    def _write_node(self, slot: int, info: NodeInfo, old: NodeInfo | None) -> None:
        t = self.table
        t.set_allocatable(slot, *info.allocatable)
        t.set_unschedulable(slot, info.unschedulable)
        if old is not None:
            for k in old.labels:
                if k not in info.labels:
                    t.set_label(slot, self.intern_key(k), -1)
        for k, v in info.labels.items():
            t.set_label(slot, self.intern_key(k), self.intern_value(v))
        t.set_label(slot, self.intern_key(FIELD_NAME_KEY), self.intern_value(info.name))
        t.set_taints(slot, [self.taint_id(x) for x in info.taints])
        ids, sizes = [], []
        for names, size in info.images:
            for n in names:
                ids.append(self.images.intern(n))
                sizes.append(size)
        t.set_images(slot, ids, sizes)
        self._nodes[slot] = info
        self._changed(-1)
        self.node_generation += 1

    # ------------------------------------------------------------------ pods

    def add_pod(self, pod: Mapping[str, Any] | PodInfo, node_name: str | None = None) -> PodInfo:
        """Add (or replace) a pod placed on ``node_name`` (default: its ``spec.nodeName``)."""
        info = pod if isinstance(pod, PodInfo) else PodInfo.from_dict(pod)
        node_name = node_name or info.node_name
        if not node_name:
            raise SnapshotError(f"pod {info.key} has no node to be placed on")
        if info.key in self._pods:
            self._unplace(info.key)
        for waiting in self._waiting.values():
            waiting.pop(info.key, None)
        slot = self._slot_by_name.get(node_name)
        if slot is None:
            self._waiting.setdefault(node_name, {})[info.key] = info
        else:
            self._place(info, slot, assumed=False)
        return info

    update_pod = add_pod

    def remove_pod(self, key: str) -> PodInfo | None:
        """Remove the pod ``namespace/name``; return it (None if it was not there)."""
        if key in self._pods:
            return self._unplace(key)
        for waiting in self._waiting.values():
            if key in waiting:
                return waiting.pop(key)
        return None

    def assume_pod(self, pod: PodInfo, node_name: str) -> None:
        """Place a pod the scheduler has just chosen a node for, before its binding is confirmed."""
        slot = self._slot_by_name.get(node_name)
        if slot is None:
            raise SnapshotError(f"node {node_name!r} is not in the snapshot")
        if pod.key in self._pods:
            self._unplace(pod.key)
        self._place(pod, slot, assumed=True)

    def refresh_pod(self, key: str, pod: Mapping[str, Any]) -> bool:
        """Point placed pod ``key`` at its newer wire dict ``pod`` when only what placement
        ignores changed (its status, say); False when the change may matter (re-add it then)."""
        placed = self._pods.get(key)
        if placed is None or placed.assumed or not _places_alike(placed.info.raw, pod):
            return False
        info = placed.info.with_raw(pod)
        placed.info = info
        self._node_pods[placed.slot][key] = info
        return True

    def restore(self, placed: PlacedPod) -> None:
        """Put back a pod taken out with :meth:`remove_pod` (preemption's dry runs)."""
        if placed.info.key in self._pods:
            self._unplace(placed.info.key)
        self._place(placed.info, placed.slot, placed.assumed)

    def forget_pod(self, key: str) -> None:
        """Undo :meth:`assume_pod` (binding failed); a confirmed pod is left alone."""
        placed = self._pods.get(key)
        if placed is not None and placed.assumed:
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        """Whether the pod is placed only by :meth:`assume_pod`."""
        placed = self._pods.get(key)
        return placed is not None and placed.assumed

    def _place(self, info: PodInfo, slot: int, assumed: bool) -> None:
        table, key = self.table, info.key
        cpu, mem, eph = info.requests
        nz_cpu, nz_mem = info.non_zero
        table.add_requests(slot, cpu, mem, eph, 1, nz_cpu, nz_mem)
        for p in info.host_ports:
            table.add_port(slot, self.port_code(p.protocol, p.host_ip, p.port))
        self._pods[key] = PlacedPod(info, slot, assumed)
        self._node_pods[slot][key] = info
        pod_id = self._next_pod_id = (self._next_pod_id + 1) & 0x7FFFFFFF
        while pod_id in self._pod_keys:  # wrapped around onto a pod still placed
            pod_id = self._next_pod_id = (pod_id + 1) & 0x7FFFFFFF
        self._pod_ids[key] = pod_id
        self._pod_keys[pod_id] = key
        table.add_pod(slot, pod_id, info.priority, info.start_micros, cpu, mem, eph)
        index = self._label_index
        for kv in info.labels.items():
            keys = index.get(kv)
            if keys is None:
                index[kv] = {key}
            else:
                keys.add(key)
        if self._trackers or info.has_inter_pod_terms:
            self._count(info, slot, 1)
        self._changed(-1 if info.has_inter_pod_terms else slot)

    def _unplace(self, key: str) -> PodInfo:
        placed = self._pods.pop(key)
        info, slot = placed.info, placed.slot
        cpu, mem, eph = info.requests
        self.table.add_requests(slot, -cpu, -mem, -eph, -1, -info.non_zero[0], -info.non_zero[1])
        for p in info.host_ports:
            self.table.remove_port(slot, self.port_code(p.protocol, p.host_ip, p.port))
        del self._node_pods[slot][key]
        pod_id = self._pod_ids.pop(key)
        del self._pod_keys[pod_id]
        self.table.remove_pod(slot, pod_id)
        for kv in info.labels.items():
            keys = self._label_index.get(kv)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._label_index[kv]
        if self._trackers or info.has_inter_pod_terms:
            self._count(info, slot, -1)
        self._changed(-1 if info.has_inter_pod_terms else slot)
        return info

    def _changed(self, slot: int) -> None:
        """Count one change, confined to the node in ``slot`` (-1: a change that may matter to
        any node — a node's own change, or a pod whose affinity terms reach other nodes)."""
        if slot < 0 or slot != self._local_slot:
            self._local_slot = slot
            self._local_from = self.generation if slot >= 0 else self.generation + 1
        self.generation += 1

    def changed_only_on(self, slot: int, since: int) -> bool:
        """Whether every change after generation ``since`` placed or removed pods on the node in
        ``slot`` alone, pods without affinity terms (nothing changed at all counts too): what was
        computed about the other nodes at ``since`` still holds."""
        return self.generation == since or (self._local_slot == slot and self._local_from <= since)

    def port_code(self, protocol: str, host_ip: str, port: int) -> int:
        """A host port encoded for the kernel: port, protocol and interned host IP."""
        ip = 0 if host_ip in ("", "0.0.0.0") else self.host_ips.intern(host_ip)
        return port | (_PROTOCOLS.get(protocol, 0) << 16) | (ip << 18)

    def _count(self, info: PodInfo, slot: int, delta: int) -> None:
        lookup = self.namespace_labels
        for (terms, skip_terminating), arr in self._trackers.items():
            if skip_terminating and info.terminating:
                continue
            for term in terms:
                if not term.matches(info, lookup):
                    break
            else:
                arr[slot] += delta
        if info.has_inter_pod_terms:
            self._own("anti_required", info.anti_required, slot, delta)
            self._own("affinity_required", info.affinity_required, slot, delta)
            self._own("affinity_preferred", info.affinity_preferred, slot, delta)
            self._own("anti_preferred", info.anti_preferred, slot, delta)

    def _own(self, kind: str, terms: tuple, slot: int, delta: int) -> None:
        owners, totals = self._owners[kind], self._owner_totals[kind]
        for term in terms:
            arr = owners.get(term)
            if arr is None:
                arr = owners[term] = array("q", bytes(8 * self._capacity))
            arr[slot] += delta
            totals[term] = totals.get(term, 0) + delta
            if totals[term] == 0:
                del totals[term], owners[term]

    # ------------------------------------------------------------------ trackers

    def pod_counts(self, terms: tuple[AffinityTerm, ...], skip_terminating: bool = False) -> array:
        """Per slot, the number of placed pods matching every term (namespaces and selector).

        The terms' topology keys are ignored; ``skip_terminating`` leaves out pods being
        deleted. The array is owned by the snapshot and stays current until the tracker
        is evicted; do not modify it.
        """
        key = (tuple(AffinityTerm(t.selector, "", t.namespaces, t.namespace_selector) for t in terms), skip_terminating)
        arr = self._trackers.pop(key, None)
        if arr is None:
            arr = array("q", bytes(8 * self._capacity))
            lookup = self.namespace_labels
            for pod_key in self._candidates(key[0][0]):
                placed = self._pods[pod_key]
                if skip_terminating and placed.info.terminating:
                    continue
                if all(t.matches(placed.info, lookup) for t in key[0]):
                    arr[placed.slot] += 1
            if len(self._trackers) >= _MAX_TRACKERS:
                del self._trackers[next(iter(self._trackers))]
        self._trackers[key] = arr
        return arr

    def _candidates(self, term: AffinityTerm) -> Iterator[str]:
        if term.selector.nothing:
            return iter(())
        best: set[str] | None = None
        for r in term.selector.requirements:
            if r.operator != "In":
                continue
            found: set[str] = set()
            for v in r.values:
                found |= self._label_index.get((r.key, v), set())
            if best is None or len(found) < len(best):
                best = found
        return iter(list(best) if best is not None else list(self._pods))

    def owners(self, kind: str) -> dict[Any, array]:
        """Per term (or weighted term) carried by placed pods: per-slot counts of its carriers."""
        return self._owners[kind]

    def any_owner(self, *kinds: str) -> bool:
        """Whether any placed pod carries a term of one of ``kinds``."""
        owners = self._owners
        for kind in kinds:
            if owners[kind]:
                return True
        return False
