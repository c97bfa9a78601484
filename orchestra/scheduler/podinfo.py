"""Compact, immutable views of pods and nodes, converted once from their wire dicts.

The scheduler receives pods and nodes as the API serves them (camelCase dicts). Each is
converted ONCE into a :class:`PodInfo` / :class:`NodeInfo`: resource requests as integers
(millicores, bytes), label selectors and affinity terms compiled into hashable values
(so equal terms of many pods share trackers in the snapshot), tolerations, host ports,
topology-spread constraints, priority and image names.
"""

from __future__ import annotations

import datetime
import functools

from typing import Any, Callable, Mapping

import attrs

from orchestra.api.quantity import Quantity, QuantityError
from orchestra.records import replacer

__all__ = [
    "AffinityTerm",
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLICPU_REQUEST",
    "HostPort",
    "LabelRequirement",
    "NOT_STARTED",
    "NodeInfo",
    "NodeTerm",
    "PodInfo",
    "PodInfoError",
    "Selector",
    "SpreadConstraint",
    "Taint",
    "Toleration",
    "WeightedNodeTerm",
    "WeightedTerm",
    "normalized_image_name",
    "pod_key",
    "start_micros",
]

#: Requests assumed for scoring when a container states none (Kubernetes' non-zero defaults).
DEFAULT_MILLICPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

_STANDARD = ("cpu", "memory", "ephemeral-storage", "pods")
_quantity_cache: dict[tuple[str, bool], int] = {}


class PodInfoError(ValueError):
    """A pod or node dict cannot be read; the message names the object and the field."""


def pod_key(namespace: str, name: str) -> str:
    """The ``namespace/name`` key of a pod."""
    return f"{namespace}/{name}"


def _amount(value: Any, milli: bool, where: str) -> int:
    text = str(value)
    key = (text, milli)
    hit = _quantity_cache.get(key)
    if hit is not None:
        return hit
    try:
        q = Quantity.decode(value)
    except QuantityError as exc:
        raise PodInfoError(f"{where}: {exc}") from None
    result = q.milli_value() if milli else q.value()
    if len(_quantity_cache) < 4096:
        _quantity_cache[key] = result
    return result


def _resource_list(d: Mapping[str, Any] | None, where: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (d or {}).items():
        out[name] = _amount(value, name == "cpu", f"{where}.{name}")
    return out


def normalized_image_name(name: str) -> str:
    """An image name with ``:latest`` added when it has no tag (as ImageLocality compares)."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


# --------------------------------------------------------------------------- selectors


@attrs.frozen(cache_hash=True)
class LabelRequirement:
    """One label requirement: ``key`` ``operator`` (In, NotIn, Exists, DoesNotExist) ``values``."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies this requirement."""
        op = self.operator
        if op == "In":
            return labels.get(self.key) in self.values
        if op == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if op == "Exists":
            return self.key in labels
        return self.key not in labels


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


@attrs.frozen(cache_hash=True)
class Selector:
    """A compiled label selector; ``nothing`` is the selector matching no labels at all."""

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies every requirement."""
        if self.nothing:
            return False
        for r in self.requirements:
            if not r.matches(labels):
                return False
        return True

    @classmethod
    def from_api(cls, d: Any, where: str, *, none_matches_nothing: bool = True) -> "Selector":
        """Compile a ``LabelSelector`` dict; a missing selector matches nothing by default."""
        if d is None:
            return cls(nothing=True) if none_matches_nothing else cls()
        if not isinstance(d, dict):
            raise PodInfoError(f"{where}: a label selector must be a map")
        reqs = [LabelRequirement(str(k), "In", frozenset([str(v)])) for k, v in (d.get("matchLabels") or {}).items()]
        for i, e in enumerate(d.get("matchExpressions") or []):
            op = e.get("operator") if isinstance(e, dict) else None
            if op not in _SELECTOR_OPS:
                raise PodInfoError(f"{where}.matchExpressions[{i}].operator: {op!r} is not one of {', '.join(_SELECTOR_OPS)}")
            reqs.append(LabelRequirement(str(e.get("key", "")), op, frozenset(str(v) for v in e.get("values") or ())))
        return cls(tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator, sorted(r.values)))))

    def with_label_keys(self, keys: Any, labels: Mapping[str, str]) -> "Selector":
        """This selector plus ``key In (labels[key])`` for each of ``keys`` the labels carry (matchLabelKeys)."""
        extra = [LabelRequirement(k, "In", frozenset([labels[k]])) for k in keys or () if k in labels]
        if not extra or self.nothing:
            return self
        return Selector(tuple(sorted(set(self.requirements) | set(extra), key=lambda r: (r.key, r.operator, sorted(r.values)))))


@attrs.frozen(cache_hash=True)
class NodeTerm:
    """A node selector term: every ``(key, operator, values)`` must hold (``fields`` on metadata.name)."""

    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    fields: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        """Whether a node with these labels and name satisfies the term (empty terms match nothing)."""
        if not self.expressions and not self.fields:
            return False
        for key, op, values in self.expressions:
            if not _node_requirement(labels, key, op, values):
                return False
        for key, op, values in self.fields:
            if not _node_requirement({key: node_name}, key, op, values):
                return False
        return True

    @classmethod
    def from_api(cls, d: Any, where: str) -> "NodeTerm":
        """Compile a ``NodeSelectorTerm`` dict."""
        if not isinstance(d, dict):
            raise PodInfoError(f"{where}: a node selector term must be a map")
        return cls(_node_reqs(d.get("matchExpressions"), f"{where}.matchExpressions"),
                   _node_reqs(d.get("matchFields"), f"{where}.matchFields", fields=True))


_NODE_OPS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def _node_reqs(items: Any, where: str, fields: bool = False) -> tuple:
    out = []
    for i, e in enumerate(items or ()):
        op = e.get("operator") if isinstance(e, dict) else None
        if op not in _NODE_OPS:
            raise PodInfoError(f"{where}[{i}].operator: {op!r} is not one of {', '.join(_NODE_OPS)}")
        key = str(e.get("key", ""))
        if fields and key != "metadata.name":
            raise PodInfoError(f"{where}[{i}].key: only metadata.name is supported, not {key!r}")
        values = tuple(str(v) for v in e.get("values") or ())
        if op in ("Gt", "Lt"):
            if len(values) != 1 or _as_int(values[0]) is None:
                raise PodInfoError(f"{where}[{i}].values: {op} needs exactly one integer value")
        out.append((key, op, values))
    return tuple(out)


def _as_int(text: str) -> int | None:
    try:
        v = int(text, 10)
    except ValueError:
        return None
    return v if -(1 << 63) <= v < (1 << 63) else None


def _node_requirement(labels: Mapping[str, str], key: str, op: str, values: tuple[str, ...]) -> bool:
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if key not in labels:
        return False
    have = _as_int(labels[key])
    if have is None:
        return False
    return have > int(values[0]) if op == "Gt" else have < int(values[0])


@attrs.frozen(cache_hash=True)
class WeightedNodeTerm:
    """A preferred node-affinity term and its weight (1-100)."""

    weight: int
    term: NodeTerm


@attrs.frozen(cache_hash=True)
class AffinityTerm:
    """A pod (anti-)affinity term, with the namespaces it applies to resolved.

    ``namespaces`` None means every namespace; ``namespace_selector`` (if set) adds the
    namespaces whose labels it matches.
    """

    selector: Selector
    topology_key: str
    namespaces: frozenset[str] | None
    namespace_selector: Selector | None = None

    def matches(self, pod: "PodInfo", namespace_labels: Callable[[str], Mapping[str, str]] | None = None) -> bool:
        """Whether ``pod`` is selected by this term."""
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            if self.namespace_selector is None or namespace_labels is None:
                return False
            if not self.namespace_selector.matches(namespace_labels(pod.namespace)):
                return False
        return self.selector.matches(pod.labels)

    @classmethod
    def from_api(cls, d: Any, owner_namespace: str, where: str) -> "AffinityTerm":
        """Compile a ``PodAffinityTerm`` dict of a pod in ``owner_namespace``."""
        if not isinstance(d, dict):
            raise PodInfoError(f"{where}: a pod affinity term must be a map")
        key = d.get("topologyKey")
        if not key:
            raise PodInfoError(f"{where}.topologyKey: required")
        selector = Selector.from_api(d.get("labelSelector"), f"{where}.labelSelector")
        namespaces = frozenset(d.get("namespaces") or ())
        ns_sel_raw = d.get("namespaceSelector")
        ns_selector = None
        if ns_sel_raw is not None:
            ns_selector = Selector.from_api(ns_sel_raw, f"{where}.namespaceSelector")
            if not ns_selector.requirements:
                return cls(selector, key, None, None)
        elif not namespaces:
            namespaces = frozenset([owner_namespace])
        return cls(selector, key, namespaces, ns_selector)


@attrs.frozen(cache_hash=True)
class WeightedTerm:
    """A preferred pod (anti-)affinity term and its weight."""

    weight: int
    term: AffinityTerm


@attrs.frozen(cache_hash=True)
class Toleration:
    """A pod toleration (empty key with Exists tolerates everything)."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """Whether this toleration tolerates the taint ``key=value:effect``."""
        if self.effect and self.effect != effect:
            return False
        if self.key and self.key != key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == value


@attrs.frozen(cache_hash=True)
class Taint:
    """A node taint."""

    key: str
    value: str
    effect: str


@attrs.frozen
class HostPort:
    """A host port a container asks for; ``host_ip`` ``0.0.0.0`` means every address."""

    protocol: str
    host_ip: str
    port: int

    def conflicts(self, other: "HostPort") -> bool:
        """Whether two uses of host ports collide (same port and protocol, overlapping IPs)."""
        if self.port != other.port or self.protocol != other.protocol:
            return False
        return self.host_ip == other.host_ip or "0.0.0.0" in (self.host_ip, other.host_ip)


@attrs.frozen(cache_hash=True)
class SpreadConstraint:
    """A topology spread constraint (``hard`` for DoNotSchedule)."""

    max_skew: int
    topology_key: str
    hard: bool
    selector: Selector
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_node_taints: bool = False


@attrs.frozen
class NodeInfo:
    """A node as the scheduler sees it."""

    name: str
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    allocatable: tuple[int, int, int, int]
    scalar_allocatable: dict[str, int]
    images: tuple[tuple[tuple[str, ...], int], ...]

    @classmethod
    def from_dict(cls, node: Mapping[str, Any]) -> "NodeInfo":
        """Convert a Node wire dict; raise :class:`PodInfoError` naming the bad field."""
        meta = node.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise PodInfoError("node: metadata.name is required")
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        alloc = _resource_list(status.get("allocatable") or status.get("capacity"), f"node {name}: status.allocatable")
        taints = []
        for i, t in enumerate(spec.get("taints") or ()):
            effect = t.get("effect", "")
            if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                raise PodInfoError(f"node {name}: spec.taints[{i}].effect: {effect!r} is not NoSchedule, PreferNoSchedule or NoExecute")
            taints.append(Taint(str(t.get("key", "")), str(t.get("value", "") or ""), effect))
        images = tuple(
            (tuple(img.get("names") or ()), int(img.get("sizeBytes") or 0)) for img in status.get("images") or ()
        )
        return cls(
            name=name,
            labels=dict(meta.get("labels") or {}),
            taints=tuple(taints),
            unschedulable=bool(spec.get("unschedulable")),
            allocatable=tuple(alloc.get(r, 0) for r in _STANDARD),
            scalar_allocatable={k: v for k, v in alloc.items() if k not in _STANDARD},
            images=images,
        )


#: The start of a pod that has not started (or whose start time cannot be read): after any real one.
NOT_STARTED = (1 << 62)


_tolerations: dict[tuple[str, str, str, str], "Toleration"] = {}


def _toleration(t: Mapping[str, Any]) -> "Toleration":
    """The Toleration of a wire dict, shared between pods (every pod the API server admits carries
    the same default tolerations)."""
    fields = (str(t.get("key") or ""), t.get("operator") or "Equal", str(t.get("value") or ""), t.get("effect") or "")
    tol = _tolerations.get(fields)
    if tol is None:
        if len(_tolerations) >= 4096:
            _tolerations.clear()
        tol = _tolerations[fields] = Toleration(*fields)
    return tol


@functools.lru_cache(maxsize=4096)
def start_micros(text: str) -> int:
    """An RFC 3339 timestamp as integer microseconds since the epoch (:data:`NOT_STARTED` if empty or unreadable)."""
    if not text:
        return NOT_STARTED
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return NOT_STARTED
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@attrs.frozen
class PodInfo:
    """A pod as the scheduler sees it: requests as integers, selectors and terms compiled.

    ``requests`` and ``non_zero`` are (cpu millicores, memory bytes, ephemeral bytes);
    ``scalar_requests`` holds extended resources.
    """

    key: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    priority: int
    preemption_policy: str
    node_name: str
    scheduler_name: str
    requests: tuple[int, int, int]
    non_zero: tuple[int, int]
    scalar_requests: dict[str, int]
    node_selector: tuple[tuple[str, str], ...]
    required_node_terms: tuple[NodeTerm, ...] | None
    preferred_node_terms: tuple[WeightedNodeTerm, ...]
    tolerations: tuple[Toleration, ...]
    host_ports: tuple[HostPort, ...]
    spread: tuple[SpreadConstraint, ...]
    affinity_required: tuple[AffinityTerm, ...]
    affinity_preferred: tuple[WeightedTerm, ...]
    anti_required: tuple[AffinityTerm, ...]
    anti_preferred: tuple[WeightedTerm, ...]
    images: tuple[str, ...]
    num_containers: int
    start_time: str
    nominated_node: str
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    #: The pod has a deletionTimestamp (topology spreading does not count it).
    terminating: bool = False
    #: :attr:`start_time` as microseconds since the epoch, for ordering pods by start. A pod
    #: without a (readable) start time counts as starting now, after every started pod
    #: (Kubernetes' ``GetPodStartTime``): :data:`NOT_STARTED`. Set once by :meth:`from_dict`:
    #: the snapshot reads it each time it places the pod.
    start_micros: int = attrs.field(default=NOT_STARTED, eq=False, repr=False)
    #: Whether the pod carries any pod affinity or anti-affinity term (derived, like ``start_micros``).
    has_inter_pod_terms: bool = attrs.field(default=False, eq=False, repr=False)

    def matches_node_affinity(self, labels: Mapping[str, str], node_name: str) -> bool:
        """nodeSelector and required node affinity (NodeAffinity's filter)."""
        for k, v in self.node_selector:
            if labels.get(k) != v:
                return False
        if self.required_node_terms is None:
            return True
        return any(t.matches(labels, node_name) for t in self.required_node_terms)

    def with_raw(self, raw: Mapping[str, Any]) -> "PodInfo":
        """This pod with ``raw`` as its wire dict: for a newer version of the pod that
        changed nothing this object reads (a status update, say)."""
        return _with_field(self, "raw", raw)

    @classmethod
    def from_dict(cls, pod: Mapping[str, Any]) -> "PodInfo":
        """Convert a Pod wire dict; raise :class:`PodInfoError` naming the bad field."""
        meta = pod.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise PodInfoError("pod: metadata.name is required")
        ns = meta.get("namespace") or "default"
        where = f"pod {ns}/{name}"
        spec = pod.get("spec") or {}
        labels = dict(meta.get("labels") or {})
        requests, non_zero, scalar, images, ports = _pod_resources(spec, where)
        affinity = spec.get("affinity")
        required_terms = None
        preferred: tuple[WeightedNodeTerm, ...] = ()
        pod_affinity: tuple[tuple, ...] = ((), (), (), ())
        if affinity:
            node_aff = affinity.get("nodeAffinity") or {}
            required = node_aff.get("requiredDuringSchedulingIgnoredDuringExecution")
            if required is not None:
                required_terms = tuple(
                    NodeTerm.from_api(t, f"{where}: spec.affinity.nodeAffinity.required.nodeSelectorTerms[{i}]")
                    for i, t in enumerate(required.get("nodeSelectorTerms") or ())
                )
            preferred = tuple(
                WeightedNodeTerm(int(p.get("weight", 0)), NodeTerm.from_api(p.get("preference") or {}, f"{where}: spec.affinity.nodeAffinity.preferred[{i}].preference"))
                for i, p in enumerate(node_aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ())
            )
            pa = affinity.get("podAffinity") or {}
            pan = affinity.get("podAntiAffinity") or {}
            pod_affinity = (
                _terms(pa.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, where, "podAffinity.required"),
                _weighted(pa.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, where, "podAffinity.preferred"),
                _terms(pan.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, where, "podAntiAffinity.required"),
                _weighted(pan.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, where, "podAntiAffinity.preferred"),
            )
        status = pod.get("status") or {}
        selector = spec.get("nodeSelector")
        tolerations = spec.get("tolerations")
        spread = spec.get("topologySpreadConstraints")
        start_time = str(status.get("startTime") or meta.get("creationTimestamp") or "")
        return cls(
            key=pod_key(ns, name),
            namespace=ns,
            name=name,
            uid=str(meta.get("uid") or ""),
            labels=labels,
            priority=_priority(spec.get("priority"), where),
            preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
            node_name=spec.get("nodeName") or "",
            scheduler_name=spec.get("schedulerName") or "default-scheduler",
            requests=requests,
            non_zero=non_zero,
            scalar_requests=scalar,
            node_selector=tuple(sorted((str(k), str(v)) for k, v in selector.items())) if selector else (),
            required_node_terms=required_terms,
            preferred_node_terms=preferred,
            tolerations=tuple(_toleration(t) for t in tolerations) if tolerations else (),
            host_ports=ports,
            spread=_spread(spread, labels, where) if spread else (),
            affinity_required=pod_affinity[0],
            affinity_preferred=pod_affinity[1],
            anti_required=pod_affinity[2],
            anti_preferred=pod_affinity[3],
            images=images,
            num_containers=len(images),
            start_time=start_time,
            nominated_node=status.get("nominatedNodeName") or "",
            raw=pod,
            terminating=bool(meta.get("deletionTimestamp")),
            start_micros=start_micros(start_time),
            has_inter_pod_terms=any(pod_affinity),
        )


#: Copies a PodInfo with one field changed (slot by slot: every status update of a pod makes one).
_with_field = replacer(PodInfo)


def _priority(value: Any, where: str) -> int:
    """``spec.priority``: a 32-bit integer as in Kubernetes (0 when absent)."""
    if value is None:
        return 0
    try:
        priority = int(value)
    except (TypeError, ValueError):
        priority = None
    if isinstance(value, bool) or priority is None or not -(1 << 31) <= priority < (1 << 31):
        raise PodInfoError(f"{where}: spec.priority must be a 32-bit integer, not {value!r}")
    return priority


def _terms(items: Any, ns: str, pod: str, field: str) -> tuple[AffinityTerm, ...]:
    if not items:
        return ()
    return tuple(AffinityTerm.from_api(t, ns, f"{pod}: spec.affinity.{field}[{i}]") for i, t in enumerate(items))


def _weighted(items: Any, ns: str, pod: str, field: str) -> tuple[WeightedTerm, ...]:
    if not items:
        return ()
    where = f"{pod}: spec.affinity.{field}"
    out = []
    for i, w in enumerate(items):
        weight = int(w.get("weight", 0))
        if not 1 <= weight <= 100:
            raise PodInfoError(f"{where}[{i}].weight: must be 1..100, not {weight}")
        out.append(WeightedTerm(weight, AffinityTerm.from_api(w.get("podAffinityTerm"), ns, f"{where}[{i}].podAffinityTerm")))
    return tuple(out)


def _spread(items: Any, labels: Mapping[str, str], where: str) -> tuple[SpreadConstraint, ...]:
    out = []
    for i, c in enumerate(items or ()):
        at = f"{where}: spec.topologySpreadConstraints[{i}]"
        skew = int(c.get("maxSkew") or 0)
        if skew < 1:
            raise PodInfoError(f"{at}.maxSkew: must be at least 1")
        key = c.get("topologyKey")
        if not key:
            raise PodInfoError(f"{at}.topologyKey: required")
        when = c.get("whenUnsatisfiable") or "DoNotSchedule"
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise PodInfoError(f"{at}.whenUnsatisfiable: {when!r} is not DoNotSchedule or ScheduleAnyway")
        selector = Selector.from_api(c.get("labelSelector"), f"{at}.labelSelector")
        selector = selector.with_label_keys(c.get("matchLabelKeys"), labels)
        out.append(SpreadConstraint(
            max_skew=skew, topology_key=key, hard=when == "DoNotSchedule", selector=selector,
            min_domains=int(c.get("minDomains") or 1),
            honor_node_affinity=(c.get("nodeAffinityPolicy") or "Honor") == "Honor",
            honor_node_taints=(c.get("nodeTaintsPolicy") or "Ignore") == "Honor",
        ))
    return tuple(out)


def _pod_resources(spec: Mapping[str, Any], where: str):
    """Effective requests (Kubernetes' PodRequests: containers, init containers, sidecars, overhead)."""
    def per_container(c: Mapping[str, Any], at: str) -> tuple[dict[str, int], dict[str, int]]:
        req = _resource_list((c.get("resources") or {}).get("requests"), f"{at}.resources.requests")
        nz = dict(req)
        nz.setdefault("cpu", DEFAULT_MILLICPU_REQUEST)
        nz.setdefault("memory", DEFAULT_MEMORY_REQUEST)
        return req, nz

    def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + v
        return out

    def maxed(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        out = dict(a)
        for k, v in b.items():
            out[k] = max(out.get(k, 0), v)
        return out

    containers = spec.get("containers") or ()
    if not spec.get("initContainers") and not spec.get("overhead"):
        return _simple_resources(containers, where)
    images: list[str] = []
    ports: list[HostPort] = []
    total: dict[str, int] = {}
    total_nz: dict[str, int] = {}
    for i, c in enumerate(spec.get("containers") or ()):
        req, nz = per_container(c, f"{where}: spec.containers[{i}]")
        total, total_nz = add(total, req), add(total_nz, nz)
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                ports.append(HostPort(p.get("protocol") or "TCP", p.get("hostIP") or "0.0.0.0", int(p["hostPort"])))
    sidecar: dict[str, int] = {}
    sidecar_nz: dict[str, int] = {}
    init_max: dict[str, int] = {}
    init_max_nz: dict[str, int] = {}
    init_images = []
    for i, c in enumerate(spec.get("initContainers") or ()):
        req, nz = per_container(c, f"{where}: spec.initContainers[{i}]")
        init_images.append(normalized_image_name(str(c.get("image") or "")))
        if c.get("restartPolicy") == "Always":
            sidecar, sidecar_nz = add(sidecar, req), add(sidecar_nz, nz)
            eff, eff_nz = sidecar, sidecar_nz
            for p in c.get("ports") or ():
                if p.get("hostPort"):
                    ports.append(HostPort(p.get("protocol") or "TCP", p.get("hostIP") or "0.0.0.0", int(p["hostPort"])))
        else:
            eff, eff_nz = add(req, sidecar), add(nz, sidecar_nz)
        init_max, init_max_nz = maxed(init_max, eff), maxed(init_max_nz, eff_nz)
    total, total_nz = maxed(add(total, sidecar), init_max), maxed(add(total_nz, sidecar_nz), init_max_nz)
    overhead = _resource_list(spec.get("overhead"), f"{where}: spec.overhead")
    total, total_nz = add(total, overhead), add(total_nz, overhead)
    images = init_images + [normalized_image_name(str(c.get("image") or "")) for c in spec.get("containers") or ()]
    requests = (total.get("cpu", 0), total.get("memory", 0), total.get("ephemeral-storage", 0))
    non_zero = (total_nz.get("cpu", 0), total_nz.get("memory", 0))
    scalar = {k: v for k, v in total.items() if k not in _STANDARD and v}
    return requests, non_zero, scalar, tuple(images), tuple(ports)


def _simple_resources(containers: Any, where: str):
    """Requests of a pod with neither init containers nor overhead: plain sums."""
    cpu = mem = eph = 0
    nz_cpu = nz_mem = 0
    scalar: dict[str, int] = {}
    ports: list[HostPort] = []
    images = []
    for i, c in enumerate(containers):
        images.append(normalized_image_name(str(c.get("image") or "")))
        resources = c.get("resources")
        req = resources.get("requests") if resources else None
        if req:
            for name, value in req.items():
                if name == "cpu":
                    v = _amount(value, True, f"{where}: spec.containers[{i}].resources.requests.cpu")
                    cpu += v
                    nz_cpu += v
                else:
                    v = _amount(value, False, f"{where}: spec.containers[{i}].resources.requests.{name}")
                    if name == "memory":
                        mem += v
                        nz_mem += v
                    elif name == "ephemeral-storage":
                        eph += v
                    elif v and name not in _STANDARD:
                        scalar[name] = scalar.get(name, 0) + v
            if "cpu" not in req:
                nz_cpu += DEFAULT_MILLICPU_REQUEST
            if "memory" not in req:
                nz_mem += DEFAULT_MEMORY_REQUEST
        else:
            nz_cpu += DEFAULT_MILLICPU_REQUEST
            nz_mem += DEFAULT_MEMORY_REQUEST
        for p in c.get("ports") or ():
            if p.get("hostPort"):
                ports.append(HostPort(p.get("protocol") or "TCP", p.get("hostIP") or "0.0.0.0", int(p["hostPort"])))
    return (cpu, mem, eph), (nz_cpu, nz_mem), scalar, tuple(images), tuple(ports)
