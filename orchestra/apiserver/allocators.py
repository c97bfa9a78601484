"""ClusterIP and NodePort allocation for Services, as a step of the Service write path.

Kubernetes allocates a Service's cluster IP and node ports in its REST storage, keeps
the allocation maps in the store and runs a *repair* loop that rebuilds them from the
stored Services. Orchestra keeps the maps in memory and treats the stored Services as
the only truth:

- :class:`IPRange` and :class:`PortRange` parse and describe the configured ranges;
- :class:`ServiceAllocator` decides: on a create or update of a Service (a mutating
  admission step, so it runs after defaults and before validation) it honours a
  requested ``spec.clusterIP`` / ``nodePort`` when free and in range (else 422) or
  picks a free one. A fresh allocation is *pending* until the Service shows up in the
  watch stream; a pending one that never shows up (the write failed) is released after
  ``pending_seconds``;
- :class:`ServiceAllocation` wires it into a running API server: it adds the allocation
  step to the Service storage's admission chain (after the mutating plugins, before
  validation), rebuilds the maps from the stored Services at start (the repair step) and
  follows the Services watch, so a deleted Service, or a port an update dropped, frees
  its values.

Headless Services (``clusterIP: None``) and ExternalName Services get no cluster IP;
only ``NodePort`` and ``LoadBalancer`` Services get node ports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from typing import Any, Callable, Iterable

import attrs

from orchestra.api import core
from orchestra.api.errors import FieldError
from orchestra.apiserver.errors import Invalid

__all__ = [
    "DEFAULT_SERVICE_CIDR",
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_PENDING_SECONDS",
    "AllocatorConfigError",
    "IPRange",
    "PortRange",
    "ServiceAllocator",
    "ServiceAllocation",
    "service_allocations",
]

log = logging.getLogger(__name__)

#: The default service range: in 127/8 so that the userspace proxy can bind ClusterIPs rootless,
#: and clear of the process runtime's pod addresses (127.1.0.0/16).
DEFAULT_SERVICE_CIDR = "127.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
#: Seconds an allocation waits for its Service to be stored before it is given back.
DEFAULT_PENDING_SECONDS = 60.0

#: Seconds between the end of the Services watch and the next list (no busy loop if it keeps ending).
_RELIST_DELAY = 0.5

#: An allocated value: ``("ip", "127.96.0.7")`` or ``("nodePort", 30080)``.
Allocation = tuple[str, Any]


class AllocatorConfigError(ValueError):
    """A service IP range or node port range that cannot be used; the message names the setting."""


@attrs.frozen
class IPRange:
    """The service cluster IP range (IPv4); the network and broadcast addresses are never handed out."""

    network: ipaddress.IPv4Network

    @classmethod
    def parse(cls, cidr: str) -> "IPRange":
        """Parse ``--service-cluster-ip-range``; AllocatorConfigError when it is no IPv4 CIDR of 4+ addresses."""
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise AllocatorConfigError(f"service-cluster-ip-range {cidr!r} is not a valid CIDR: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise AllocatorConfigError(f"service-cluster-ip-range {cidr!r}: only IPv4 ranges are supported")
        if network.num_addresses < 4:
            raise AllocatorConfigError(f"service-cluster-ip-range {cidr!r} is too small (at least a /30)")
        return cls(network)

    @property
    def first(self) -> int:
        """The lowest address handed out, as an integer."""
        return int(self.network.network_address) + 1

    @property
    def size(self) -> int:
        """How many addresses can be handed out."""
        return self.network.num_addresses - 2

    def __contains__(self, ip: str) -> bool:
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return False
        return self.first <= value < self.first + self.size

    def at(self, offset: int) -> str:
        """The address ``offset`` places after :attr:`first`."""
        return str(ipaddress.IPv4Address(self.first + offset))

    def __str__(self) -> str:
        return str(self.network)


@attrs.frozen
class PortRange:
    """The node port range, both ends included."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> "PortRange":
        """Parse ``--service-node-port-range`` (``"30000-32767"``); AllocatorConfigError when malformed."""
        low_text, sep, high_text = text.partition("-")
        try:
            low, high = int(low_text), int(high_text if sep else low_text)
        except ValueError:
            raise AllocatorConfigError(f"service-node-port-range {text!r} is not of the form LOW-HIGH") from None
        if not 1 <= low <= high <= 65535:
            raise AllocatorConfigError(f"service-node-port-range {text!r} must satisfy 1 <= LOW <= HIGH <= 65535")
        return cls(low, high)

    @property
    def size(self) -> int:
        """How many ports the range holds."""
        return self.high - self.low + 1

    def __contains__(self, port: int) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace or ''}/{name}"


def _wants_cluster_ip(spec: core.ServiceSpec) -> bool:
    return spec.type != "ExternalName" and spec.cluster_ip != "None"


def _wants_node_ports(spec: core.ServiceSpec) -> bool:
    return spec.type in ("NodePort", "LoadBalancer")


def service_allocations(obj: dict) -> set[Allocation]:
    """The cluster IP and node ports a stored Service (wire dict) holds."""
    spec = obj.get("spec") or {}
    held: set[Allocation] = set()
    for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
        if ip and ip != "None":
            held.add(("ip", ip))
    for port in spec.get("ports") or ():
        if isinstance(port, dict) and port.get("nodePort"):
            held.add(("nodePort", port["nodePort"]))
    return held


class ServiceAllocator:
    """Who holds which cluster IP and node port; allocates for Service writes.

    :param ip_range: where cluster IPs come from.
    :param port_range: where node ports come from.
    :param pending_seconds: how long a fresh allocation waits to be seen stored.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        ip_range: IPRange,
        port_range: PortRange,
        *,
        pending_seconds: float = DEFAULT_PENDING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.ip_range = ip_range
        self.port_range = port_range
        self.pending_seconds = pending_seconds
        self._clock = clock
        self._rng = rng or random.Random()
        self._owner: dict[Allocation, str] = {}
        self._held: dict[str, set[Allocation]] = {}
        self._pending: dict[Allocation, tuple[str, float]] = {}

    # -- state from the store -------------------------------------------------------------

    def observe(self, key: str, obj: dict | None) -> None:
        """Record what the stored Service ``key`` holds now (None: it was deleted); frees what it dropped."""
        now_held = service_allocations(obj) if obj is not None else set()
        for value in self._held.pop(key, set()) - now_held:
            if self._owner.get(value) == key:
                del self._owner[value]
        for value in now_held:
            other = self._owner.get(value)
            if other is not None and other != key:
                log.warning("%s %s is held by both %s and %s", value[0], value[1], other, key)
            self._owner[value] = key
            pending = self._pending.get(value)
            if pending is not None and pending[0] == key:
                del self._pending[value]
        if now_held:
            self._held[key] = now_held

    def repair(self, services: Iterable[dict]) -> None:
        """Rebuild the maps from every stored Service (pending allocations younger than the limit stay)."""
        self._owner.clear()
        self._held.clear()
        for obj in services:
            meta = obj.get("metadata") or {}
            self.observe(_key(meta.get("namespace"), meta.get("name") or ""), obj)

    def held_by(self, key: str) -> frozenset[Allocation]:
        """What the stored Service ``key`` holds, as last seen in the store."""
        return frozenset(self._held.get(key, ()))

    def holder(self, value: Allocation) -> str | None:
        """The key of the Service holding ``value`` (stored or pending), or None when it is free."""
        self._expire()
        owner = self._owner.get(value)
        if owner is not None:
            return owner
        pending = self._pending.get(value)
        return pending[0] if pending is not None else None

    def used(self, kind: str) -> int:
        """How many values of ``kind`` (``"ip"`` or ``"nodePort"``) are held or pending."""
        self._expire()
        return sum(1 for v in self._owner if v[0] == kind) + sum(
            1 for v in self._pending if v[0] == kind and v not in self._owner
        )

    def _expire(self) -> None:
        now = self._clock()
        for value in [v for v, (_key_, deadline) in self._pending.items() if deadline <= now]:
            del self._pending[value]

    # -- allocating -----------------------------------------------------------------------

    def _free_for(self, value: Allocation, key: str) -> bool:
        holder = self.holder(value)
        return holder is None or holder == key

    def _reserve(self, value: Allocation, key: str, dry_run: bool) -> None:
        if not dry_run and self._owner.get(value) != key:
            self._pending[value] = (key, self._clock() + self.pending_seconds)

    def _pick(self, kind: str, size: int, value_at: Callable[[int], Any], key: str) -> Any | None:
        start = self._rng.randrange(size)
        for step in range(size):
            candidate = value_at((start + step) % size)
            if self._free_for((kind, candidate), key):
                return candidate
        return None

    def allocate_cluster_ip(self, key: str, requested: str | None, *, dry_run: bool = False) -> str:
        """A cluster IP for Service ``key``: ``requested`` if free and in range, else a free one (Invalid)."""
        if requested:
            if requested not in self.ip_range:
                raise self._invalid_ip(
                    key,
                    requested,
                    f"the provided IP ({requested}) is not in the valid range. "
                    f"The range of valid IPs is {self.ip_range}",
                )
            if not self._free_for(("ip", requested), key):
                raise self._invalid_ip(key, requested, "provided IP is already allocated")
            ip = requested
        else:
            ip = self._pick("ip", self.ip_range.size, self.ip_range.at, key)
            if ip is None:
                raise self._invalid_ip(key, None, f"range is full (service range {self.ip_range})")
        self._reserve(("ip", ip), key, dry_run)
        return ip

    def allocate_node_port(self, key: str, requested: int | None, index: int, *, dry_run: bool = False) -> int:
        """A node port for port ``index`` of Service ``key``: ``requested`` if free and in range, else a free one."""
        path = f"spec.ports[{index}].nodePort"
        if requested:
            if requested not in self.port_range:
                raise self._invalid(
                    key,
                    [FieldError.invalid(path, requested, "provided port is not in the valid range. "
                                                         f"The range of valid ports is {self.port_range}")],
                )
            if not self._free_for(("nodePort", requested), key):
                raise self._invalid(key, [FieldError.invalid(path, requested, "provided port is already allocated")])
            port = requested
        else:
            port = self._pick("nodePort", self.port_range.size, lambda i: self.port_range.low + i, key)
            if port is None:
                raise self._invalid(
                    key, [FieldError.invalid(path, None, f"range is full (node port range {self.port_range})")]
                )
        self._reserve(("nodePort", port), key, dry_run)
        return port

    @staticmethod
    def _invalid(key: str, errors: list[FieldError]) -> Invalid:
        return Invalid.from_field_errors("Service", key.partition("/")[2], errors)

    def _invalid_ip(self, key: str, ip: str | None, reason: str) -> Invalid:
        detail = f"failed to allocate IP {ip}: {reason}" if ip else f"failed to allocate a serviceIP: {reason}"
        return self._invalid(key, [FieldError.invalid("spec.clusterIPs", [ip] if ip else [], detail)])

    def assign(self, service: core.Service, old: core.Service | None, key: str, *, dry_run: bool = False) -> None:
        """Fill in the cluster IP and node ports of ``service`` (a create, or an update of ``old``), in place.

        Raises :class:`~orchestra.apiserver.errors.Invalid` (422) when a requested value is
        taken or out of range. Values ``old`` held and ``service`` drops are freed once the
        update is seen stored.
        """
        spec = service.spec
        if spec is None:
            return
        old_spec = old.spec if old is not None else None
        if _wants_cluster_ip(spec):
            old_ip = old_spec.cluster_ip if old_spec is not None else None
            if not (old_ip and old_ip != "None" and spec.cluster_ip and spec.cluster_ip != old_ip):
                # (a changed cluster IP is the strategy's "may not change" error, not an allocation)
                ip = self.allocate_cluster_ip(key, spec.cluster_ip or None, dry_run=dry_run)
                spec.cluster_ip = ip
                spec.cluster_ips = [ip]
        elif spec.cluster_ip == "None":
            spec.cluster_ips = ["None"]
        if _wants_node_ports(spec):
            old_ports = {}
            if old_spec is not None and _wants_node_ports(old_spec):
                for p in old_spec.ports or ():
                    if p.node_port:
                        old_ports[(p.port, p.protocol or "TCP")] = p.node_port
            for index, port in enumerate(spec.ports or ()):
                requested = port.node_port or old_ports.get((port.port, port.protocol or "TCP"))
                port.node_port = self.allocate_node_port(key, requested, index, dry_run=dry_run)
        elif old_spec is not None and _wants_node_ports(old_spec):
            for port in spec.ports or ():
                port.node_port = None


class _AllocatingAdmission:
    """The Service storage's admission chain with allocation added after the mutating step.

    Only the Service storage gets it, so other kinds pay nothing and two API servers sharing
    a plugin manager keep separate allocators.
    """

    def __init__(self, inner: Any, allocator: ServiceAllocator) -> None:
        self.inner = inner
        self.allocator = allocator

    @property
    def has_plugins(self) -> bool:
        """Always: allocation needs the stored object of an update."""
        return True

    async def mutate(self, request: Any) -> None:
        """The inner chain's mutations, then the cluster IP and node ports of a Service write."""
        pending = self.inner.mutate(request)
        if pending is not None:
            await pending
        if request.subresource or request.operation not in ("CREATE", "UPDATE"):
            return
        if not isinstance(request.object, core.Service):
            return
        old = request.old_object if isinstance(request.old_object, core.Service) else None
        self.allocator.assign(request.object, old, _key(request.namespace, request.name), dry_run=request.dry_run)

    def __getattr__(self, name: str) -> Any:
        """Everything else, validation included, is the inner chain's."""
        return getattr(self.inner, name)


class ServiceAllocation:
    """A :class:`ServiceAllocator` running inside one API server's storage.

    Build it with :meth:`start`: it rebuilds the maps from the stored Services, follows
    the Services watch and puts the allocation step into the Service storage's admission.
    """

    def __init__(self, storage: Any, allocator: ServiceAllocator) -> None:
        self.allocator = allocator
        self._services = next(
            s for s in storage.storages() if s.rtype.plural == "services" and not s.rtype.group
        )
        self._inner_admission = self._services.admission
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        storage: Any,
        *,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: str = DEFAULT_NODE_PORT_RANGE,
        pending_seconds: float = DEFAULT_PENDING_SECONDS,
    ) -> "ServiceAllocation":
        """Allocation for the started ``storage`` (a StorageRegistry); AllocatorConfigError for bad ranges."""
        allocator = ServiceAllocator(
            IPRange.parse(service_cidr), PortRange.parse(node_port_range), pending_seconds=pending_seconds
        )
        self = cls(storage, allocator)
        revision = await self._repair()
        self._services.admission = _AllocatingAdmission(self._inner_admission, allocator)
        self._task = asyncio.get_running_loop().create_task(self._follow(revision), name="service-allocation")
        return self

    async def stop(self) -> None:
        """Stop following the Services and take the allocation step out of the admission chain."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._services.admission = self._inner_admission

    async def _repair(self) -> str:
        from orchestra.apiserver.storage import ListOptions

        listing = await self._services.list(None, ListOptions())
        self.allocator.repair(listing["items"])
        return listing["metadata"]["resourceVersion"]

    async def _follow(self, revision: str) -> None:
        from orchestra.apiserver.storage import ListOptions

        while True:
            try:
                async for event in self._services.watch(None, ListOptions(resource_version=revision)):
                    obj = event.object
                    if event.type == "ERROR":
                        break
                    meta = obj.get("metadata") or {}
                    revision = meta.get("resourceVersion") or revision
                    key = _key(meta.get("namespace"), meta.get("name") or "")
                    if event.type in ("ADDED", "MODIFIED"):
                        self.allocator.observe(key, obj)
                    elif event.type == "DELETED":
                        self.allocator.observe(key, None)
            except Exception:
                log.exception("following Services for allocation failed; listing again")
            await asyncio.sleep(_RELIST_DELAY)
            try:
                revision = await self._repair()
            except Exception:
                log.exception("rebuilding the Service allocation maps failed; trying again")
