# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# distutils: language = c++
"""Scheduling kernel: the cluster's nodes as columns, and the typed loops of the built-in plugins.

Nothing here knows API objects. Strings (label keys and values, taints, images) arrive
interned to integers by :mod:`orchestra.scheduler.snapshot`; resources arrive as int64
(millicores, bytes, pod counts). Resource order everywhere: cpu, memory,
ephemeral-storage, pods.
"""

cimport cython
from cpython.array cimport array, clone, resize
from cpython.long cimport PyLong_AsLongLong
from cpython.object cimport Py_SIZE
from libc.stdint cimport uint32_t
from libcpp.unordered_map cimport unordered_map
from libcpp.utility cimport pair
from libc.math cimport fabs, log, sqrt, round as c_round

include "sched.pxd"

__all__ = [
    "NodeTable", "NodeMatcher", "PodQuery", "ScorePlan", "FilterMemo", "MEMO_SHAPES",
    "run_filters", "reason_histogram", "node_mask",
    "score_resources", "score_balanced", "score_taints", "score_node_affinity",
    "score_images", "score_spread", "score_interpod",
    "normalize_default", "normalize_min_max", "select_best", "accumulate", "in_range", "domain_totals",
    "select_victims", "slots_rejected_by", "domain_groups", "domain_sums",
    "K_NODE_NAME", "K_UNSCHEDULABLE", "K_RESOURCES", "K_NODE_AFFINITY", "K_TAINTS",
    "K_PORTS", "K_SPREAD", "K_INTERPOD",
    "S_RESOURCES", "S_BALANCED", "S_TAINTS", "S_IMAGES",
    "OP_IN", "OP_NOT_IN", "OP_EXISTS", "OP_DOES_NOT_EXIST", "OP_GT", "OP_LT",
    "EFFECT_NO_SCHEDULE", "EFFECT_PREFER_NO_SCHEDULE", "EFFECT_NO_EXECUTE",
]

# Filter kinds: which built-in filter rejected a node (0 = node passed).
K_NODE_NAME = 1
K_UNSCHEDULABLE = 2
K_RESOURCES = 3
K_NODE_AFFINITY = 4
K_TAINTS = 5
K_PORTS = 6
K_SPREAD = 7
K_INTERPOD = 8

OP_IN = 0
OP_NOT_IN = 1
OP_EXISTS = 2
OP_DOES_NOT_EXIST = 3
OP_GT = 4
OP_LT = 5

EFFECT_NO_SCHEDULE = 0
EFFECT_PREFER_NO_SCHEDULE = 1
EFFECT_NO_EXECUTE = 2

cdef array _I32 = array("i")
cdef array _I64 = array("q")
# numbers each NodeTable made in this process, so a ScorePlan knows the table its memo is of
cdef int64_t _tables_made = 0


@cython.final
cdef class NodeTable:
    """Per-node columns, indexed by slot; grown by doubling, never rebuilt.

    A slot holds one node until the node is removed (``clear``); the snapshot reuses
    free slots. ``size`` is the number of slots in use, live or not.
    """

    cdef public int size
    # slots cordoned / carrying a NoSchedule or NoExecute taint: while none is, run_filters
    # leaves out the filter that could only fail there
    cdef public int n_unschedulable
    cdef public int n_hard_tainted
    cdef vector[uint8_t] hard_tainted
    # slots with a PreferNoSchedule taint: while none is, every node's TaintToleration score is 100
    cdef public int n_soft_tainted
    cdef vector[uint8_t] soft_tainted
    cdef vector[uint8_t] live
    cdef vector[int64_t] alloc
    cdef vector[int64_t] req
    cdef vector[int64_t] nzreq
    cdef vector[uint8_t] unsched
    cdef vector[vector[int32_t]] labels
    cdef vector[int64_t] value_int
    cdef vector[uint8_t] value_int_ok
    cdef vector[vector[int32_t]] taints
    cdef vector[uint8_t] taint_effect
    cdef vector[vector[int64_t]] ports
    cdef vector[vector[int32_t]] images
    cdef vector[vector[int64_t]] image_sizes
    cdef vector[int32_t] image_nodes
    cdef vector[vector[PodRec]] pods
    # bumped whenever a slot's labels or liveness change (what a node selector's verdicts read)
    cdef public int64_t label_generation
    # per slot, bumped whenever anything of the slot a filter or score reads changes (its
    # liveness, resources, cordon, labels, taints, ports); shared_generation: bumped when a
    # label value's number or a taint's effect changes (read for every slot); serial: this
    # table among all made. What a ScorePlan's and a FilterMemo's remembered results check.
    cdef vector[int64_t] slot_version
    cdef int64_t shared_generation
    cdef readonly int64_t serial

    def __cinit__(self):
        global _tables_made
        _tables_made += 1
        self.serial = _tables_made
        self.size = 0
        self.label_generation = 0
        self.shared_generation = 0
        self.n_unschedulable = 0
        self.n_hard_tainted = 0
        self.n_soft_tainted = 0

    cdef inline int32_t label(self, int32_t key, int node) noexcept nogil:
        if key < 0 or <size_t>key >= self.labels.size():
            return -1
        return self.labels[key][node]

    def ensure(self, int slots):
        """Make room for ``slots`` slots (capacity doubles); new slots are empty and not live."""
        cdef size_t cap = self.live.size()
        cdef size_t k
        if <size_t>slots > cap:
            new_cap = max(<size_t>slots, cap * 2, <size_t>16)
            self.live.resize(new_cap, 0)
            self.alloc.resize(new_cap * NRES, 0)
            self.req.resize(new_cap * NRES, 0)
            self.nzreq.resize(new_cap * 2, 0)
            self.slot_version.resize(new_cap, 0)
            self.unsched.resize(new_cap, 0)
            self.hard_tainted.resize(new_cap, 0)
            self.soft_tainted.resize(new_cap, 0)
            self.taints.resize(new_cap)
            self.ports.resize(new_cap)
            self.images.resize(new_cap)
            self.image_sizes.resize(new_cap)
            self.pods.resize(new_cap)
            for k in range(self.labels.size()):
                self.labels[k].resize(new_cap, -1)
        if slots > self.size:
            self.size = slots

    @property
    def capacity(self):
        """Allocated slots (at least ``size``)."""
        return self.live.size()

    def ensure_key(self, int32_t key):
        """Make a label column for interned key ``key`` (all nodes: no value)."""
        while self.labels.size() <= <size_t>key:
            self.labels.push_back(vector[int32_t](self.live.size(), -1))

    def ensure_value(self, int32_t value, int64_t as_int, bint is_int):
        """Record interned label value ``value`` and its integer reading (for Gt/Lt)."""
        if self.value_int.size() <= <size_t>value:
            self.value_int.resize(value + 1, 0)
            self.value_int_ok.resize(value + 1, 0)
        elif self.value_int[value] != as_int or self.value_int_ok[value] != is_int:
            self.shared_generation += 1
        self.value_int[value] = as_int
        self.value_int_ok[value] = is_int

    def ensure_taint(self, int32_t taint, int effect):
        """Record the effect of interned taint ``taint``."""
        if self.taint_effect.size() <= <size_t>taint:
            self.taint_effect.resize(taint + 1, 0)
        elif self.taint_effect[taint] != effect:
            self.shared_generation += 1
        self.taint_effect[taint] = effect

    def set_live(self, int node, bint live):
        """Mark slot ``node`` as holding a node (or not)."""
        if self.live[node] != live:
            self.label_generation += 1
            self.slot_version[node] += 1
        self.live[node] = live

    def is_live(self, int node):
        """Whether slot ``node`` holds a node."""
        return bool(self.live[node])

    def clear(self, int node):
        """Empty slot ``node``: no resources, labels, taints, ports or images."""
        cdef int r
        cdef size_t k
        self.live[node] = 0
        self.label_generation += 1
        for r in range(NRES):
            self.alloc[node * NRES + r] = 0
            self.req[node * NRES + r] = 0
        self.nzreq[node * 2] = 0
        self.nzreq[node * 2 + 1] = 0
        self.slot_version[node] += 1
        self.set_unschedulable(node, False)
        for k in range(self.labels.size()):
            self.labels[k][node] = -1
        self.set_taints(node, ())
        self.ports[node].clear()
        self.pods[node].clear()
        self.set_images(node, [], [])

    def set_allocatable(self, int node, int64_t cpu, int64_t memory, int64_t ephemeral, int64_t pods):
        """Set the allocatable resources of slot ``node``."""
        self.alloc[node * NRES] = cpu
        self.alloc[node * NRES + 1] = memory
        self.alloc[node * NRES + 2] = ephemeral
        self.alloc[node * NRES + 3] = pods
        self.slot_version[node] += 1

    def add_requests(self, int node, int64_t cpu, int64_t memory, int64_t ephemeral,
                     int64_t pods, int64_t nz_cpu, int64_t nz_memory):
        """Add (or, with negative numbers, remove) one pod's requests on slot ``node``."""
        self.req[node * NRES] += cpu
        self.req[node * NRES + 1] += memory
        self.req[node * NRES + 2] += ephemeral
        self.req[node * NRES + 3] += pods
        self.nzreq[node * 2] += nz_cpu
        self.nzreq[node * 2 + 1] += nz_memory
        self.slot_version[node] += 1

    def add_pod(self, int node, int32_t pod_id, int64_t priority, int64_t start,
                int64_t cpu, int64_t memory, int64_t ephemeral):
        """Record a pod placed on slot ``node`` for preemption (its requests are added separately)."""
        cdef PodRec rec
        rec.id = pod_id
        rec.priority = priority
        rec.start = start
        rec.req[0] = cpu
        rec.req[1] = memory
        rec.req[2] = ephemeral
        self.pods[node].push_back(rec)

    def remove_pod(self, int node, int32_t pod_id):
        """Forget pod ``pod_id`` on slot ``node`` (the others keep their order)."""
        cdef vector[PodRec]* p = &self.pods[node]
        cdef size_t k
        for k in range(p.size()):
            if p[0][k].id == pod_id:
                p.erase(p.begin() + k)
                return

    def pod_ids(self, int node):
        """The ids of the pods recorded on slot ``node``, in placement order."""
        return [self.pods[node][k].id for k in range(self.pods[node].size())]

    def resources(self, int node):
        """``(allocatable, requested, non_zero_requested)`` of slot ``node`` as tuples."""
        return (
            tuple(self.alloc[node * NRES + r] for r in range(NRES)),
            tuple(self.req[node * NRES + r] for r in range(NRES)),
            (self.nzreq[node * 2], self.nzreq[node * 2 + 1]),
        )

    def set_unschedulable(self, int node, bint flag):
        """Set ``spec.unschedulable`` of slot ``node``."""
        self.n_unschedulable += <int>flag - <int>self.unsched[node]
        self.unsched[node] = flag
        self.slot_version[node] += 1

    def set_label(self, int node, int32_t key, int32_t value):
        """Set label ``key`` of slot ``node`` to ``value`` (-1 removes it)."""
        self.ensure_key(key)
        if self.labels[key][node] != value:
            self.label_generation += 1
            self.slot_version[node] += 1
            self.labels[key][node] = value

    def get_label(self, int node, int32_t key):
        """The value id of label ``key`` on slot ``node``, or -1."""
        return self.label(key, node)

    def set_taints(self, int node, taints):
        """Replace the interned taints of slot ``node`` (their effects recorded by :meth:`ensure_taint`)."""
        cdef int32_t tid
        cdef bint hard = False, soft = False
        self.slot_version[node] += 1
        self.taints[node].clear()
        for tid in taints:
            self.taints[node].push_back(tid)
            if <size_t>tid >= self.taint_effect.size() or self.taint_effect[tid] != 1:
                hard = True
            else:
                soft = True
        self.n_hard_tainted += <int>hard - <int>self.hard_tainted[node]
        self.hard_tainted[node] = hard
        self.n_soft_tainted += <int>soft - <int>self.soft_tainted[node]
        self.soft_tainted[node] = soft

    def add_port(self, int node, int64_t code):
        """Record one used host port (encoded) on slot ``node``."""
        self.ports[node].push_back(code)
        self.slot_version[node] += 1

    def remove_port(self, int node, int64_t code):
        """Forget one use of a host port on slot ``node``."""
        cdef vector[int64_t]* p = &self.ports[node]
        cdef size_t k
        for k in range(p.size()):
            if p[0][k] == code:
                p.erase(p.begin() + k)
                self.slot_version[node] += 1
                return

    def set_images(self, int node, ids, sizes):
        """Replace the images (interned names and sizes in bytes) present on slot ``node``."""
        cdef int32_t i
        for i in self.images[node]:
            self.image_nodes[i] -= 1
        self.images[node].clear()
        self.image_sizes[node].clear()
        for i, s in zip(ids, sizes):
            if self.image_nodes.size() <= <size_t>i:
                self.image_nodes.resize(i + 1, 0)
            self.image_nodes[i] += 1
            self.images[node].push_back(i)
            self.image_sizes[node].push_back(s)

    def gather(self, const int32_t[:] nodes, int which, int resource):
        """A column for the given slots: ``which`` 0 allocatable, 1 requested, 2 non-zero requested."""
        cdef int m = nodes.shape[0], k
        cdef array out = clone(_I64, m, False)
        cdef int64_t[:] o = out
        for k in range(m):
            if which == 0:
                o[k] = self.alloc[nodes[k] * NRES + resource]
            elif which == 1:
                o[k] = self.req[nodes[k] * NRES + resource]
            else:
                o[k] = self.nzreq[nodes[k] * 2 + resource]
        return out

    def gather_labels(self, const int32_t[:] nodes, int32_t key):
        """Value ids of label ``key`` for the given slots (-1 where absent)."""
        cdef int m = nodes.shape[0], k
        cdef array out = clone(_I32, m, False)
        cdef int32_t[:] o = out
        for k in range(m):
            o[k] = self.label(key, nodes[k])
        return out


@cython.final
cdef class NodeMatcher:
    """A compiled node selector: mandatory requirements AND (any of the terms, if any).

    nodeSelector entries are mandatory ``In`` requirements; required node affinity
    terms are ORed; a term with no requirement matches no node (as in Kubernetes).
    """

    # bumped by every add/begin_term (a FilterMemo's verdicts are of one state of the matcher)
    cdef int64_t edits
    cdef vector[int32_t] req_key
    cdef vector[int32_t] req_op
    cdef vector[int32_t] req_vstart
    cdef vector[int32_t] req_vend
    cdef vector[int64_t] req_num
    cdef vector[int32_t] values
    cdef int32_t n_mandatory
    cdef vector[int32_t] term_start
    cdef vector[int32_t] term_end
    cdef public bint has_terms
    # per-slot verdicts (see prepare): valid for one label generation of one table
    cdef vector[uint8_t] mask
    cdef int64_t mask_generation
    cdef int uses
    cdef bint masked


    def __cinit__(self):
        self.n_mandatory = 0
        self.has_terms = False
        self.mask_generation = -1
        self.uses = 0
        self.masked = False

    def prepare(self, NodeTable t):
        """Get ready to filter ``t``.

        From the second use while ``t``'s labels and live slots stay the same (its
        ``label_generation``), the verdict of every slot is computed once and then looked
        up: the pods of one workload share their matcher, and a requirement that matches
        few nodes otherwise costs a scan of many per pod. Any change to the table's labels,
        or a requirement added later, retires the verdicts.
        """
        cdef int i, n = t.size
        cdef int64_t generation = t.label_generation
        if generation != self.mask_generation:
            self.mask_generation = generation
            self.masked = False
            self.uses = 0
        if self.masked:
            return
        self.uses += 1
        if self.uses < 2:
            return
        self.mask.assign(n, 0)
        with nogil:
            for i in range(n):
                if t.live[i] and self._matches(t, i):
                    self.mask[i] = 1
        self.masked = True

    def add(self, int32_t key, int op, values=(), int64_t number=0):
        """Append a requirement to the current term (or to the mandatory part before any term)."""
        self.edits += 1
        self.masked = False
        self.mask_generation = -1
        self.req_key.push_back(key)
        self.req_op.push_back(op)
        self.req_vstart.push_back(self.values.size())
        for v in values:
            self.values.push_back(v)
        self.req_vend.push_back(self.values.size())
        self.req_num.push_back(number)
        if self.has_terms:
            self.term_end[self.term_end.size() - 1] = self.req_key.size()
        else:
            self.n_mandatory = self.req_key.size()

    def begin_term(self):
        """Start a new ORed term."""
        self.edits += 1
        self.masked = False
        self.mask_generation = -1
        self.has_terms = True
        self.term_start.push_back(self.req_key.size())
        self.term_end.push_back(self.req_key.size())

    cdef inline bint _req(self, NodeTable t, int node, int r) noexcept nogil:
        cdef int32_t v = t.label(self.req_key[r], node)
        cdef int op = self.req_op[r]
        cdef int32_t k
        if op == 2:
            return v >= 0
        if op == 3:
            return v < 0
        if op == 0 or op == 1:
            if v < 0:
                return op == 1
            for k in range(self.req_vstart[r], self.req_vend[r]):
                if self.values[k] == v:
                    return op == 0
            return op == 1
        if v < 0 or <size_t>v >= t.value_int_ok.size() or not t.value_int_ok[v]:
            return False
        if op == 4:
            return t.value_int[v] > self.req_num[r]
        return t.value_int[v] < self.req_num[r]

    cdef bint matches(self, NodeTable t, int node) noexcept nogil:
        if self.masked and self.mask_generation == t.label_generation and <size_t>node < self.mask.size():
            return self.mask[node]
        return self._matches(t, node)

    cdef bint _matches(self, NodeTable t, int node) noexcept nogil:
        cdef int r, term
        cdef bint ok
        for r in range(self.n_mandatory):
            if not self._req(t, node, r):
                return False
        if not self.has_terms:
            return True
        for term in range(<int>self.term_start.size()):
            if self.term_start[term] == self.term_end[term]:
                continue
            ok = True
            for r in range(self.term_start[term], self.term_end[term]):
                if not self._req(t, node, r):
                    ok = False
                    break
            if ok:
                return True
        return False

    def match(self, NodeTable t, int node):
        """Whether slot ``node`` satisfies this matcher."""
        return self.matches(t, node)


@cython.final
cdef class PodQuery:
    """What the built-in filters need to know about one pod, compiled for the kernel."""

    cdef int64_t rq[NRES]
    cdef int64_t nz[2]
    cdef public int only_node
    cdef public bint tolerates_unschedulable
    cdef public NodeMatcher required
    cdef vector[uint8_t] tol_hard
    cdef vector[uint8_t] tol_soft
    cdef vector[int64_t] ports
    # image locality: the pod's images (interned) and its number of containers
    cdef vector[int32_t] images
    cdef int containers
    # hard topology spread: one entry per constraint
    cdef vector[int32_t] spread_key
    cdef vector[int64_t] spread_max_skew
    cdef vector[int64_t] spread_min
    cdef vector[int64_t] spread_self
    cdef vector[vector[int64_t]] spread_totals
    # inter-pod affinity
    cdef public bint affinity_bypass
    cdef vector[int32_t] aff_key
    cdef vector[vector[int64_t]] aff_totals
    cdef vector[int32_t] anti_key
    cdef vector[vector[int64_t]] anti_totals
    cdef vector[int32_t] exist_key
    cdef vector[vector[int64_t]] exist_totals


    def __cinit__(self):
        cdef int r
        for r in range(NRES):
            self.rq[r] = 0
        self.nz[0] = 0
        self.nz[1] = 0
        self.only_node = -1
        self.containers = 0
        self.tolerates_unschedulable = False
        self.required = None
        self.affinity_bypass = False

    def set_requests(self, int64_t cpu, int64_t memory, int64_t ephemeral, int64_t nz_cpu, int64_t nz_memory):
        """The pod's requests (pods count is always 1) and its non-zero cpu/memory requests."""
        self.rq[0] = cpu
        self.rq[1] = memory
        self.rq[2] = ephemeral
        self.rq[3] = 1
        self.nz[0] = nz_cpu
        self.nz[1] = nz_memory

    def set_pod_requests(self, requests, non_zero):
        """:meth:`set_requests` from a pod's ``(cpu, memory, ephemeral)`` requests and ``(cpu, memory)``
        non-zero requests."""
        self.rq[0], self.rq[1], self.rq[2] = requests
        self.rq[3] = 1
        self.nz[0], self.nz[1] = non_zero

    def set_tolerated(self, hard, soft):
        """Per interned taint: tolerated for filtering (``hard``) and for scoring (``soft``)."""
        self.tol_hard.clear()
        self.tol_soft.clear()
        for b in hard:
            self.tol_hard.push_back(b)
        for b in soft:
            self.tol_soft.push_back(b)

    def set_images(self, ids, int containers):
        """The pod's images known to the cluster (interned ids) and its number of containers."""
        self.images.clear()
        for i in ids:
            self.images.push_back(i)
        self.containers = containers

    def set_ports(self, codes):
        """The pod's host ports, encoded as the snapshot encodes them."""
        self.ports.clear()
        for c in codes:
            self.ports.push_back(c)

    def add_spread(self, int32_t key, int64_t max_skew, int64_t min_match, bint self_match, totals):
        """A hard topology-spread constraint: per-domain (value id) match totals and the global minimum."""
        self.spread_key.push_back(key)
        self.spread_max_skew.push_back(max_skew)
        self.spread_min.push_back(min_match)
        self.spread_self.push_back(<int64_t>self_match)
        self.spread_totals.push_back(_to_vector(totals))

    def spread_constraints(self):
        """The hard spread constraints as ``(key, max_skew, min, self, totals)`` tuples (for tests)."""
        return [(self.spread_key[k], self.spread_max_skew[k], self.spread_min[k], self.spread_self[k],
                 list(self.spread_totals[k])) for k in range(self.spread_key.size())]

    def add_affinity(self, int32_t key, totals):
        """A required affinity term: per-domain totals of pods matching all terms."""
        self.aff_key.push_back(key)
        self.aff_totals.push_back(_to_vector(totals))

    def add_anti_affinity(self, int32_t key, totals):
        """A required anti-affinity term: per-domain totals of pods matching it."""
        self.anti_key.push_back(key)
        self.anti_totals.push_back(_to_vector(totals))

    def add_existing_anti_affinity(self, int32_t key, totals):
        """Existing pods' anti-affinity against this pod: per-domain totals of such pods."""
        self.exist_key.push_back(key)
        self.exist_totals.push_back(_to_vector(totals))


cdef vector[int64_t] _to_vector(const int64_t[::1] totals):
    cdef vector[int64_t] v
    if totals.shape[0]:
        v.assign(&totals[0], &totals[0] + totals.shape[0])
    return v


cdef inline int64_t _total(vector[int64_t]& totals, int32_t value) noexcept nogil:
    if value < 0 or <size_t>value >= totals.size():
        return 0
    return totals[value]


cdef inline int _check(NodeTable t, PodQuery q, int kind, int i, int* detail) noexcept nogil:
    cdef int64_t* a
    cdef int64_t* r
    cdef int bits, c
    cdef size_t k, j
    cdef int32_t v, tid
    cdef int64_t used, want, skew
    cdef bint exist
    if kind == 1:
        if q.only_node >= 0 and q.only_node != i:
            return 1
    elif kind == 2:
        if t.unsched[i] and not q.tolerates_unschedulable:
            return 2
    elif kind == 3:
        a = &t.alloc[i * NRES]
        r = &t.req[i * NRES]
        bits = 0
        if r[3] + 1 > a[3]:
            bits |= 8
        for c in range(3):
            if q.rq[c] > 0 and q.rq[c] > a[c] - r[c]:
                bits |= 1 << c
        if bits:
            detail[0] = bits
            return 3
    elif kind == 4:
        if q.required is not None and not q.required.matches(t, i):
            return 4
    elif kind == 5:
        for k in range(t.taints[i].size()):
            tid = t.taints[i][k]
            if t.taint_effect[tid] == 1:
                continue
            if <size_t>tid >= q.tol_hard.size() or not q.tol_hard[tid]:
                detail[0] = tid
                return 5
    elif kind == 6:
        for k in range(q.ports.size()):
            want = q.ports[k]
            for j in range(t.ports[i].size()):
                used = t.ports[i][j]
                if (used & 0x3FFFF) == (want & 0x3FFFF):
                    if (used >> 18) == 0 or (want >> 18) == 0 or (used >> 18) == (want >> 18):
                        return 6
    elif kind == 7:
        for k in range(q.spread_key.size()):
            v = t.label(q.spread_key[k], i)
            if v < 0:
                detail[0] = 1
                return 7
            skew = _total(q.spread_totals[k], v) + q.spread_self[k] - q.spread_min[k]
            if skew > q.spread_max_skew[k]:
                detail[0] = 0
                return 7
    elif kind == 8:
        if q.aff_key.size():
            exist = True
            for k in range(q.aff_key.size()):
                v = t.label(q.aff_key[k], i)
                if v < 0:
                    detail[0] = 0
                    return 8
                if _total(q.aff_totals[k], v) <= 0:
                    exist = False
            if not exist and not q.affinity_bypass:
                detail[0] = 0
                return 8
        for k in range(q.anti_key.size()):
            v = t.label(q.anti_key[k], i)
            if v >= 0 and _total(q.anti_totals[k], v) > 0:
                detail[0] = 1
                return 8
        for k in range(q.exist_key.size()):
            v = t.label(q.exist_key[k], i)
            if v >= 0 and _total(q.exist_totals[k], v) > 0:
                detail[0] = 2
                return 8
    return 0


#: How many pod shapes a memo remembers at once unless told (the least recently used is
#: forgotten): pods of a few Deployments alternate in the queue, each shape keeps its results.
MEMO_SHAPES = 8


cdef int _check_shapes(int shapes) except -1:
    if shapes < 1:
        raise ValueError(f"shapes: at least 1 pod shape is remembered, not {shapes}")
    return shapes


cdef class _MemoWay:
    """One pod shape's remembered results in a memo, and when each slot's was computed: the
    slot's ``slot_version`` then, and the epoch. An epoch is one key (pod shape) on one table;
    an entry holds while its epoch is the way's current one and its slot is unchanged."""

    cdef vector[int64_t] version
    cdef vector[int64_t] epoch_of
    cdef int64_t epoch
    cdef int64_t table
    cdef int64_t used

    def __cinit__(self):
        self.epoch = 1
        self.table = 0
        self.used = 0

    cdef void begin(self, NodeTable t, bint same_key, int64_t tick):
        # a new epoch (every entry stale) unless the key and the table are this way's last run's
        if not same_key or self.table != t.serial:
            self.epoch += 1
            self.table = t.serial
        if self.version.size() < t.slot_version.size():
            self.version.resize(t.slot_version.size(), 0)
            self.epoch_of.resize(t.slot_version.size(), 0)
        self.used = tick


cdef _MemoWay _spare_way(list ways, int shapes, type kind):
    # the way to take a new key: a new one of ``kind`` while fewer than ``shapes``, else the
    # least recently used
    cdef Py_ssize_t k, oldest = 0
    cdef _MemoWay way
    if len(ways) < shapes:
        way = kind()
        ways.append(way)
        return way
    for k in range(1, len(ways)):
        if (<_MemoWay>ways[k]).used < (<_MemoWay>ways[oldest]).used:
            oldest = k
    return ways[oldest]


@cython.final
cdef class _FilterWay(_MemoWay):
    # One pod key's verdicts per slot (failing filter kind and detail).
    cdef vector[int32_t] kind
    cdef vector[int32_t] detail
    cdef int64_t shared
    cdef vector[int32_t] checks
    cdef int only_node
    cdef bint tolerates_unschedulable
    cdef int64_t rq[3]
    cdef NodeMatcher required
    cdef int64_t required_edits
    cdef vector[uint8_t] tol_hard
    cdef vector[int64_t] ports

    def __cinit__(self):
        self.required = None
        self.shared = -1

    cdef bint holds(self, NodeTable t, PodQuery q, vector[int32_t]& checks):
        return (self.shared == t.shared_generation and self.checks == checks
                and self.only_node == q.only_node and self.tolerates_unschedulable == q.tolerates_unschedulable
                and self.rq[0] == q.rq[0] and self.rq[1] == q.rq[1] and self.rq[2] == q.rq[2]
                and self.required is q.required
                and (q.required is None or self.required_edits == q.required.edits)
                and self.tol_hard == q.tol_hard and self.ports == q.ports)

    cdef void take(self, NodeTable t, PodQuery q, vector[int32_t]& checks):
        cdef int k
        self.shared = t.shared_generation
        self.checks = checks
        self.only_node = q.only_node
        self.tolerates_unschedulable = q.tolerates_unschedulable
        for k in range(3):
            self.rq[k] = q.rq[k]
        self.required = q.required
        self.required_edits = q.required.edits if q.required is not None else 0
        self.tol_hard = q.tol_hard
        self.ports = q.ports


@cython.final
cdef class FilterMemo:
    """The built-in filters' verdict per slot, remembered by :func:`run_filters` across pods with equal queries.

    A slot's verdict (failing filter kind and detail) is reused while the pod's query reads the
    same (the filters in order, the pod's requests, node name, cordon toleration, hard
    tolerations, host ports and compiled required node affinity), the table and its shared
    values (label numbers, taint effects) are the same, and the slot has not changed since
    (``slot_version``). ``shapes`` such pod keys are remembered at once, the least recently
    used forgotten first. With a filter that reads cluster-wide counts in the order (topology
    spread, inter-pod affinity) nothing is remembered.
    """

    cdef list ways
    cdef int64_t tick
    #: How many pod keys are remembered at most.
    cdef readonly int shapes

    def __cinit__(self, int shapes=MEMO_SHAPES):
        self.shapes = _check_shapes(shapes)
        self.ways = []
        self.tick = 0

    @property
    def remembered(self):
        """How many pod keys are remembered now."""
        return len(self.ways)

    cdef _FilterWay _begin(self, NodeTable t, PodQuery q, vector[int32_t]& checks):
        # The way this run reads and fills (None: nothing may be remembered); a way whose
        # key is another pod's or whose table differs starts a new epoch.
        cdef size_t k
        cdef _FilterWay way
        for k in range(checks.size()):
            if checks[k] == 7 or checks[k] == 8:
                return None
        self.tick += 1
        for way in self.ways:
            if way.holds(t, q, checks):
                way.begin(t, True, self.tick)
                break
        else:
            way = <_FilterWay>_spare_way(self.ways, self.shapes, _FilterWay)
            way.take(t, q, checks)
            way.begin(t, False, self.tick)
        if way.kind.size() < t.slot_version.size():
            way.kind.resize(t.slot_version.size(), 0)
            way.detail.resize(t.slot_version.size(), 0)
        return way


cdef inline void _need_array(array a, str name, char typecode, int length) except *:
    # The hot kernel calls take array.array (read through its pointer, no buffer to acquire).
    if a.ob_descr.typecode != typecode or a.ob_descr.itemsize != (4 if typecode == b"i" else 8):
        raise TypeError(f"{name}: an array('{chr(typecode)}') is needed, not array('{chr(a.ob_descr.typecode)}')")
    if Py_SIZE(a) < length:
        raise ValueError(f"{name}: {length} items are needed, it has {Py_SIZE(a)}")


def run_filters(NodeTable t, PodQuery q, array order not None, int start, int want,
                array feasible not None, array kinds not None, array details not None, int limit=-1,
                FilterMemo memo=None):
    """Run the built-in filters ``order`` (kinds) over live slots from ``start``, wrapping.

    Stops after ``want`` feasible slots or ``limit`` visited slots (-1: all). Feasible slots go to ``feasible``; for every
    scanned live slot, ``kinds[slot]``/``details[slot]`` say which filter failed (0 = none).
    Returns ``(found, scanned)`` where ``scanned`` counts slots visited. ``memo``: verdicts
    remembered from earlier runs for an equal pod are reused, and this run's remembered.
    ``order``, ``feasible``, ``kinds`` and ``details`` are ``array('i')``; ``kinds`` and
    ``details`` hold a slot each, ``feasible`` up to ``want``.
    """
    cdef int n = t.size, found = 0, scanned = 0, step, i, o, kind, detail
    cdef int n_order = 0
    cdef bint memoized
    cdef _FilterWay way
    cdef vector[int32_t] checks
    cdef const int32_t* order_of
    cdef int32_t* out
    cdef int32_t* kind_of
    cdef int32_t* detail_of
    cdef const uint8_t* live
    cdef const int64_t* version
    cdef int32_t* memo_kind = NULL
    cdef int32_t* memo_detail = NULL
    cdef int64_t* memo_version = NULL
    cdef int64_t* memo_epoch_of = NULL
    cdef int64_t epoch = 0
    _need_array(order, "order", b"i", 0)
    if n == 0:
        return 0, 0
    if limit < 0 or limit > n:
        limit = n
    _need_array(kinds, "kinds", b"i", n)
    _need_array(details, "details", b"i", n)
    _need_array(feasible, "feasible", b"i", min(want, limit))
    start %= n
    if start < 0:
        start += n
    order_of = <const int32_t*>order.data.as_ints
    for o in range(Py_SIZE(order)):
        # a filter that no node can fail is left out (same verdicts, less work per node)
        if order_of[o] == 2 and (t.n_unschedulable == 0 or q.tolerates_unschedulable):
            continue
        if order_of[o] == 5 and t.n_hard_tainted == 0:
            continue
        checks.push_back(order_of[o])
    n_order = checks.size()
    way = memo._begin(t, q, checks) if memo is not None else None
    memoized = way is not None
    if memoized:
        memo_kind, memo_detail = way.kind.data(), way.detail.data()
        memo_version, memo_epoch_of, epoch = way.version.data(), way.epoch_of.data(), way.epoch
    out, kind_of, detail_of = <int32_t*>feasible.data.as_ints, <int32_t*>kinds.data.as_ints, <int32_t*>details.data.as_ints
    live, version = t.live.data(), t.slot_version.data()
    with nogil:
        for step in range(limit):
            i = start + step
            if i >= n:
                i -= n
            if not live[i]:
                continue
            if memoized and memo_epoch_of[i] == epoch and memo_version[i] == version[i]:
                kind = memo_kind[i]
                detail = memo_detail[i]
            else:
                kind = 0
                detail = 0
                for o in range(n_order):
                    kind = _check(t, q, checks[o], i, &detail)
                    if kind:
                        break
                if memoized:
                    memo_kind[i] = kind
                    memo_detail[i] = detail
                    memo_version[i] = version[i]
                    memo_epoch_of[i] = epoch
            kind_of[i] = kind
            detail_of[i] = detail
            if kind == 0:
                out[found] = i
                found += 1
                if found >= want:
                    break
        if limit > 0:
            scanned = step + 1  # the loop's last step, whether it broke off or not
    return found, scanned


def reason_histogram(NodeTable t, array kinds not None, array details not None, int start, int scanned):
    """``{(kind, detail): count}`` over the live slots a filter run scanned (``kinds`` and
    ``details``: ``array('i')``, a slot each)."""
    cdef dict out = {}
    cdef int n = t.size, step, i
    cdef unordered_map[int64_t, int64_t] counts
    cdef pair[int64_t, int64_t] item
    cdef int64_t key, last = 0
    cdef int64_t* last_count = NULL
    cdef const int32_t* kind_of
    cdef const int32_t* detail_of
    if n == 0 or scanned <= 0:
        return out
    _need_array(kinds, "kinds", b"i", n)
    _need_array(details, "details", b"i", n)
    kind_of, detail_of = <const int32_t*>kinds.data.as_ints, <const int32_t*>details.data.as_ints
    with nogil:
        i = start % n
        for step in range(min(scanned, n)):
            if t.live[i] and kind_of[i]:
                key = (<int64_t>kind_of[i] << 32) | <uint32_t>detail_of[i]
                if last_count == NULL or key != last:  # neighbours mostly share a reason: one lookup a run
                    last = key
                    last_count = &counts[key]  # stays valid: the map's elements never move
                last_count[0] += 1
            i += 1
            if i == n:
                i = 0
    for item in counts:
        out[(<int32_t>(item.first >> 32), <int32_t><uint32_t>item.first)] = item.second
    return out


def slots_rejected_by(NodeTable t, array kinds not None, array details not None, pairs):
    """The live slots, in order, whose ``(kinds[slot], details[slot])`` is one of ``pairs``
    (an iterable of ``(kind, detail)``; ``kinds`` and ``details``: ``array('i')``, a slot each;
    slots past their end are not looked at)."""
    cdef int n, i, p, np
    cdef int32_t last_kind = 0, last_detail = 0
    cdef bint last_wanted = False
    cdef vector[int32_t] found, pair_kinds, pair_details
    cdef const int32_t* kind_of
    cdef const int32_t* detail_of
    cdef array out
    cdef size_t k
    _need_array(kinds, "kinds", b"i", 0)
    _need_array(details, "details", b"i", 0)
    n = min(t.size, Py_SIZE(kinds), Py_SIZE(details))
    for wanted_kind, wanted_detail in pairs:
        pair_kinds.push_back(wanted_kind)
        pair_details.push_back(wanted_detail)
    np = pair_kinds.size()
    kind_of, detail_of = <const int32_t*>kinds.data.as_ints, <const int32_t*>details.data.as_ints
    found.reserve(n)
    with nogil:
        for i in range(n):
            if not t.live[i] or not kind_of[i]:
                continue
            if kind_of[i] != last_kind or detail_of[i] != last_detail:  # a new reason: look it up
                last_kind, last_detail, last_wanted = kind_of[i], detail_of[i], False
                for p in range(np):
                    if last_kind == pair_kinds[p] and last_detail == pair_details[p]:
                        last_wanted = True
                        break
            if last_wanted:
                found.push_back(i)
    out = clone(_I32, <Py_ssize_t>found.size(), False)
    for k in range(found.size()):
        out.data.as_ints[k] = found[k]
    return out


def node_mask(NodeTable t, PodQuery q, bint honor_affinity, bint honor_taints, keys):
    """Per slot 1 when the node counts for topology spreading: live, matches the pod's
    required node affinity (``honor_affinity``), tolerates its taints (``honor_taints``)
    and carries every label key in ``keys``."""
    cdef int n = t.size, i, k, nk
    cdef vector[int32_t] ks
    cdef array out = clone(array("B"), n, True)
    cdef uint8_t[:] o = out
    cdef int det = 0
    for key in keys:
        ks.push_back(key)
    nk = ks.size()
    with nogil:
        for i in range(n):
            o[i] = 0
            if not t.live[i]:
                continue
            for k in range(nk):
                if t.label(ks[k], i) < 0:
                    break
            else:
                if honor_affinity and _check(t, q, 4, i, &det):
                    continue
                if honor_taints and _check(t, q, 5, i, &det):
                    continue
                o[i] = 1
    return out


def domain_totals(NodeTable t, int32_t key, const int64_t[:] counts, const uint8_t[:] mask, int n_values):
    """Per label value of ``key``: the sum of ``counts`` over live (and masked-in) slots.

    Returns ``(totals, n_domains, min_total, grand_total)``: totals indexed by value id,
    the number of distinct values seen, the smallest total among them (0 when none) and
    the sum of all totals.
    """
    cdef int n = t.size, i
    cdef int32_t v
    cdef array out = clone(_I64, n_values, True)
    cdef int64_t[:] o = out
    cdef vector[uint8_t] seen
    cdef int domains = 0
    cdef int64_t lo = 0, grand = 0
    cdef bint use_mask = mask is not None
    cdef bint first = True
    seen.resize(n_values, 0)
    with nogil:
        for i in range(n):
            if not t.live[i]:
                continue
            if use_mask and not mask[i]:
                continue
            v = t.label(key, i)
            if v < 0 or v >= n_values:
                continue
            if not seen[v]:
                seen[v] = 1
                domains += 1
            if i < counts.shape[0]:
                o[v] += counts[i]
                grand += counts[i]
        for v in range(n_values):
            if seen[v]:
                if first or o[v] < lo:
                    lo = o[v]
                    first = False
    return out, domains, lo, grand


def domain_groups(NodeTable t, int32_t key, const uint8_t[:] mask):
    """The slots of each topology domain of label ``key``: live slots, masked in (``mask`` None:
    every slot), carrying the label. Returns ``(values, offsets, slots)`` (``array('i')`` each):
    domain ``j`` is label value ``values[j]`` (ascending) and holds the slots
    ``slots[offsets[j]:offsets[j + 1]]`` (ascending). With :func:`domain_sums` this gives
    :func:`domain_totals`; the groups stay valid while the nodes do not change."""
    cdef int n = t.size, i, j, n_dom = 0
    cdef int32_t v, top = -1
    cdef bint use_mask = mask is not None
    cdef vector[int32_t] of_slot
    cdef vector[int32_t] size
    cdef vector[int32_t] start
    cdef array values, offsets, slots
    of_slot.resize(n, -1)
    for i in range(n):
        if not t.live[i] or (use_mask and (i >= mask.shape[0] or not mask[i])):
            continue
        v = t.label(key, i)
        of_slot[i] = v
        if v > top:
            top = v
    size.resize(top + 1, 0)
    for i in range(n):
        if of_slot[i] >= 0:
            size[of_slot[i]] += 1
    for v in range(top + 1):
        if size[v]:
            n_dom += 1
    values = clone(_I32, n_dom, False)
    offsets = clone(_I32, n_dom + 1, False)
    start.resize(top + 1, 0)
    j = 0
    offsets.data.as_ints[0] = 0
    for v in range(top + 1):
        if size[v]:
            values.data.as_ints[j] = v
            start[v] = offsets.data.as_ints[j]
            offsets.data.as_ints[j + 1] = offsets.data.as_ints[j] + size[v]
            j += 1
    slots = clone(_I32, offsets.data.as_ints[n_dom], False)
    for i in range(n):
        v = of_slot[i]
        if v >= 0:
            slots.data.as_ints[start[v]] = i
            start[v] += 1
    return values, offsets, slots


def domain_sums(const int32_t[::1] values, const int32_t[::1] offsets, const int32_t[::1] slots,
                const int64_t[::1] counts, int n_values):
    """:func:`domain_totals` from :func:`domain_groups`: per value id the sum of ``counts`` over
    its domain's slots; ``(totals, n_domains, min_total, grand_total)``. ``totals`` ends after the
    highest domain's value id (below ``n_values``): the values past it have no slot and total 0."""
    cdef int n_dom = values.shape[0], j, k, nc = counts.shape[0], s, size = 0
    for j in range(n_dom):
        if values[j] < n_values and values[j] + 1 > size:
            size = values[j] + 1
    cdef array out = clone(_I64, size, True)
    cdef int64_t* o = <int64_t*>out.data.as_longlongs
    cdef int64_t total, lo = 0, grand = 0
    cdef int domains = 0
    with nogil:
        for j in range(n_dom):
            if values[j] >= n_values:
                continue
            total = 0
            for k in range(offsets[j], offsets[j + 1]):
                s = slots[k]
                if s < nc:
                    total += counts[s]
            o[values[j]] = total
            grand += total
            if domains == 0 or total < lo:
                lo = total
            domains += 1
    return out, domains, lo, grand


cdef inline int64_t _div(int64_t a, int64_t b) noexcept nogil:
    # a / b for a >= 0, b > 0 (C's truncating division; a double division with an exact
    # correction measured slower than the hardware's 64-bit idiv on current x86)
    return a / b


cdef inline int64_t _least(int64_t requested, int64_t capacity) noexcept nogil:
    if capacity == 0 or requested > capacity:
        return 0
    if requested < 0:
        return (capacity - requested) * 100 / capacity
    return _div((capacity - requested) * 100, capacity)


cdef inline int64_t _most(int64_t requested, int64_t capacity) noexcept nogil:
    if capacity == 0:
        return 0
    if requested > capacity:
        requested = capacity
    if requested < 0:
        return requested * 100 / capacity
    return _div(requested * 100, capacity)


cdef inline int64_t _shape(const int64_t* util, const int64_t* score, int n, int64_t p) noexcept nogil:
    cdef int k
    for k in range(n):
        if p <= util[k]:
            if k == 0:
                return score[0]
            return score[k - 1] + (score[k] - score[k - 1]) * (p - util[k - 1]) / (util[k] - util[k - 1])
    return score[n - 1]


cdef inline int _log2_exact(int64_t w) noexcept nogil:
    # k when w == 2**k (w > 0), else -1
    cdef int k = 0
    if w <= 0 or (w & (w - 1)) != 0:
        return -1
    while (<int64_t>1 << k) != w:
        k += 1
    return k


cdef inline int64_t _resource_score(NodeTable t, PodQuery q, int i, int strategy, const int64_t* weights,
                                    const int64_t* util, const int64_t* score, int n_shape,
                                    int64_t full_wsum, int wshift) noexcept nogil:
    # NodeResourcesFit's score of one node (see score_resources). full_wsum: the sum of the
    # weights, the usual divisor (every scored resource allocatable); wshift: its log2 when it
    # is a power of two (the default cpu 1 + memory 1), so the mean is a shift, not a division.
    cdef int r
    cdef int64_t total = 0, wsum = 0, alloc, requested, s
    for r in range(3):
        if weights[r] == 0:
            continue
        alloc = t.alloc[i * NRES + r]
        if alloc == 0:
            continue
        if r < 2:
            requested = t.nzreq[i * 2 + r] + q.nz[r]
        else:
            requested = t.req[i * NRES + r] + q.rq[r]
        if strategy == 0:
            s = _least(requested, alloc)
        elif strategy == 1:
            s = _most(requested, alloc)
        elif requested > alloc:
            s = _shape(util, score, n_shape, 100)
        else:
            s = _shape(util, score, n_shape, requested * 100 / alloc)
        total += s * weights[r]
        wsum += weights[r]
    if wsum == 0:
        return 0
    if strategy == 2:
        return <int64_t>c_round(<double>total / <double>wsum)
    if wshift >= 0 and wsum == full_wsum and total >= 0:
        return total >> wshift
    return total / wsum


cdef inline int64_t _balanced_score(NodeTable t, PodQuery q, int i, const int32_t* resources, int n) noexcept nogil:
    # NodeResourcesBalancedAllocation's score of one node (see score_balanced); n <= 3
    cdef int j, r, nf = 0
    cdef double f[3]
    cdef double totalf = 0, std = 0, mean, acc
    cdef int64_t alloc
    for j in range(n):
        r = resources[j]
        alloc = t.alloc[i * NRES + r]
        if alloc == 0:
            continue
        f[nf] = <double>(t.req[i * NRES + r] + q.rq[r]) / <double>alloc
        if f[nf] > 1:
            f[nf] = 1
        totalf += f[nf]
        nf += 1
    if nf == 2:
        std = fabs((f[0] - f[1]) / 2)
    elif nf > 2:
        mean = totalf / nf
        acc = 0
        for j in range(nf):
            acc = acc + (f[j] - mean) * (f[j] - mean)
        std = sqrt(acc / nf)
    return <int64_t>((1 - std) * 100)


cdef inline int64_t _taint_count(NodeTable t, PodQuery q, int i) noexcept nogil:
    # TaintToleration's raw score of one node: its PreferNoSchedule taints the pod does not tolerate
    cdef size_t j
    cdef int32_t tid
    cdef int64_t c = 0
    for j in range(t.taints[i].size()):
        tid = t.taints[i][j]
        if t.taint_effect[tid] != 1:
            continue
        if <size_t>tid >= q.tol_soft.size() or not q.tol_soft[tid]:
            c += 1
    return c


cdef inline int64_t _image_score(NodeTable t, const int32_t* images, int n_images, int containers,
                                 int total_nodes, int i) noexcept nogil:
    # ImageLocality's score of one node (see score_images)
    cdef int c
    cdef size_t j
    cdef int64_t s = 0, mb = 1024 * 1024
    cdef int64_t lo = 23 * mb, hi = 1000 * mb * containers
    for c in range(n_images):
        for j in range(t.images[i].size()):
            if t.images[i][j] == images[c]:
                s += <int64_t>(<double>t.image_sizes[i][j] * (<double>t.image_nodes[images[c]] / <double>total_nodes))
                break
    if s < lo:
        s = lo
    elif s > hi:
        s = hi
    return 100 * (s - lo) / (hi - lo) if hi > lo else 0


def score_resources(NodeTable t, PodQuery q, const int32_t[:] nodes, int64_t[:] out, int strategy,
                    const int64_t[:] weights, const int64_t[:] shape_util, const int64_t[:] shape_score):
    """NodeResourcesFit scores: ``strategy`` 0 LeastAllocated, 1 MostAllocated,
    2 RequestedToCapacityRatio (shape scores already on the 0-100 scale).

    ``weights`` per resource (cpu, memory, ephemeral-storage; 0 = not scored). cpu and
    memory use non-zero requests, as Kubernetes does for scoring.
    """
    cdef int m = nodes.shape[0], k, r
    cdef int64_t w[3]
    cdef vector[int64_t] util
    cdef vector[int64_t] score
    for k in range(shape_util.shape[0]):
        util.push_back(shape_util[k])
    for k in range(shape_score.shape[0]):
        score.push_back(shape_score[k])
    cdef int n_shape = min(util.size(), score.size())
    cdef int64_t wsum = 0
    for r in range(3):
        w[r] = weights[r]
        wsum += w[r]
    cdef int wshift = _log2_exact(wsum)
    with nogil:
        for k in range(m):
            out[k] = _resource_score(t, q, nodes[k], strategy, w, util.data(), score.data(), n_shape, wsum, wshift)
    return out


def score_balanced(NodeTable t, PodQuery q, const int32_t[:] nodes, int64_t[:] out, const int64_t[:] resources):
    """NodeResourcesBalancedAllocation: 100 × (1 − std-dev of requested/allocatable fractions).

    ``resources``: up to three distinct resource indexes (cpu 0, memory 1, ephemeral-storage 2).
    """
    cdef int m = nodes.shape[0], k, j, n = resources.shape[0]
    cdef int32_t res[3]
    if n > 3:
        raise ValueError(f"resources: at most 3 (cpu, memory, ephemeral-storage), got {n}")
    for j in range(n):
        res[j] = <int32_t>resources[j]
    with nogil:
        for k in range(m):
            out[k] = _balanced_score(t, q, nodes[k], res, n)
    return out


def score_taints(NodeTable t, PodQuery q, const int32_t[:] nodes, int64_t[:] out):
    """TaintToleration raw score: the number of intolerable PreferNoSchedule taints."""
    cdef int m = nodes.shape[0], k
    with nogil:
        for k in range(m):
            out[k] = _taint_count(t, q, nodes[k])
    return out


def score_node_affinity(NodeTable t, list matchers, const int64_t[:] weights, const int32_t[:] nodes, int64_t[:] out):
    """NodeAffinity raw score: the sum of the weights of the preferred terms a node matches."""
    cdef int m = nodes.shape[0], k, j
    cdef NodeMatcher nm
    for k in range(m):
        out[k] = 0
    for j in range(len(matchers)):
        nm = matchers[j]
        for k in range(m):
            if nm.matches(t, nodes[k]):
                out[k] += weights[j]
    return out


def score_images(NodeTable t, const int32_t[:] images, int containers, int total_nodes,
                 const int32_t[:] nodes, int64_t[:] out):
    """ImageLocality: image sizes on the node, scaled by how widely each image is spread."""
    cdef int m = nodes.shape[0], k, c, n = images.shape[0]
    cdef vector[int32_t] ids
    for c in range(n):
        ids.push_back(images[c])
    with nogil:
        for k in range(m):
            out[k] = _image_score(t, ids.data(), n, containers, total_nodes, nodes[k])
    return out


# Terms of a ScorePlan (bits of ScorePlan.run's ``skip``).
S_RESOURCES = 1
S_BALANCED = 2
S_TAINTS = 4
S_IMAGES = 8


@cython.final
cdef class _ScoreWay(_MemoWay):
    # One pod key's weighted resources + balance terms per slot.
    cdef vector[int64_t] memo
    cdef int64_t key[6]


@cython.final
cdef class ScorePlan:
    """Built-in score plugins fused into one pass over the candidates.

    Each term is added once with its plugin's weight and static arguments; :meth:`run`
    then computes, per candidate, the weighted sum of the terms' final (normalized)
    scores: exactly what running each plugin's ``score_batch`` (and its normalization
    over the same candidates) and accumulating ``weight × score`` would give.
    Per-pod inputs come from the :class:`PodQuery`: requests (resources, balance), the
    tolerated-taint mask (taints) and the pod's image ids (images).
    """

    cdef public int terms
    cdef int64_t w_res, w_bal, w_taint, w_img
    cdef int res_strategy
    cdef int64_t res_weights[3]
    cdef int64_t res_wsum
    cdef int res_wshift
    cdef vector[int64_t] res_util
    cdef vector[int64_t] res_score
    cdef int32_t bal_res[3]
    cdef int n_bal
    cdef vector[int64_t] raw
    # The weighted resources + balance terms per slot, remembered for up to ``shapes`` pod
    # keys (a _ScoreWay each: the pod's requests and the active terms).
    cdef list ways
    cdef int64_t tick
    #: How many pod keys the resources and balance terms are remembered for at most.
    cdef readonly int shapes

    def __cinit__(self, int shapes=MEMO_SHAPES):
        self.shapes = _check_shapes(shapes)
        self.terms = 0
        self.w_res = self.w_bal = self.w_taint = self.w_img = 0
        self.n_bal = 0
        self.ways = []
        self.tick = 0

    cdef _claim(self, int term, int64_t weight):
        if self.terms & term:
            raise ValueError(f"score term {term} is already in the plan")
        if weight < 1:
            raise ValueError(f"weight: must be at least 1, not {weight}")
        self.terms |= term
        self.ways = []  # the plan changed: nothing remembered holds

    def add_resources(self, int64_t weight, int strategy, weights, shape_util, shape_score):
        """NodeResourcesFit's score (as :func:`score_resources`) with ``weight``."""
        cdef int r
        if not 0 <= strategy <= 2:
            raise ValueError(f"strategy: must be 0, 1 or 2, not {strategy}")
        if len(weights) != 3 or len(shape_util) != len(shape_score) or not len(shape_util):
            raise ValueError("weights: three resource weights; shape_util and shape_score: as many points, at least one")
        self._claim(S_RESOURCES, weight)
        self.w_res = weight
        self.res_strategy = strategy
        self.res_wsum = 0
        for r in range(3):
            self.res_weights[r] = weights[r]
            self.res_wsum += self.res_weights[r]
        self.res_wshift = _log2_exact(self.res_wsum)
        self.res_util = list(shape_util)
        self.res_score = list(shape_score)

    def add_balanced(self, int64_t weight, resources):
        """NodeResourcesBalancedAllocation's score (as :func:`score_balanced`) with ``weight``;
        skipped for a pod requesting none of ``resources``."""
        cdef int j
        if len(resources) > 3 or any(not 0 <= r <= 2 for r in resources):
            raise ValueError(f"resources: up to three indexes of cpu 0, memory 1, ephemeral-storage 2, not {list(resources)}")
        self._claim(S_BALANCED, weight)
        self.w_bal = weight
        self.n_bal = len(resources)
        for j in range(self.n_bal):
            self.bal_res[j] = resources[j]

    def add_taints(self, int64_t weight):
        """TaintToleration's score: :func:`score_taints` then :func:`normalize_default` reversed
        over the candidates, with ``weight``."""
        self._claim(S_TAINTS, weight)
        self.w_taint = weight

    def add_images(self, int64_t weight):
        """ImageLocality's score (as :func:`score_images`, images from :meth:`PodQuery.set_images`)
        with ``weight``."""
        self._claim(S_IMAGES, weight)
        self.w_img = weight

    cdef _ScoreWay _way(self, NodeTable t, int64_t* key):
        # The way remembering this pod key's terms; the least recently used takes a new key.
        cdef _ScoreWay way
        cdef int j
        self.tick += 1
        for way in self.ways:
            if way.key[0] == key[0] and way.key[1] == key[1] and way.key[2] == key[2] \
                    and way.key[3] == key[3] and way.key[4] == key[4] and way.key[5] == key[5]:
                way.begin(t, True, self.tick)
                break
        else:
            way = <_ScoreWay>_spare_way(self.ways, self.shapes, _ScoreWay)
            for j in range(6):
                way.key[j] = key[j]
            way.begin(t, False, self.tick)
        if way.memo.size() < t.slot_version.size():
            way.memo.resize(t.slot_version.size(), 0)
        return way

    def run(self, NodeTable t, PodQuery q, array nodes not None, int total_nodes, int skip=0):
        """The weighted totals of the plan's terms per candidate (``array('q')`` aligned with
        ``nodes``); terms whose bit is in ``skip`` contribute nothing.

        A slot's resources and balance terms are remembered and reused while the pod's
        requests, the table and the slot's resources stay the same (for the last ``shapes`` pod keys).
        ``nodes`` is an ``array('i')`` of slots.
        """
        cdef int m, k, i, j
        cdef const int32_t* slot_of
        cdef int64_t* memo = NULL
        cdef int64_t* memo_version = NULL
        cdef int64_t* memo_epoch_of = NULL
        cdef const int64_t* version
        cdef int64_t epoch = 0
        cdef int64_t key[6]
        cdef _ScoreWay way
        cdef array out
        cdef int64_t* o
        cdef int64_t hi = 0, s
        cdef int active = self.terms & ~skip
        cdef bint resources = (active & S_RESOURCES) != 0
        cdef bint taints = (active & S_TAINTS) != 0
        cdef bint balanced = False
        cdef bint images = (active & S_IMAGES) != 0 and q.images.size() > 0 and q.containers > 0 and total_nodes > 0
        # without a PreferNoSchedule taint anywhere every taint score is 100: a constant for all
        cdef bint even_taints = taints and t.n_soft_tainted == 0
        cdef int64_t base = self.w_taint * 100 if even_taints else 0
        cdef int size = t.size
        _need_array(nodes, "nodes", b"i", 0)
        m = Py_SIZE(nodes)
        slot_of = <const int32_t*>nodes.data.as_ints
        for k in range(m):
            if <unsigned int>slot_of[k] >= <unsigned int>size:
                raise IndexError(f"nodes[{k}]: slot {slot_of[k]} is not in the table (0..{size - 1})")
        out = clone(_I64, m, False)
        o = <int64_t*>out.data.as_longlongs
        if active & S_BALANCED:
            for j in range(self.n_bal):
                if q.rq[self.bal_res[j]] != 0:
                    balanced = True
        if resources or balanced:
            key[0], key[1], key[2], key[3], key[4] = q.rq[0], q.rq[1], q.rq[2], q.nz[0], q.nz[1]
            key[5] = <int64_t>resources | (<int64_t>balanced << 1)
            way = self._way(t, key)
            memo, memo_version, memo_epoch_of, epoch = way.memo.data(), way.version.data(), way.epoch_of.data(), way.epoch
        version = t.slot_version.data()
        with nogil:
            if resources or balanced:
                for k in range(m):
                    i = slot_of[k]
                    if memo_epoch_of[i] == epoch and memo_version[i] == version[i]:
                        o[k] = memo[i] + base
                        continue
                    s = 0
                    if resources:
                        s = self.w_res * _resource_score(t, q, i, self.res_strategy, self.res_weights,
                                                         self.res_util.data(), self.res_score.data(),
                                                         self.res_util.size(), self.res_wsum, self.res_wshift)
                    if balanced:
                        s += self.w_bal * _balanced_score(t, q, i, self.bal_res, self.n_bal)
                    memo[i] = s
                    memo_version[i] = version[i]
                    memo_epoch_of[i] = epoch
                    o[k] = s + base
            else:
                for k in range(m):
                    o[k] = base
            if taints and not even_taints:
                self.raw.resize(m)
                for k in range(m):
                    self.raw[k] = _taint_count(t, q, slot_of[k])
                    if self.raw[k] > hi:
                        hi = self.raw[k]
                for k in range(m):
                    o[k] += self.w_taint * (100 if hi == 0 else 100 - _div(100 * self.raw[k], hi))
            if images:
                for k in range(m):
                    o[k] += self.w_img * _image_score(t, q.images.data(), q.images.size(), q.containers, total_nodes, slot_of[k])
        return out


def score_spread(NodeTable t, const int32_t[:] nodes, list keys, list totals, list per_node,
                 const int64_t[:] max_skews, int64_t[:] out):
    """PodTopologySpread soft constraints, normalized (Kubernetes' Score + NormalizeScore).

    For constraint c: ``totals[c]`` per value id (None for the hostname key, whose count
    is ``per_node[c][slot]``). Nodes missing any constraint's key score 0 and are left
    out of the normalization.
    """
    cdef int m = nodes.shape[0], k, c, nc = len(keys), i
    cdef int32_t v
    cdef double acc, w
    cdef int64_t lo = 0, hi = 0, s, cnt
    cdef bint first = True
    cdef vector[double] weights
    cdef vector[uint8_t] seen
    cdef const int64_t[:] tot
    cdef const int64_t[:] pn
    cdef int size
    cdef vector[uint8_t] ignored
    ignored.assign(m, 0)
    for k in range(m):
        for c in range(nc):
            if t.label(keys[c], nodes[k]) < 0:
                ignored[k] = 1
                break
    for c in range(nc):
        if totals[c] is None:
            size = 0
            for k in range(m):
                if not ignored[k]:
                    size += 1
        else:
            seen.assign(len(totals[c]), 0)
            size = 0
            for k in range(m):
                if ignored[k]:
                    continue
                v = t.label(keys[c], nodes[k])
                if v >= 0 and not seen[v]:
                    seen[v] = 1
                    size += 1
        weights.push_back(log(<double>(size + 2)))
    for k in range(m):
        if ignored[k]:
            continue
        i = nodes[k]
        acc = 0
        for c in range(nc):
            v = t.label(keys[c], i)
            if v < 0:
                continue
            if totals[c] is None:
                pn = per_node[c]
                cnt = pn[i] if i < pn.shape[0] else 0
            else:
                tot = totals[c]
                cnt = tot[v] if v < tot.shape[0] else 0
            acc += <double>cnt * weights[c] + <double>(max_skews[c] - 1)
        out[k] = <int64_t>c_round(acc)
    for k in range(m):
        if ignored[k]:
            continue
        if first or out[k] < lo:
            lo = out[k]
        if first or out[k] > hi:
            hi = out[k]
        first = False
    if hi < 0:
        hi = 0
    for k in range(m):
        if ignored[k]:
            out[k] = 0
        elif hi == 0:
            out[k] = 100
        else:
            out[k] = 100 * (hi + lo - out[k]) / hi
    return out


def score_interpod(NodeTable t, const int32_t[:] nodes, list keys, list totals, const int64_t[:] weights, int64_t[:] out):
    """InterPodAffinity raw score: Σ weight × (matching pods in the node's domain of each key)."""
    cdef int m = nodes.shape[0], k, c
    cdef int32_t v
    cdef const int64_t[:] tot
    for k in range(m):
        out[k] = 0
    for c in range(len(keys)):
        tot = totals[c]
        for k in range(m):
            v = t.label(keys[c], nodes[k])
            if v >= 0 and v < tot.shape[0]:
                out[k] += weights[c] * tot[v]
    return out


def normalize_default(int64_t[:] scores, bint reverse):
    """Kubernetes' DefaultNormalizeScore to 0-100 (``reverse``: high raw = low score)."""
    cdef int m = scores.shape[0], k
    cdef int64_t hi = 0
    for k in range(m):
        if scores[k] > hi:
            hi = scores[k]
    if hi == 0:
        if reverse:
            for k in range(m):
                scores[k] = 100
        return scores
    for k in range(m):
        scores[k] = _div(100 * scores[k], hi) if scores[k] >= 0 else 100 * scores[k] / hi
        if reverse:
            scores[k] = 100 - scores[k]
    return scores


def normalize_min_max(int64_t[:] scores):
    """Scale to 0-100 by (s − min)/(max − min) (InterPodAffinity's NormalizeScore)."""
    cdef int m = scores.shape[0], k
    cdef int64_t lo, hi
    if m == 0:
        return scores
    lo = scores[0]
    hi = scores[0]
    for k in range(m):
        if scores[k] > hi:
            hi = scores[k]
        if scores[k] < lo:
            lo = scores[k]
    for k in range(m):
        if hi - lo > 0:
            scores[k] = <int64_t>(100.0 * (<double>(scores[k] - lo) / <double>(hi - lo)))
        else:
            scores[k] = 0
    return scores


def accumulate(int64_t[:] totals, const int64_t[:] scores, int64_t weight):
    """``totals += weight × scores``, element-wise."""
    cdef int k
    for k in range(totals.shape[0]):
        totals[k] += weight * scores[k]


def split_verdicts(array slots not None, list verdicts not None):
    """A batch filter's verdicts on ``slots`` (one each, in order) when every one is True or
    None (the node passes) or False (rejected): ``(passing slots, rejected slots)``, both
    ``array('i')`` in order. None when any verdict is something else (a Status, 0, 1, …):
    the caller reads those the general way.
    """
    cdef Py_ssize_t k, n = len(verdicts), n_pass = 0, n_rejected = 0
    cdef object v
    _need_array(slots, "slots", b"i", n)
    cdef array passing = clone(_I32, n, False)
    cdef array rejected = clone(_I32, n, False)
    for k in range(n):  # identity tests only: no Python code runs, so the list stays as it is
        v = verdicts[k]
        if v is True or v is None:
            passing.data.as_ints[n_pass] = slots.data.as_ints[k]
            n_pass += 1
        elif v is False:
            rejected.data.as_ints[n_rejected] = slots.data.as_ints[k]
            n_rejected += 1
        else:
            return None
    resize(passing, n_pass)
    resize(rejected, n_rejected)
    return passing, rejected


@cython.boundscheck(True)  # an item's __index__ may shrink the list under the loop
def as_int64_array(object values):
    """``values`` as an ``array('q')``: the array itself if it is one, else a new one.

    A list of ints (what a Python batch plugin returns) is converted in one typed loop, at a
    fraction of what ``array('q', values)`` costs per item; anything else goes through
    ``array('q', values)``. Either way a non-integer raises TypeError and an integer beyond
    64 bits OverflowError, as ``array`` does.
    """
    cdef array out
    cdef list items
    cdef Py_ssize_t k, n
    cdef int64_t *data
    if type(values) is array and (<array>values).ob_descr.typecode == b"q":
        return values
    if type(values) is not list:
        return array("q", values)
    items = <list>values
    n = len(items)
    out = clone(_I64, n, False)
    data = <int64_t *>out.data.as_voidptr
    for k in range(n):
        data[k] = PyLong_AsLongLong(items[k])  # __index__ as array's conversion: a float is a TypeError
    return out


def in_range(const int64_t[:] scores, int64_t lo, int64_t hi):
    """Whether every score lies in ``[lo, hi]``; returns the position of the first outlier or -1."""
    cdef int k
    for k in range(scores.shape[0]):
        if scores[k] < lo or scores[k] > hi:
            return k
    return -1


def select_best(array totals not None, uint64_t_pick):
    """The position of a highest total in ``totals`` (an ``array('q')``); ties broken by
    ``pick`` modulo the number of ties; -1 when there is none."""
    cdef int m, k, ties = 0, chosen = -1
    cdef int64_t best = 0
    cdef unsigned long long pick = uint64_t_pick
    cdef const int64_t* total_of
    _need_array(totals, "totals", b"q", 0)
    m = Py_SIZE(totals)
    total_of = <const int64_t*>totals.data.as_longlongs
    for k in range(m):
        if chosen < 0 or total_of[k] > best:
            best = total_of[k]
            chosen = k
            ties = 1
        elif total_of[k] == best:
            ties += 1
    if ties <= 1:
        return chosen
    pick = pick % ties
    for k in range(m):
        if total_of[k] == best:
            if pick == 0:
                return k
            pick -= 1
    return chosen


cdef inline int _shortfall(const int64_t* alloc, const int64_t* used, const int64_t* need) noexcept nogil:
    """NodeResourcesFit's verdict as the kernel's detail bits (cpu 1, memory 2, ephemeral 4, pods 8)."""
    cdef int bits = 8 if used[3] + 1 > alloc[3] else 0
    cdef int r
    for r in range(3):
        if need[r] > 0 and need[r] > alloc[r] - used[r]:
            bits |= 1 << r
    return bits


cdef inline bint _more_important(const PodRec* a, const PodRec* b) noexcept nogil:
    """Kubernetes' MoreImportantPod: higher priority, then the earlier start."""
    if a.priority != b.priority:
        return a.priority > b.priority
    return a.start < b.start


def select_victims(NodeTable t, array slots not None, int start, int want, int64_t priority,
                   int64_t cpu, int64_t memory, int64_t ephemeral, array outcome not None):
    """DefaultPreemption's dry run on the resource columns, and its choice of node.

    Visits ``slots`` from position ``start`` (wrapping) and stops after ``want`` candidates.
    On each node every pod of lower priority than ``priority`` is taken out; if the pod
    (``cpu``/``memory``/``ephemeral`` requests, one pod) then fits, the taken pods are put
    back most important first (higher priority, then earlier start; placement order on
    ties) while it still fits, and the rest are the node's victims. ``outcome[position]``
    says, per visited node: 0 candidate, -1 no pod of lower priority, > 0 the resources
    still short with every lower-priority pod gone (NodeResourcesFit's detail bits).

    Among the candidates the chosen node is the first without victims, else the one with
    the lowest highest-victim priority, then the lowest sum of victim priorities, then
    the fewest victims, then the latest earliest start among its highest-priority
    victims; the first visited wins ties. Returns ``(visited, slot, victim_ids)`` with
    ``slot`` -1 and no ids when there is no candidate; the ids are in importance order.
    ``slots`` and ``outcome`` are ``array('i')``, ``outcome`` at least as long as ``slots``.
    """
    cdef int n, k, pos, slot, found = 0, visited = 0, best_slot = -1, bits, r
    cdef size_t j, m, a, b, tmp
    cdef int64_t need[3]
    cdef int64_t used[NRES]
    cdef int64_t back[NRES]
    cdef const int64_t* alloc
    cdef const PodRec* rec
    cdef const PodRec* pods
    cdef vector[size_t] lower
    cdef vector[int32_t] victims, chosen
    cdef int64_t top, earliest, total, count
    cdef int64_t best_top = 0, best_earliest = 0, best_total = 0, best_count = 0
    cdef bint better
    cdef array out
    cdef const int32_t* slot_at
    cdef int32_t* outcome_at
    _need_array(slots, "slots", b"i", 0)
    n = Py_SIZE(slots)
    _need_array(outcome, "outcome", b"i", n)
    slot_at, outcome_at = <const int32_t*>slots.data.as_ints, <int32_t*>outcome.data.as_ints
    need[0] = cpu
    need[1] = memory
    need[2] = ephemeral
    if n == 0 or want <= 0:
        return 0, -1, array("i")
    with nogil:
        for k in range(n):
            pos = (start + k) % n
            slot = slot_at[pos]
            visited = k + 1
            alloc = &t.alloc[slot * NRES]
            for r in range(NRES):
                used[r] = t.req[slot * NRES + r]
            pods = t.pods[slot].data()
            lower.clear()
            for j in range(t.pods[slot].size()):
                rec = &pods[j]
                if rec.priority < priority:
                    lower.push_back(j)
                    used[0] -= rec.req[0]
                    used[1] -= rec.req[1]
                    used[2] -= rec.req[2]
                    used[3] -= 1
            if lower.size() == 0:
                outcome_at[pos] = -1
                continue
            bits = _shortfall(alloc, used, need)
            if bits:
                outcome_at[pos] = bits
                continue
            outcome_at[pos] = 0
            found += 1
            if best_slot >= 0 and best_count == 0:
                # a candidate without victims was found first: no later one can win
                if found >= want:
                    break
                continue
            # insertion sort: stable, and a node holds ~100 pods at most
            m = lower.size()
            for a in range(1, m):
                tmp = lower[a]
                b = a
                while b > 0 and _more_important(&pods[tmp], &pods[lower[b - 1]]):
                    lower[b] = lower[b - 1]
                    b -= 1
                lower[b] = tmp
            victims.clear()
            total = top = earliest = 0
            for a in range(m):
                rec = &pods[lower[a]]
                back[0] = used[0] + rec.req[0]
                back[1] = used[1] + rec.req[1]
                back[2] = used[2] + rec.req[2]
                back[3] = used[3] + 1
                if _shortfall(alloc, back, need):
                    if victims.size() == 0:
                        # victims come most important first: the first is of the highest
                        # priority, and the earliest start among those of that priority
                        top = rec.priority
                        earliest = rec.start
                    total += rec.priority + (<int64_t>1 << 31)
                    victims.push_back(rec.id)
                else:
                    for r in range(NRES):
                        used[r] = back[r]
            # the candidates are compared as they come; the first visited wins ties
            count = <int64_t>victims.size()
            if best_slot < 0 or count == 0:
                better = True
            elif top != best_top:
                better = top < best_top
            elif total != best_total:
                better = total < best_total
            elif count != best_count:
                better = count < best_count
            else:
                better = earliest > best_earliest
            if better:
                best_slot, best_top, best_total, best_count, best_earliest = slot, top, total, count, earliest
                chosen.swap(victims)
            if found >= want:
                break
    if best_slot < 0:
        return visited, -1, array("i")
    out = clone(_I32, <Py_ssize_t>chosen.size(), False)
    for a in range(chosen.size()):
        out[a] = chosen[a]
    return visited, best_slot, out
