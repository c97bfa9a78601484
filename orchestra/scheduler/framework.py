"""The scheduling framework: extension points, statuses, and the runner of one scheduling cycle.

A plugin is a class with a ``NAME``, built with ``(args, handle)``, implementing any of
the extension points below (see ``docs/scheduler.md``):

- ``less(a, b)`` — queue sort;
- ``pre_filter(state, pod, snapshot)`` → :class:`Status` / :class:`PreFilterResult` / None;
- ``filter(state, pod, node)`` (one :class:`NodeView`, slow) or
  ``filter_batch(state, pod, batch)`` (a :class:`NodeBatch` of candidates → a mask, fast);
- ``post_filter(state, pod, snapshot, diagnosis)`` → ``(PostFilterResult | None, Status)``;
- ``pre_score(state, pod, batch)`` → Status / None;
- ``score(state, pod, node)`` → int, or ``score_batch(state, pod, batch)`` → int64 scores
  (None: skip); ``normalize_score(state, pod, scores)`` rescales in place; 0–100, weighted;
- ``reserve`` / ``unreserve(state, pod, node_name)`` (unreserve idempotent);
- ``permit(state, pod, node_name)`` → Status or ``(Status, timeout_seconds)``;
- ``pre_bind`` / ``bind`` / ``post_bind(state, pod, node_name)`` (may return awaitables);
- ``sign(pod, snapshot)`` → the part of the pod the plugin's filtering and scoring read, or
  None: for opportunistic batching (:mod:`orchestra.scheduler.batch`).

Built-in filters run fused in the Cython kernel (a plugin class sets ``KERNEL_FILTER``
and fills the pod's compiled query in ``pre_filter``); Python filters then run on the
kernel's survivors. Built-in scores the kernel can compute in one pass over the
candidates (``fuse_score``) are summed there; the other score plugins run one by one.
A plugin that raises yields an ``Error`` status naming it.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import random
from array import array
from typing import Any, Callable, ClassVar, Hashable, Iterable, Mapping, Sequence

import attrs

from orchestra._ext import sched
from orchestra.aio import wait_for
from orchestra.records import slot_maker
from orchestra.scheduler.batch import OpportunisticBatch
from orchestra.scheduler.podinfo import NodeInfo, PodInfo
from orchestra.scheduler.snapshot import ClusterSnapshot

__all__ = [
    "Code",
    "CycleState",
    "Diagnosis",
    "EXTENSION_POINTS",
    "FitError",
    "Framework",
    "Handle",
    "NodeBatch",
    "NodeView",
    "Plugin",
    "PluginProfile",
    "PostFilterResult",
    "PreFilterResult",
    "ProfileError",
    "SKIP",
    "SUCCESS",
    "ScheduleResult",
    "Status",
    "WaitingPod",
    "implements",
    "num_feasible_nodes_to_find",
    "plugin_registry",
]

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5
MAX_NODE_SCORE = 100


class Code(enum.IntEnum):
    """Outcome of an extension point (Kubernetes' status codes)."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5


@attrs.frozen
class Status:
    """A plugin's answer: a code, reasons (human text) and the plugin that gave it."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""
    #: Whether the code is SUCCESS (kept, not computed per read: the scheduling cycle asks it
    #: of every plugin's answer).
    is_success: bool = attrs.field(init=False, eq=False, repr=False,
                                   default=attrs.Factory(lambda status: status.code == Code.SUCCESS, takes_self=True))

    @property
    def is_rejected(self) -> bool:
        """Whether the code is UNSCHEDULABLE or UNSCHEDULABLE_AND_UNRESOLVABLE."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        """The reasons joined by ", "."""
        return ", ".join(self.reasons)

    def with_plugin(self, name: str) -> "Status":
        """This status attributed to plugin ``name`` (unless already attributed)."""
        if self.plugin:
            return self
        if self is SUCCESS:  # every bind and pre-bind answers it: one per plugin, not one per pod
            found = _SUCCESS_OF.get(name)
            if found is None:
                found = _SUCCESS_OF[name] = Status(plugin=name)
            return found
        return _make_status(self.code, self.reasons, name, self.is_success)

    @classmethod
    def unschedulable(cls, *reasons: str, resolvable: bool = True, plugin: str = "") -> "Status":
        """A rejection; ``resolvable=False`` means preemption cannot help."""
        code = _UNSCHEDULABLE if resolvable else _UNRESOLVABLE
        if cls is Status:
            return _make_status(code, reasons, plugin, False)
        return cls(code, reasons, plugin)

    @classmethod
    def error(cls, message: str, plugin: str = "") -> "Status":
        """An internal error."""
        if cls is Status:
            return _make_status(_ERROR, (message,), plugin, False)
        return cls(_ERROR, (message,), plugin)

    @classmethod
    def skip(cls) -> "Status":
        """Skip this plugin's later extension point for this pod."""
        return SKIP


_UNSCHEDULABLE, _UNRESOLVABLE, _ERROR = Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.ERROR


def _status_maker() -> Callable[[Code, tuple[str, ...], str, bool], Status]:
    """``(code, reasons, plugin, is_success)`` → the :class:`Status` that ``Status(code, reasons,
    plugin)`` makes, slot by slot (a frozen class's ``__init__`` costs several times more; the
    scheduler makes one per rejection it reports)."""
    make = slot_maker(Status, ("code", "reasons", "plugin", "is_success"))
    return make if make is not None else lambda code, reasons, plugin, is_success: Status(code, reasons, plugin)


_make_status = _status_maker()

#: The success every plugin may answer (one shared object).
SUCCESS = Status()
#: "Nothing to do for this pod at this extension point" (what :meth:`Status.skip` answers):
#: returning it saves a call per pod in a hot pre-filter or pre-score.
SKIP = Status(Code.SKIP)
#: SUCCESS attributed to each plugin name (:meth:`Status.with_plugin`).
_SUCCESS_OF: dict[str, Status] = {}


class ProfileError(ValueError):
    """A scheduler profile is invalid; the message names the profile, plugin and field."""


@attrs.frozen
class PreFilterResult:
    """A pre-filter's narrowing of the nodes to consider (None: all nodes)."""

    node_names: frozenset[str] | None = None


@attrs.frozen
class PostFilterResult:
    """A post-filter's outcome: the node nominated for the pod and the pods to evict."""

    nominated_node: str = ""
    victims: tuple[PodInfo, ...] = ()


class CycleState:
    """Per-cycle scratch space shared by the plugins (``state.write``/``state.read``)."""

    __slots__ = ("data", "skip_filter", "skip_score", "kernel_only", "query", "snapshot")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()
        #: Kernel filters whose Python part (``filter``/``filter_batch``) has nothing to check
        #: for this pod: their pre-filter said so, and only the kernel runs them.
        self.kernel_only: set[str] = set()
        self.query: sched.PodQuery = sched.PodQuery()
        self.snapshot: ClusterSnapshot | None = None

    def clone(self) -> "CycleState":
        """A copy to go on from: its own data and skip sets, the same kernel query and snapshot
        (the query is only read once the pre-filters and pre-scores have prepared it)."""
        copy = CycleState.__new__(CycleState)
        copy.data = self.data.copy()
        copy.skip_filter = self.skip_filter.copy()
        copy.skip_score = self.skip_score.copy()
        copy.kernel_only = self.kernel_only.copy()
        copy.query = self.query
        copy.snapshot = self.snapshot
        return copy

    def write(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        self.data[key] = value

    def read(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (``default`` if none)."""
        return self.data.get(key, default)


@attrs.define
class Handle:
    """What plugins may use of the scheduler: the framework, the binder, a random source.

    ``binder(pod, node_name)`` binds a pod: it returns a :class:`Status`, None (bound) or an
    awaitable of one.
    """

    framework: "Framework | None" = None
    binder: Callable[[PodInfo, str], Any] | None = None
    rng: random.Random = attrs.Factory(random.Random)


class NodeView:
    """One node for per-node plugins: name, labels, resources and pods."""

    __slots__ = ("snapshot", "slot")

    def __init__(self, snapshot: ClusterSnapshot, slot: int) -> None:
        self.snapshot = snapshot
        self.slot = slot

    @property
    def info(self) -> NodeInfo:
        """The converted node."""
        return self.snapshot.node(self.slot)

    @property
    def name(self) -> str:
        """The node's name."""
        return self.info.name

    @property
    def labels(self) -> Mapping[str, str]:
        """The node's labels."""
        return self.info.labels

    @property
    def allocatable(self) -> tuple[int, ...]:
        """(cpu millicores, memory bytes, ephemeral bytes, pods)."""
        return self.snapshot.resources(self.slot)[0]

    @property
    def requested(self) -> tuple[int, ...]:
        """Requests of the pods on the node, in the order of :attr:`allocatable`."""
        return self.snapshot.resources(self.slot)[1]

    @property
    def pods(self) -> list[PodInfo]:
        """The pods on the node."""
        return self.snapshot.pods_on(self.slot)


_RESOURCE_INDEX = {"cpu": 0, "memory": 1, "ephemeral-storage": 2, "pods": 3}


class NodeBatch:
    """Candidate nodes as columns, for batch plugins (``filter_batch``, ``score_batch``).

    ``slots`` is an ``array('i')`` of node slots; column getters return arrays aligned
    with it.
    """

    __slots__ = ("snapshot", "slots", "size")

    def __init__(self, snapshot: ClusterSnapshot, slots: array) -> None:
        self.snapshot = snapshot
        self.slots = slots
        #: The number of candidates.
        self.size = len(slots)

    def __len__(self) -> int:
        return self.size

    def names(self) -> list[str]:
        """Node names."""
        node = self.snapshot.node
        return [node(s).name for s in self.slots]

    def allocatable(self, resource: str) -> array:
        """``array('q')`` of allocatable ``resource`` (cpu in millicores)."""
        return self.snapshot.table.gather(self.slots, 0, _resource(resource))

    def requested(self, resource: str) -> array:
        """``array('q')`` of the resource requested by pods already on each node."""
        return self.snapshot.table.gather(self.slots, 1, _resource(resource))

    def label(self, key: str) -> list[str | None]:
        """Each node's value of label ``key`` (None where absent)."""
        kid = self.snapshot.keys.get(key)
        if kid < 0:
            return [None] * len(self.slots)
        items = self.snapshot.values.items
        return [items[v] if v >= 0 else None for v in self.snapshot.table.gather_labels(self.slots, kid)]

    def view(self, k: int) -> NodeView:
        """The ``k``-th candidate as a :class:`NodeView`."""
        return NodeView(self.snapshot, self.slots[k])


def _resource(name: str) -> int:
    try:
        return _RESOURCE_INDEX[name]
    except KeyError:
        raise ValueError(f"unknown resource {name!r}: expected one of {', '.join(_RESOURCE_INDEX)}") from None


class Plugin:
    """Base class of scheduling plugins: ``NAME``, default args, the handle.

    Subclasses implement the extension-point methods they need. ``DEFAULT_ARGS`` lists
    every accepted argument with its default; :meth:`validate_args` rejects others.
    """

    NAME: ClassVar[str] = ""
    DEFAULT_ARGS: ClassVar[Mapping[str, Any]] = {}
    #: Built-in filters fused in the kernel set this to their ``sched.K_*`` kind.
    KERNEL_FILTER: ClassVar[int] = 0
    #: Built-ins whose scores are known to be in range skip the per-cycle check.
    TRUSTED_SCORES: ClassVar[bool] = False
    #: Why a node is rejected when ``filter``/``filter_batch`` answers False for it
    #: (empty: ``node(s) didn't satisfy plugin <NAME>``).
    FILTER_REASON: ClassVar[str] = ""
    #: True when this class's ``pre_filter`` and ``pre_score`` write into the cycle state only
    #: what its :meth:`sign` part and the cluster decide (the kernel query, skip sets), and
    #: whether its ``score_batch`` skips a pod (answers None) is decided by them too: a pod
    #: placed from an opportunistic batch then reuses the preparation of the cycle that stored
    #: the batch instead of running them again, and is not scored by a plugin that skipped
    #: that cycle's pod. Leave False when they record anything about the pod itself (its
    #: name, for a reserve step, say). A subclass that overrides one of these methods without
    #: setting this again is prepared afresh for every pod.
    SIGNED_PREPARATION: ClassVar[bool] = False

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = args
        self.handle = handle

    @classmethod
    def validate_args(cls, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """The plugin's arguments merged over its defaults; raise :class:`ProfileError` on unknown keys."""
        args = dict(args or {})
        unknown = sorted(set(args) - set(cls.DEFAULT_ARGS))
        if unknown:
            raise ProfileError(f"plugin {cls.NAME}: unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(cls.DEFAULT_ARGS) or 'none'}")
        merged = dict(cls.DEFAULT_ARGS)
        merged.update(args)
        return merged

    def kernel_status(self, detail: int, snapshot: ClusterSnapshot) -> Status:
        """For kernel filters: the status of a node the kernel rejected with ``detail``."""
        raise NotImplementedError(f"{self.NAME} is not a kernel filter")

    def sign(self, pod: PodInfo, snapshot: ClusterSnapshot) -> Hashable | None:
        """This plugin's part of the pod's scheduling signature (opportunistic batching), or None
        when the pod's results must be computed afresh.

        Return a hashable value — usually a tuple of the pod's fields the plugin's pre-filter,
        filter, pre-score and score read — such that two pods with equal values get equal
        verdicts and scores from this plugin on every node. Return None when the plugin's verdict
        or score on a node depends on more than that node and those fields: a score normalized
        over the candidates, counts over other nodes' pods. A plugin that does not override this
        method turns batching off for its whole profile; one that does but has nothing to say
        returns ``()``.
        """
        return None

    def fuse_score(self, plan: sched.ScorePlan, weight: int, profile: PluginProfile) -> int:
        """For built-in scores the kernel computes in one pass: add this plugin's term (with
        ``weight``) to ``plan`` and return its ``sched.S_*`` bit; 0 (the default) scores the
        plugin through ``score_batch``/``score``.

        A fused term must give exactly what ``score_batch`` and its normalization would. The
        framework does not fuse a subclass that overrides ``score_batch``, ``normalize_score``
        or ``pre_score`` without also overriding ``fuse_score``.
        """
        return 0


#: Extension points and the method(s) that implement each.
EXTENSION_POINTS: dict[str, tuple[str, ...]] = {
    "queueSort": ("less",),
    "preFilter": ("pre_filter",),
    "filter": ("filter", "filter_batch", "KERNEL_FILTER"),
    "postFilter": ("post_filter",),
    "preScore": ("pre_score",),
    "score": ("score", "score_batch"),
    "reserve": ("reserve",),
    "permit": ("permit",),
    "preBind": ("pre_bind",),
    "bind": ("bind",),
    "postBind": ("post_bind",),
}


def implements(cls: type, point: str) -> bool:
    """Whether plugin class ``cls`` implements extension point ``point``."""
    for attr in EXTENSION_POINTS[point]:
        if attr == "KERNEL_FILTER":
            if getattr(cls, "KERNEL_FILTER", 0):
                return True
        elif callable(getattr(cls, attr, None)):
            return True
    return False


def num_feasible_nodes_to_find(num_nodes: int, percentage: int) -> int:
    """How many feasible nodes to look for (kube-scheduler's percentageOfNodesToScore rule)."""
    if num_nodes < MIN_FEASIBLE_NODES or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES)


@attrs.define
class PluginProfile:
    """A validated profile: plugin instances per extension point and score weights."""

    scheduler_name: str
    percentage_of_nodes_to_score: int
    points: dict[str, list[Plugin]]
    weights: dict[str, int]


class Diagnosis:
    """Why nodes were rejected in one cycle: kernel results plus Python filter statuses."""

    def __init__(self, framework: "Framework", snapshot: ClusterSnapshot, kinds: array, details: array,
                 python: dict[int, Status], pre_filter: Status | None = None) -> None:
        self.framework = framework
        self.snapshot = snapshot
        self.kinds = kinds
        self.details = details
        self.python = python
        self.pre_filter = pre_filter
        self.post_filter_msg = ""
        self._kernel_statuses: dict[tuple[int, int], Status] = {}
        self._counts: dict[tuple[int, int], int] | None = None

    def kernel_counts(self) -> dict[tuple[int, int], int]:
        """``{(kind, detail): nodes}`` of the kernel's rejections (computed once)."""
        if self._counts is None:
            table = self.snapshot.table
            self._counts = sched.reason_histogram(table, self.kinds, self.details, 0, min(table.size, len(self.kinds)))
        return self._counts

    def status(self, slot: int, key: tuple[int, int] | None = None) -> Status:
        """The status of the node in ``slot`` (success if it passed); with ``key``, the status of a
        kernel rejection ``(kind, detail)`` whatever the slot."""
        if key is None:
            if self.pre_filter is not None:
                return self.pre_filter
            if slot in self.python:
                return self.python[slot]
            kind = self.kinds[slot] if slot < len(self.kinds) else 0
            if not kind:
                return SUCCESS
            key = (kind, self.details[slot])
        st = self._kernel_statuses.get(key)
        if st is None:
            st = self._kernel_statuses[key] = self.framework.kernel_plugin(key[0]).kernel_status(key[1], self.snapshot)
        return st

    def slots_with(self, code: Code) -> array:
        """The slots of the nodes whose status has ``code`` (e.g. the nodes preemption may help), in
        order, as an ``array("i")`` (what the kernel's scans take)."""
        if self.pre_filter is not None:
            return array("i", self.snapshot.slots() if self.pre_filter.code == code else ())
        table = self.snapshot.table
        counts = self.kernel_counts()
        pairs = [key for key in counts if self.status(0, key).code == code]
        python = self.python
        if (not python and len(pairs) == len(counts) and table.size <= len(self.kinds)
                and sum(counts.values()) == table.size):
            # every slot holds a node the kernel rejected with ``code`` (a preemptor on a full
            # cluster): all of them, without a scan
            return _slot_range(table.size)
        found = sched.slots_rejected_by(table, self.kinds, self.details, pairs) if pairs else array("i")
        if not python:
            return found
        out = [s for s in found if s not in python]
        out.extend(s for s, st in python.items() if st.code == code)
        out.sort()
        return array("i", out)

    def plugins(self) -> frozenset[str]:
        """Names of the plugins that rejected at least one node (Kubernetes' UnschedulablePlugins).

        Empty when a rejection names no plugin (a pre-filter's node list, a plugin's
        unattributed status): the rejecting plugins are then unknown.
        """
        if self.pre_filter is not None:
            return frozenset([self.pre_filter.plugin]) if self.pre_filter.plugin else frozenset()
        names = {self.framework.kernel_plugin(kind).NAME for kind, _ in self.kernel_counts()}
        for st in self.python.values():
            if not st.plugin:
                return frozenset()
            names.add(st.plugin)
        return frozenset(names)

    def histogram(self) -> dict[str, int]:
        """Reason → number of nodes, over every node."""
        out: dict[str, int] = {}
        if self.pre_filter is not None:
            return out
        for key, n in self.kernel_counts().items():
            for reason in self.status(0, key).reasons:
                out[reason] = out.get(reason, 0) + n
        for st in self.python.values():
            for reason in st.reasons:
                out[reason] = out.get(reason, 0) + 1
        return out


class FitError(Exception):
    """No node fits the pod; :meth:`message` is kube-scheduler's wording (worded once, at construction:
    the pod's status, its event and the exception all carry it)."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, reasons: Mapping[str, int],
                 pre_filter_msg: str = "", post_filter_msg: str = "",
                 plugins: frozenset[str] = frozenset()) -> None:
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.reasons = dict(reasons)
        #: Plugins that rejected at least one node (for requeueing on matching cluster events).
        self.plugins = plugins
        self.pre_filter_msg = pre_filter_msg
        self.post_filter_msg = post_filter_msg
        self._message = self._wording()
        super().__init__(self._message)

    def message(self) -> str:
        """``0/N nodes are available: <count reason, ...>. <post-filter message>.``"""
        return self._message

    def _wording(self) -> str:
        msg = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_msg:
            msg += f" {self.pre_filter_msg}."
        else:
            parts = sorted(f"{n} {reason}" for reason, n in self.reasons.items())
            if parts:
                msg += f" {', '.join(parts)}."
        if self.post_filter_msg:  # a post-filter's message is a sentence of its own, as in Kubernetes
            msg += f" {self.post_filter_msg}"
        return msg

    def __str__(self) -> str:
        return self.message()


@attrs.define
class ScheduleResult:
    """The outcome of :meth:`Framework.schedule_one` (a plain record: made once per pod, so not
    frozen, which costs ~0.7 us per construction)."""

    node_name: str | None
    state: CycleState
    status: Status = SUCCESS
    fit_error: FitError | None = None
    nominated_node: str = ""
    victims: tuple[PodInfo, ...] = ()
    evaluated_nodes: int = 0
    feasible_nodes: int = 0

    @property
    def rejecting_plugins(self) -> frozenset[str]:
        """The plugins that rejected the pod (Kubernetes' UnschedulablePlugins).

        For a pod no node fits, the filters (or the pre-filter) that rejected at least one
        node; for another rejection, the plugin its status names. Empty when the pod was
        scheduled, failed with an error, or was rejected without a plugin being named —
        the scheduler then lets any cluster event retry it.
        """
        if self.fit_error is not None:
            return self.fit_error.plugins
        if self.status.is_rejected and self.status.plugin:
            return frozenset([self.status.plugin])
        return frozenset()


@attrs.define
class WaitingPod:
    """A pod held at permit until every waiting plugin allows it (or one rejects it)."""

    pod: PodInfo
    node_name: str
    pending: set[str]
    timeout: float
    outcome: Status | None = None
    _future: Any = None

    def allow(self, plugin: str) -> None:
        """Plugin ``plugin`` lets the pod through."""
        self.pending.discard(plugin)
        if not self.pending and self.outcome is None:
            self._finish(SUCCESS)

    def reject(self, plugin: str, message: str) -> None:
        """Plugin ``plugin`` rejects the pod."""
        if self.outcome is None:
            self._finish(Status.unschedulable(message, plugin=plugin))

    def _finish(self, status: Status) -> None:
        self.outcome = status
        if self._future is not None and not self._future.done():
            self._future.set_result(status)

    async def wait(self) -> Status:
        """Wait for the outcome; a timeout rejects the pod."""
        if self.outcome is not None:
            return self.outcome
        self._future = asyncio.get_running_loop().create_future()
        try:
            return await wait_for(asyncio.shield(self._future), self.timeout)
        except asyncio.TimeoutError:
            self._finish(Status.unschedulable(f"rejected due to timeout after waiting {self.timeout}s at plugin(s) {', '.join(sorted(self.pending))}"))
            return self.outcome  # type: ignore[return-value]


def _as_status(verdict: Any, reason: str) -> Status:
    """A filter's verdict on one node: a Status, None/True (passes) or False/0 (rejected for ``reason``)."""
    if isinstance(verdict, Status):
        return verdict
    if verdict is None or verdict is True or verdict == 1:
        return SUCCESS
    return Status.unschedulable(reason)


def _filter_reason(plugin: Plugin) -> str:
    """Why ``plugin``'s filter rejects a node it answers False for."""
    return plugin.FILTER_REASON or f"node(s) didn't satisfy plugin {plugin.NAME}"


def _defined_in(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def _vouches_for(cls: type, name: str, methods: tuple[str, ...]) -> bool:
    """Whether a class below :class:`Plugin` gives ``name`` and, for each of ``methods`` that
    ``cls`` has, is that method's class or a subclass of it (a subclass overriding one of
    ``methods`` without giving ``name`` again is not vouched for)."""
    owner = _defined_in(cls, name)
    if owner is None or owner is Plugin:
        return False
    return all(_defined_in(cls, m) in (None, Plugin) or issubclass(owner, _defined_in(cls, m)) for m in methods)


def _may_fuse(cls: type) -> bool:
    """Whether the class that gives ``fuse_score`` also gives the scoring it stands for (a subclass
    overriding ``score_batch``, ``normalize_score`` or ``pre_score`` alone is scored the general way)."""
    return _vouches_for(cls, "fuse_score", ("score_batch", "normalize_score", "pre_score", "score"))


def _prepares_by_signature(cls: type) -> bool:
    """Whether ``cls`` promises :attr:`Plugin.SIGNED_PREPARATION` for the ``pre_filter``,
    ``pre_score`` and ``score_batch`` it has: set by the class that gives them or by a subclass of it."""
    return cls.SIGNED_PREPARATION and _vouches_for(cls, "SIGNED_PREPARATION", ("pre_filter", "pre_score", "score_batch"))


# The helpers below hold comprehensions the scheduling cycle would otherwise hold: a comprehension
# over a function's local makes that local a cell, created on every call of the function.


def _without(plugins: list[Plugin], names: set[str] | frozenset[str]) -> list[Plugin]:
    """``plugins`` but those called one of ``names``."""
    return [p for p in plugins if p.NAME not in names]


def _slots_of(snapshot: ClusterSnapshot, names: Iterable[str]) -> set[int]:
    """The slots of the nodes called ``names`` that the snapshot holds."""
    return {snapshot.slot_of(n) for n in names} - {-1}


#: ``array("i", range(n))`` for the largest ``n`` :func:`_slot_range` was asked for.
_SLOT_RANGE = array("i")


def _slot_range(n: int) -> array:
    """``array("i", range(n))``: a copy of the start of one kept array (a memcpy, where building
    it anew makes a Python int per slot)."""
    global _SLOT_RANGE
    if len(_SLOT_RANGE) < n:
        _SLOT_RANGE = array("i", range(max(n, 2 * len(_SLOT_RANGE))))
    return _SLOT_RANGE[:n]


def _int_buffers(size: int) -> tuple[array, array, array]:
    """Three zeroed ``array('i')`` of ``size``."""
    return array("i", bytes(4 * size)), array("i", bytes(4 * size)), array("i", bytes(4 * size))


def _call(plugin: Plugin, method: str, *args: Any) -> Any:
    try:
        return getattr(plugin, method)(*args)
    except Exception as exc:  # a plugin's bug must not crash the scheduler
        return Status.error(f"plugin {plugin.NAME} failed at {method}: {exc!r}", plugin=plugin.NAME)


async def _await_status(plugin: Plugin, method: str, *args: Any) -> Status:
    try:
        result = getattr(plugin, method)(*args)
        if type(result) is not Status and inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return Status.error(f"plugin {plugin.NAME} failed at {method}: {exc!r}", plugin=plugin.NAME)
    return (result or SUCCESS).with_plugin(plugin.NAME) if isinstance(result, Status) or result is None else Status.error(
        f"plugin {plugin.NAME}: {method} returned {type(result).__name__}, not a Status", plugin=plugin.NAME)


class Framework:
    """One profile's plugins and the runner of its extension points.

    Run one :meth:`schedule_one` at a time per framework (it reuses scratch buffers and
    keeps the rotating start index of the node search).

    :param batching: reuse a pod's ranked candidates for the next pods with the same signature
        (:mod:`orchestra.scheduler.batch`); only when every filter and score plugin can sign pods.
    """

    def __init__(self, profile: PluginProfile, handle: Handle, *, batching: bool = True) -> None:
        self.profile = profile
        self.handle = handle
        self.waiting_pods: dict[str, WaitingPod] = {}
        self._next_start = 0
        pts = profile.points
        self._kernel = [p for p in pts["filter"] if p.KERNEL_FILTER]
        self._kernel_by_kind = {p.KERNEL_FILTER: p for p in self._kernel}
        self._py_filters = [p for p in pts["filter"] if callable(getattr(p, "filter_batch", None)) or callable(getattr(p, "filter", None))]
        self._scores = [(p, profile.weights.get(p.NAME, 1)) for p in pts["score"]]
        self._pre_filters = [(p, p.pre_filter) for p in pts["preFilter"]]
        self._pre_scores = [(p, p.pre_score) for p in pts["preScore"]]
        self._plan = sched.ScorePlan()
        self._filter_memo = sched.FilterMemo()
        self._fused: list[tuple[str, int]] = []
        for p, w in self._scores:
            if _may_fuse(type(p)):
                bit = p.fuse_score(self._plan, w, profile)
                if bit:
                    self._fused.append((p.NAME, bit))
        fused = {name for name, _ in self._fused}
        self._score_calls = [(p, w, getattr(p, "score_batch", None), p.TRUSTED_SCORES,
                              getattr(p, "normalize_score", None) if callable(getattr(p, "normalize_score", None)) else None)
                             for p, w in self._scores if p.NAME not in fused]
        self._buffers: tuple[array, array, array] = (array("i"), array("i"), array("i"))
        self._orders: dict[frozenset[str], array] = {}
        self._last_order: tuple[frozenset[str] | None, array] = (None, array("i"))  # None: equal to no set
        self._want = (-1, 0)
        self._cycle = 0
        #: Opportunistic batching's kept candidates (None: this framework does not batch).
        self.batch: OpportunisticBatch | None = None
        self._signers: list[Callable[[PodInfo, ClusterSnapshot], Hashable | None]] = []
        #: Whether pods placed from the batch reuse its cycle's prepared state (every pre-filter
        #: and pre-score plugin promises :attr:`Plugin.SIGNED_PREPARATION`).
        self._reuses_preparation = False
        if batching:
            signing = {p.NAME: p for point in ("preFilter", "filter", "preScore", "score") for p in pts[point]}
            if all(_defined_in(type(p), "sign") is not Plugin for p in signing.values()):
                self.batch = OpportunisticBatch()
                self._signers = [p.sign for p in signing.values()]
                self._reuses_preparation = all(_prepares_by_signature(type(p))
                                                for p, _ in self._pre_filters + self._pre_scores)
        #: Score plugins whose skipping of a pod is kept in the batch cycle's prepared state.
        self._skips_by_signature = frozenset(p.NAME for p, _ in self._scores
                                             if self._reuses_preparation and _prepares_by_signature(type(p)))

    @property
    def fused_scores(self) -> list[str]:
        """The score plugins the kernel computes in one fused pass (see :meth:`Plugin.fuse_score`)."""
        return [name for name, _ in self._fused]

    def _order(self, skip: set[str]) -> array:
        """The kinds of the kernel filters to run, those in ``skip`` left out (cached per set;
        consecutive pods mostly skip the same plugins, so the last set is tried first)."""
        last, order = self._last_order
        if skip == last:
            return order
        key = frozenset(skip)
        order = self._orders.get(key)
        if order is None:
            order = self._orders[key] = array("i", [p.KERNEL_FILTER for p in _without(self._kernel, key)])
        self._last_order = (key, order)
        return order

    def _num_to_find(self, num_nodes: int) -> int:
        nodes, want = self._want
        if nodes != num_nodes:
            want = num_feasible_nodes_to_find(num_nodes, self.profile.percentage_of_nodes_to_score)
            self._want = (num_nodes, want)
        return want

    def _scratch(self, slots: int) -> tuple[array, array, array]:
        if len(self._buffers[0]) < slots:
            self._buffers = _int_buffers(max(slots, 2 * len(self._buffers[0])))
        return self._buffers

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any] | None, plugins: Any, *, binder: Callable | None = None,
                     rng: random.Random | None = None, batching: bool = True) -> "Framework":
        """Build a framework from a KubeSchedulerConfiguration profile dict.

        :param profile: ``schedulerName``, ``percentageOfNodesToScore``, ``plugins``
            (per extension point and ``multiPoint``: ``enabled``/``disabled`` lists of
            ``{name, weight}``) and ``pluginConfig`` (``[{name, args}]``). Missing
            parts fall back to the default profile.
        :param plugins: a pluggy plugin manager (its ``orchestra_scheduler_plugins``
            hook is called), a ``{name: class}`` mapping or an iterable of classes.
        :param batching: see :class:`Framework`.
        """
        from orchestra.scheduler.profiles import build_profile

        handle = Handle(binder=binder, rng=rng or random.Random())
        fw = cls(build_profile(profile or {}, plugin_registry(plugins), handle), handle, batching=batching)
        handle.framework = fw
        return fw

    def kernel_plugin(self, kind: int) -> Plugin:
        """The enabled plugin behind kernel filter ``kind``."""
        return self._kernel_by_kind[kind]

    @property
    def scheduler_name(self) -> str:
        """The profile's ``schedulerName``."""
        return self.profile.scheduler_name

    def plugins(self, point: str) -> list[Plugin]:
        """The enabled plugins of an extension point, in order."""
        return list(self.profile.points[point])

    def has_plugins(self, point: str) -> bool:
        """Whether any plugin is enabled at an extension point (else running it does nothing)."""
        return bool(self.profile.points[point])

    # ------------------------------------------------------------------ queue sort

    def less(self, a: Any, b: Any) -> bool:
        """Queue order: whether ``a`` goes before ``b`` (the queue-sort plugin decides)."""
        sorters = self.profile.points["queueSort"]
        if not sorters:
            raise ProfileError(f"profile {self.scheduler_name}: no queueSort plugin is enabled")
        return bool(sorters[0].less(a, b))

    # ------------------------------------------------------------------ scheduling cycle

    def schedule_one(self, pod: Mapping[str, Any] | PodInfo, snapshot: ClusterSnapshot,
                     nominated: str = "") -> ScheduleResult:
        """Find a node for ``pod``: pre-filter, filter, post-filter on failure, score, select.

        ``nominated``: the node a preemption made room on for this pod; when it passes every
        filter it is chosen without searching the others (Kubernetes' PreferNominatedNode).
        The snapshot is not changed; the caller assumes the pod on the chosen node.

        With batching, a pod with the signature of the previous cycle's pod is placed from that
        cycle's ranked candidates (:mod:`orchestra.scheduler.batch`) when the cluster changed only
        on the node the previous pod went to.
        """
        self._cycle += 1
        info = pod if isinstance(pod, PodInfo) else PodInfo.from_dict(pod)
        num_nodes = snapshot.num_nodes
        opportunistic = self.batch
        signature: tuple | None = None
        signed = False  # signed only when a batch could serve the pod or keep its cycle's candidates
        usable = False  # the batch may serve the pod (the cycle does not change the snapshot)
        if num_nodes and opportunistic is not None and opportunistic.follows(self._cycle):
            signature, signed = self._sign(info, snapshot), True
            usable = signature is not None and opportunistic.usable(signature, snapshot)
            prepared = opportunistic.prepared
            if usable and prepared is not None and not nominated:
                result = self._from_prepared_batch(info, snapshot, prepared)
                if result is not None:
                    return result
                usable = False  # the batch had no node left and is cleared
        state = CycleState()
        state.snapshot = snapshot
        if num_nodes == 0:
            err = FitError(info, 0, {}, pre_filter_msg="no nodes available to schedule pods")
            return ScheduleResult(None, state, Status.unschedulable(err.message()), fit_error=err)
        status = self.run_pre_filter(state, info, snapshot)
        if status is not SUCCESS:
            if status.code == Code.ERROR:
                return ScheduleResult(None, state, status)
            if status.is_rejected:
                diag = Diagnosis(self, snapshot, array("i"), array("i"), {}, pre_filter=status)
                return self._unschedulable(state, info, snapshot, diag)

        slots = snapshot.num_slots
        want = self._num_to_find(num_nodes)
        kinds, details, buf = self._scratch(slots)
        skip = state.skip_filter
        order = self._order(skip)
        drop = skip | state.kernel_only if state.kernel_only else skip
        py_filters = _without(self._py_filters, drop) if drop else self._py_filters
        allowed = state.data.get("__allowed_slots__")
        python_failures: dict[int, Status] = {}
        slot = snapshot.slot_of(nominated) if nominated else -1
        if slot >= 0:
            found, error = self._fits(state, info, snapshot, slot, order, py_filters, allowed)
            if error is not None:
                return ScheduleResult(None, state, error)
            if found:
                return ScheduleResult(nominated, state, evaluated_nodes=1, feasible_nodes=1)
        if usable:
            # a batch without a reusable preparation, or a nominated pod whose node did not fit
            result = self._from_batch(state, info, snapshot, order, py_filters, allowed)
            if result is not None:
                return result
        start = self._next_start % slots
        if allowed is None and not py_filters:
            # the kernel is the whole filter: one scan finds the wanted nodes or visits every slot
            found, visited = sched.run_filters(snapshot.table, state.query, order, start, want, buf, kinds, details, slots,
                                               self._filter_memo)
            feasible = buf[:found]
        else:
            feasible = array("i")
            visited = 0
            while visited < slots and len(feasible) < want:
                found, scanned = sched.run_filters(snapshot.table, state.query, order, (start + visited) % slots,
                                                   want - len(feasible), buf, kinds, details, slots - visited,
                                                   self._filter_memo)
                visited += scanned
                batch, error = self._python_filters(state, info, snapshot, buf[:found], py_filters, allowed, python_failures)
                if error is not None:
                    return ScheduleResult(None, state, error)
                feasible.extend(batch)
        self._next_start = (start + visited) % slots
        if not feasible:
            diag = Diagnosis(self, snapshot, kinds[:slots], details[:slots], python_failures)
            return self._unschedulable(state, info, snapshot, diag)
        if len(feasible) == 1:
            node = snapshot.node(feasible[0]).name
            return ScheduleResult(node, state, evaluated_nodes=visited, feasible_nodes=1)
        cand = feasible
        totals, error = self.run_scores(state, info, snapshot, cand)
        if error is not None:
            return ScheduleResult(None, state, error)
        best = sched.select_best(totals, self.handle.rng.getrandbits(62))
        if opportunistic is not None:
            if not signed:
                signature = self._sign(info, snapshot)
            if signature is not None:
                prepared = (state.clone(), order, py_filters) if self._reuses_preparation else None
                opportunistic.store(signature, cand, totals, best, snapshot.generation, self._cycle, prepared)
        return ScheduleResult(snapshot.node(cand[best]).name, state, evaluated_nodes=visited, feasible_nodes=len(feasible))

    def _sign(self, info: PodInfo, snapshot: ClusterSnapshot) -> tuple | None:
        """The pod's scheduling signature: every signing plugin's part, or None when one has none."""
        parts = []
        for sign in self._signers:
            try:
                part = sign(info, snapshot)
            except Exception:  # a plugin's bug must not crash the scheduler: the pod is scheduled in full
                return None
            if part is None:
                return None
            parts.append(part)
        return tuple(parts)

    def _fits(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot, slot: int, order: array,
              py_filters: list[Plugin], allowed: set[int] | None) -> tuple[bool, Status | None]:
        """Whether the node in ``slot`` passes the kernel's and the Python filters (with an error
        status when a Python filter fails)."""
        kinds, details, buf = self._scratch(snapshot.num_slots)
        found, _ = sched.run_filters(snapshot.table, state.query, order, slot, 1, buf, kinds, details, 1)
        if found and (allowed is not None or py_filters):
            kept, error = self._python_filters(state, info, snapshot, buf[:1], py_filters, allowed, {})
            if error is not None:
                return False, error
            found = len(kept)
        return bool(found), None

    def _from_prepared_batch(self, info: PodInfo, snapshot: ClusterSnapshot,
                             prepared: tuple[CycleState, array, list[Plugin]]) -> ScheduleResult | None:
        """:meth:`_from_batch` on a copy of the cycle state the batch's cycle prepared (its
        pre-filters and pre-scores are not run again: see :attr:`Plugin.SIGNED_PREPARATION`)."""
        stored, order, py_filters = prepared
        state = stored.clone()
        state.snapshot = snapshot
        return self._from_batch(state, info, snapshot, order, py_filters, state.data.get("__allowed_slots__"),
                                prepared=True)

    def _from_batch(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot, order: array,
                    py_filters: list[Plugin], allowed: set[int] | None, *, prepared: bool = False) -> ScheduleResult | None:
        """Place the pod from the batch: check and rescore the node the previous pod went to, and
        take it or the best kept candidate. None when the batch has no node left.
        ``prepared``: ``state`` is a copy of the batch cycle's, pre-scores included."""
        batch = self.batch
        assert batch is not None
        chosen = batch.chosen
        found, error = self._fits(state, info, snapshot, chosen, order, py_filters, allowed)
        if error is not None:
            return ScheduleResult(None, state, error)
        total = None
        if found:
            totals, error = self.run_scores(state, info, snapshot, array("i", (chosen,)), prepared=prepared)
            if error is not None:
                return ScheduleResult(None, state, error)
            total = totals[0]
        slot = batch.take(total, snapshot.generation, self._cycle)
        if slot < 0:
            batch.clear()
            return None
        return ScheduleResult(snapshot.node(slot).name, state, evaluated_nodes=1, feasible_nodes=1)

    def run_pre_filter(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot) -> Status:
        """Prepare the pod's kernel query and run every pre-filter plugin."""
        state.query.set_pod_requests(info.requests, info.non_zero)
        allowed: set[str] | None = None
        skip = state.skip_filter
        for p, pre_filter in self._pre_filters:
            try:
                result = pre_filter(state, info, snapshot)
            except Exception as exc:  # a plugin's bug must not crash the scheduler
                return Status.error(f"plugin {p.NAME} failed at pre_filter: {exc!r}", plugin=p.NAME)
            if result is None:
                continue
            if result is SKIP:
                skip.add(p.NAME)
                continue
            if isinstance(result, PreFilterResult):
                if result.node_names is not None:
                    allowed = set(result.node_names) if allowed is None else allowed & result.node_names
                continue
            if not isinstance(result, Status):
                return Status.error(f"plugin {p.NAME}: pre_filter returned {type(result).__name__}", plugin=p.NAME)
            if result.code == Code.SKIP:
                skip.add(p.NAME)
            elif not result.is_success:
                return result.with_plugin(p.NAME)
        if allowed is not None:
            state.write("__allowed_slots__", _slots_of(snapshot, allowed))
        return SUCCESS

    def _python_filters(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot, batch: array,
                        plugins: Sequence[Plugin], allowed: set[int] | None,
                        failures: dict[int, Status]) -> tuple[array, Status | None]:
        if allowed is not None:
            keep = array("i")
            for s in batch:
                if s in allowed:
                    keep.append(s)
                else:
                    failures[s] = Status.unschedulable("node(s) didn't satisfy plugin(s) of pre-filter", resolvable=False)
            batch = keep
        for p in plugins:
            if not len(batch):
                break
            reason = _filter_reason(p)
            if callable(getattr(p, "filter_batch", None)):
                mask = _call(p, "filter_batch", state, info, NodeBatch(snapshot, batch))
                if isinstance(mask, Status):
                    return batch, mask
                if mask is None:
                    continue
                split = sched.split_verdicts(batch, mask) if type(mask) is list and len(mask) == len(batch) else None
                if split is not None:  # plain booleans (and None): sorted in the kernel
                    batch, rejected = split
                    if rejected:
                        failures.update(dict.fromkeys(rejected, Status.unschedulable(reason, plugin=p.NAME)))
                    continue
                try:
                    statuses = [_as_status(ok, reason) for ok in mask]
                except TypeError:
                    return batch, Status.error(f"plugin {p.NAME}: filter_batch returned {type(mask).__name__}, not a sequence", plugin=p.NAME)
            else:
                statuses = [_as_status(_call(p, "filter", state, info, NodeView(snapshot, s)), reason) for s in batch]
            if len(statuses) != len(batch):
                return batch, Status.error(f"plugin {p.NAME}: filter returned {len(statuses)} results for {len(batch)} nodes", plugin=p.NAME)
            keep = array("i")
            for s, st in zip(batch, statuses):
                if st.code == Code.ERROR:
                    return batch, st.with_plugin(p.NAME)
                if st.is_success:
                    keep.append(s)
                else:
                    failures[s] = st.with_plugin(p.NAME)
            batch = keep
        return batch, None

    def run_scores(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot, cand: array, *,
                   prepared: bool = False) -> tuple[array, Status | None]:
        """Pre-score and score the candidates; return the weighted totals (or an error).
        ``prepared``: the pre-scores ran on ``state`` already (it is a batch cycle's copy)."""
        batch = NodeBatch(snapshot, cand)
        for p, pre_score in () if prepared else self._pre_scores:
            try:
                st = pre_score(state, info, batch)
            except Exception as exc:  # a plugin's bug must not crash the scheduler
                return array("q"), Status.error(f"plugin {p.NAME} failed at pre_score: {exc!r}", plugin=p.NAME)
            if st is None:
                continue
            if st is SKIP:
                state.skip_score.add(p.NAME)
            elif isinstance(st, Status):
                if st.code == Code.SKIP:
                    state.skip_score.add(p.NAME)
                elif not st.is_success:
                    return array("q"), st.with_plugin(p.NAME)
        skip = state.skip_score
        if self._fused:
            mask = 0
            if skip:
                for name, bit in self._fused:
                    if name in skip:
                        mask |= bit
            totals = self._plan.run(snapshot.table, state.query, cand, snapshot.num_nodes, mask)
        else:
            totals = array("q", bytes(8 * len(cand)))
        accumulate = sched.accumulate
        for p, weight, score_batch, trusted, normalize in self._score_calls:
            if skip and p.NAME in skip:
                continue
            if score_batch is not None:
                try:
                    scores = score_batch(state, info, batch)
                except Exception as exc:
                    return totals, Status.error(f"plugin {p.NAME} failed at score_batch: {exc!r}", plugin=p.NAME)
                if scores is None:
                    if p.NAME in self._skips_by_signature:
                        skip.add(p.NAME)  # the pods a batch of this cycle serves skip it too
                    continue
                if trusted:
                    accumulate(totals, scores, weight)
                    continue
            else:
                scores = []
                for s in cand:
                    v = _call(p, "score", state, info, NodeView(snapshot, s))
                    if isinstance(v, Status):
                        scores = v
                        break
                    scores.append(v)
            if isinstance(scores, Status):
                return totals, scores.with_plugin(p.NAME)
            try:
                scores = sched.as_int64_array(scores)  # an array('q') passes through as it is
            except (TypeError, OverflowError) as exc:
                return totals, Status.error(f"plugin {p.NAME}: scores are not integers: {exc}", plugin=p.NAME)
            if len(scores) != len(cand):
                return totals, Status.error(f"plugin {p.NAME}: {len(scores)} scores for {len(cand)} nodes", plugin=p.NAME)
            if p.TRUSTED_SCORES:
                sched.accumulate(totals, scores, weight)
                continue
            if normalize is not None:
                try:
                    st = normalize(state, info, scores)
                except Exception as exc:  # a plugin's bug must not crash the scheduler
                    return totals, Status.error(f"plugin {p.NAME} failed at normalize_score: {exc!r}", plugin=p.NAME)
                if isinstance(st, Status) and not st.is_success:
                    return totals, st.with_plugin(p.NAME)
            bad = sched.in_range(scores, 0, MAX_NODE_SCORE)
            if bad >= 0:
                return totals, Status.error(f"plugin {p.NAME} returned score {scores[bad]} for node {snapshot.node(cand[bad]).name}, outside [0, {MAX_NODE_SCORE}]", plugin=p.NAME)
            sched.accumulate(totals, scores, weight)
        return totals, None

    def _unschedulable(self, state: CycleState, info: PodInfo, snapshot: ClusterSnapshot, diag: Diagnosis) -> ScheduleResult:
        nominated, victims, post_msg = "", (), ""
        for p in self.profile.points["postFilter"]:
            result = _call(p, "post_filter", state, info, snapshot, diag)
            if result is None:
                continue
            if isinstance(result, Status):
                if result.code == Code.ERROR:
                    return ScheduleResult(None, state, result)
                post_msg = result.message()
                continue
            if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], Status):
                return ScheduleResult(None, state, Status.error(
                    f"plugin {p.NAME}: post_filter must return (PostFilterResult | None, Status)", plugin=p.NAME))
            res, st = result
            if st.is_success and res is not None and res.nominated_node:
                nominated, victims = res.nominated_node, res.victims
                post_msg = ""
                break
            if st.code == Code.ERROR:
                return ScheduleResult(None, state, st.with_plugin(p.NAME))
            post_msg = st.message()
        pre_msg = diag.pre_filter.message() if diag.pre_filter is not None else ""
        err = FitError(info, snapshot.num_nodes, diag.histogram(), pre_filter_msg=pre_msg, post_filter_msg=post_msg,
                       plugins=diag.plugins())
        return ScheduleResult(None, state, Status.unschedulable(err.message()), fit_error=err,
                              nominated_node=nominated, victims=tuple(victims))

    def check_node(self, info: PodInfo, snapshot: ClusterSnapshot, slot: int) -> Status:
        """Run pre-filter and every filter for one node (used by preemption's dry runs)."""
        state = CycleState()
        state.snapshot = snapshot
        status = self.run_pre_filter(state, info, snapshot)
        if not status.is_success:
            return status
        slots = snapshot.num_slots
        kinds = array("i", bytes(4 * slots))
        details = array("i", bytes(4 * slots))
        buf = array("i", [0])
        order = self._order(state.skip_filter)
        found, _ = sched.run_filters(snapshot.table, state.query, order, slot, 1, buf, kinds, details, 1)
        if not found:
            return self.kernel_plugin(kinds[slot]).kernel_status(details[slot], snapshot)
        failures: dict[int, Status] = {}
        py = [p for p in self._py_filters if p.NAME not in state.skip_filter and p.NAME not in state.kernel_only]
        batch, error = self._python_filters(state, info, snapshot, array("i", [slot]), py, state.read("__allowed_slots__"), failures)
        if error is not None:
            return error
        return failures.get(slot, SUCCESS)

    # ------------------------------------------------------------------ binding cycle

    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Reserve in order; on failure the caller runs :meth:`run_unreserve`."""
        for p in self.profile.points["reserve"]:
            st = _call(p, "reserve", state, pod, node_name)
            if isinstance(st, Status) and not st.is_success:
                return st.with_plugin(p.NAME)
        return SUCCESS

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Unreserve in reverse order; errors are ignored (unreserve must be idempotent)."""
        for p in reversed(self.profile.points["reserve"]):
            if callable(getattr(p, "unreserve", None)):
                _call(p, "unreserve", state, pod, node_name)

    def run_permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Permit; WAIT parks the pod in :attr:`waiting_pods` (await :meth:`wait_on_permit`)."""
        waiting: set[str] = set()
        timeout = 0.0
        for p in self.profile.points["permit"]:
            result = _call(p, "permit", state, pod, node_name)
            st, t = (result, 0.0) if not isinstance(result, tuple) else result
            st = st or SUCCESS
            if st.code == Code.WAIT:
                waiting.add(p.NAME)
                timeout = t if not timeout else min(timeout, t)
            elif not st.is_success:
                return st.with_plugin(p.NAME)
        if waiting:
            self.waiting_pods[pod.uid or pod.key] = WaitingPod(pod, node_name, waiting, timeout or 0.0)
            return Status(Code.WAIT)
        return SUCCESS

    async def wait_on_permit(self, pod: PodInfo) -> Status:
        """Wait until a parked pod is allowed, rejected or timed out."""
        wp = self.waiting_pods.get(pod.uid or pod.key)
        if wp is None:
            return SUCCESS
        try:
            return await wp.wait()
        finally:
            self.waiting_pods.pop(pod.uid or pod.key, None)

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Pre-bind in order; stop at the first failure."""
        for p in self.profile.points["preBind"]:
            st = await _await_status(p, "pre_bind", state, pod, node_name)
            if not st.is_success:
                return st
        return SUCCESS

    async def run_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Bind: the first plugin not answering SKIP binds the pod."""
        for p in self.profile.points["bind"]:
            st = await _await_status(p, "bind", state, pod, node_name)
            if st.code == Code.SKIP:
                continue
            return st
        return Status.error("no bind plugin bound the pod")

    async def run_post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Post-bind (informational)."""
        for p in self.profile.points["postBind"]:
            await _await_status(p, "post_bind", state, pod, node_name)


def plugin_registry(plugins: Any) -> dict[str, type]:
    """``{NAME: class}`` from a plugin manager, a mapping or an iterable of classes."""
    if isinstance(plugins, Mapping):
        classes: Iterable[type] = plugins.values()
    elif hasattr(plugins, "hook"):
        classes = [c for group in plugins.hook.orchestra_scheduler_plugins() for c in group or ()]
    else:
        classes = list(plugins)
    out: dict[str, type] = {}
    for c in classes:
        name = getattr(c, "NAME", "")
        if not name or not isinstance(name, str):
            raise ProfileError(f"scheduling plugin class {c!r} has no NAME")
        if name in out and out[name] is not c:
            raise ProfileError(f"two scheduling plugins are called {name!r}: {out[name]!r} and {c!r}")
        out[name] = c
    return out

