"""The agent's Node: registration, status (capacity, conditions, addresses) and the heartbeat Lease.

As the kubelet does since Kubernetes 1.17:

* the Node is created at start (or, when it exists, its labels, addresses and status refreshed);
* a ``coordination.k8s.io`` Lease named after the node in ``kube-node-lease`` is renewed every
  ``lease_period`` seconds (10 s; a quarter of its 40 s duration) — the cheap heartbeat the node
  lifecycle controller watches;
* every ``status_check_period`` seconds (10 s) the agent reads its Node from the API server's
  cache and computes its status; it writes it through ``nodes/status`` when its conditions
  changed, when the stored ones differ from what it last posted (the node lifecycle controller
  set them ``Unknown`` after missed heartbeats, say), or when ``status_report_period`` seconds
  (1 min) have passed.

Capacity comes from the host (CPU count, ``MemTotal``, the data directory's file system, 110
pods) unless configured; conditions MemoryPressure, DiskPressure and PIDPressure from
``/proc/meminfo``, ``statvfs`` and the number of processes against ``pid_max``, checked against
the kubelet's default hard eviction thresholds; Ready is True while the agent runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import platform
import random
import time
import weakref
from typing import Any, Mapping

import attrs

from orchestra.aio import cancel_and_wait
from orchestra.client import ApiStatusError, Client, TransportError, resolve_kind, resource_path
from orchestra.node.stats import meminfo

__all__ = [
    "NodeSettings",
    "NodeRegistration",
    "host_capacity",
    "pressure_conditions",
    "micro_time",
    "coarse_sleep",
    "LEASE_NAMESPACE",
    "DEFAULT_MAX_PODS",
]

log = logging.getLogger(__name__)

#: Where node heartbeat Leases live.
LEASE_NAMESPACE = "kube-node-lease"
#: The lease and status loops wait their period plus up to this fraction more (kubelet: 0.04).
JITTER = 0.04
#: Pods per node unless configured (kubelet's ``maxPods``).
DEFAULT_MAX_PODS = 110
#: Default hard eviction thresholds: memory.available < 100Mi, nodefs.available < 10%.
MEMORY_AVAILABLE_MIN = 100 * 1024 * 1024
DISK_AVAILABLE_MIN_FRACTION = 0.10
PID_AVAILABLE_MIN_FRACTION = 0.05


_second_cache: list = [-1, ""]


def micro_time(when: dt.datetime | None = None) -> str:
    """A Kubernetes ``MicroTime`` (``2026-01-02T03:04:05.123456Z``); now unless ``when`` is given."""
    if when is not None:
        return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    now = time.time()
    seconds = int(now)
    if _second_cache[0] != seconds:  # thousands of nodes renew within the same second
        _second_cache[0] = seconds
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{_second_cache[1]}.{int((now - seconds) * 1e6):06d}Z"


def _now() -> str:
    seconds = int(time.time())
    if _second_cache[0] != seconds:
        micro_time()
    return _second_cache[1] + "Z"


#: Waits of at least this long end on a shared tick (see :func:`coarse_sleep`).
COARSE_MIN = 1.0
#: The tick: a coarse wait ends up to this much later than asked.
COARSE_TICK = 0.1
_buckets: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, list[asyncio.Future[None]]]]" = \
    weakref.WeakKeyDictionary()


def _wake(ticks: dict[int, list[asyncio.Future[None]]], tick: int) -> None:
    for waiter in ticks.pop(tick, ()):
        if not waiter.done():
            waiter.set_result(None)


async def coarse_sleep(delay: float) -> None:
    """``asyncio.sleep(delay)``, but a wait of ``COARSE_MIN`` s or more ends on a ``COARSE_TICK`` boundary.

    Thousands of simulated nodes each waiting on its own timer wake the event loop thousands
    of times a second; waits that end on the same tick share one timer and one wake-up (each
    waiter still has its own future, so cancelling one wait leaves the others alone).
    """
    if delay < COARSE_MIN:
        await asyncio.sleep(delay)
        return
    loop = asyncio.get_running_loop()
    ticks = _buckets.get(loop)
    if ticks is None:
        ticks = _buckets[loop] = {}
    tick = int(-(-(loop.time() + delay) // COARSE_TICK))
    waiters = ticks.get(tick)
    if waiters is None:
        waiters = ticks[tick] = []
        loop.call_at(tick * COARSE_TICK, _wake, ticks, tick)
    waiter = loop.create_future()
    waiters.append(waiter)
    await waiter


def host_capacity(data_dir: str, max_pods: int = DEFAULT_MAX_PODS) -> dict[str, str]:
    """The host's capacity as Kubernetes quantities: cpu, memory (Ki), ephemeral-storage (Ki), pods."""
    memory = meminfo().get("MemTotal", 0)
    try:
        st = os.statvfs(data_dir)
        storage = st.f_blocks * st.f_frsize
    except OSError:
        storage = 0
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory // 1024}Ki",
        "ephemeral-storage": f"{storage // 1024}Ki",
        "pods": str(max_pods),
    }


def _pid_usage() -> tuple[int, int]:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read().strip())
        count = sum(1 for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return 0, 0
    return count, pid_max


def pressure_conditions(data_dir: str | None) -> dict[str, tuple[bool, str]]:
    """Whether the host is under memory, disk or PID pressure, each with the kubelet's reason."""
    info = meminfo()
    available = info.get("MemAvailable", MEMORY_AVAILABLE_MIN + 1)
    memory = available < MEMORY_AVAILABLE_MIN
    disk = False
    if data_dir:
        try:
            st = os.statvfs(data_dir)
            disk = st.f_blocks > 0 and st.f_bavail / st.f_blocks < DISK_AVAILABLE_MIN_FRACTION
        except OSError:
            disk = False
    count, pid_max = _pid_usage()
    pids = bool(pid_max) and (pid_max - count) / pid_max < PID_AVAILABLE_MIN_FRACTION
    return {
        "MemoryPressure": (memory, "KubeletHasInsufficientMemory" if memory else "KubeletHasSufficientMemory"),
        "DiskPressure": (disk, "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure"),
        "PIDPressure": (pids, "KubeletHasInsufficientPID" if pids else "KubeletHasSufficientPID"),
    }


#: Read from the API server's watch cache, as the kubelet's status loop does.
_FROM_CACHE = {"resourceVersion": "0"}
_NO_PRESSURE = {"MemoryPressure": (False, "KubeletHasSufficientMemory"),
                "DiskPressure": (False, "KubeletHasNoDiskPressure"),
                "PIDPressure": (False, "KubeletHasSufficientPID")}

_MESSAGES = {
    "KubeletHasSufficientMemory": "kubelet has sufficient memory available",
    "KubeletHasInsufficientMemory": "kubelet has insufficient memory available",
    "KubeletHasNoDiskPressure": "kubelet has no disk pressure",
    "KubeletHasDiskPressure": "kubelet has disk pressure",
    "KubeletHasSufficientPID": "kubelet has sufficient PID available",
    "KubeletHasInsufficientPID": "kubelet has insufficient PID available",
    "KubeletReady": "kubelet is posting ready status",
}


@attrs.define
class NodeSettings:
    """How the agent presents its node (every field has a working default except ``name``)."""

    name: str
    address: str = "127.0.0.1"
    port: int = 10250
    data_dir: str | None = None
    capacity: Mapping[str, str] | None = None
    allocatable: Mapping[str, str] | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    taints: list[dict[str, Any]] = attrs.field(factory=list)
    pod_cidr: str | None = None
    runtime_name: str = "process"
    version: str = "v1.32.0-orchestra"
    lease_duration: int = 40
    lease_period: float = 10.0
    status_check_period: float = 10.0
    status_report_period: float = 60.0
    #: Check the host for memory/disk/PID pressure (off for simulated nodes).
    host_pressure: bool = True


def _node_info(settings: NodeSettings) -> dict[str, str]:
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return ""

    os_image = "Linux"
    for line in read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_image = line.partition("=")[2].strip('"')
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "machineID": read("/etc/machine-id"),
        "systemUUID": read("/sys/class/dmi/id/product_uuid"),
        "bootID": read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": os_image,
        "containerRuntimeVersion": f"{settings.runtime_name}://orchestra",
        "kubeletVersion": settings.version,
        "kubeProxyVersion": "",
        "operatingSystem": "linux",
        "architecture": arch,
    }


class NodeRegistration:
    """Registers the node, keeps its status current and renews its Lease (see the module docstring)."""

    def __init__(self, client: Client, settings: NodeSettings) -> None:
        self.client = client
        self.settings = settings
        self.node_uid: str | None = None
        self.lease: dict | None = None
        self._capacity: dict[str, str] | None = None
        self._info: dict[str, str] | None = None
        self._last_states: dict[str, tuple[bool, str]] | None = None
        #: each condition's status ("True"/"False") as last posted
        self._known: dict[str, str] = {}
        self._last_report = 0.0
        self._transitions: dict[str, tuple[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        name = settings.name
        self._node_path = resource_path(resolve_kind("nodes"), None, name)
        self._node_status_path = resource_path(resolve_kind("nodes"), None, name, "status")
        self._leases_path = resource_path(resolve_kind("leases"), LEASE_NAMESPACE)
        self._lease_path = resource_path(resolve_kind("leases"), LEASE_NAMESPACE, name)

    # ------------------------------------------------------------------ the object

    def capacity(self) -> dict[str, str]:
        """Configured capacity, else the host's (computed once)."""
        if self._capacity is None:
            self._capacity = dict(self.settings.capacity) if self.settings.capacity else host_capacity(
                self.settings.data_dir or "/")
            self._capacity.setdefault("pods", str(DEFAULT_MAX_PODS))
        return self._capacity

    def labels(self) -> dict[str, str]:
        """Well-known labels, then the configured ones."""
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        labels = {
            "kubernetes.io/hostname": self.settings.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch,
            "node.kubernetes.io/runtime": self.settings.runtime_name,
        }
        labels.update(self.settings.labels)
        return labels

    def _states(self) -> dict[str, tuple[bool, str]]:
        """Each condition's value and reason, as the agent knows them now (cheap: no timestamps)."""
        if self.settings.host_pressure:
            states = pressure_conditions(self.settings.data_dir)
        else:
            states = dict(_NO_PRESSURE)
        states["Ready"] = (True, "KubeletReady")
        return states

    def _conditions(self, states: Mapping[str, tuple[bool, str]] | None = None) -> list[dict[str, Any]]:
        now = _now()
        conditions = []
        for kind, (value, reason) in (states or self._states()).items():
            status = "True" if value else "False"
            previous = self._transitions.get(kind)
            if previous is None or previous[0] != status:
                self._transitions[kind] = (status, now)
            conditions.append({"type": kind, "status": status, "lastHeartbeatTime": now,
                               "lastTransitionTime": self._transitions[kind][1], "reason": reason,
                               "message": _MESSAGES[reason]})
        return conditions

    def node_status(self, states: Mapping[str, tuple[bool, str]] | None = None) -> dict[str, Any]:
        """The status to report now (``states`` as :meth:`_states` gives them, computed when omitted)."""
        if self._info is None:
            self._info = _node_info(self.settings)
        capacity = self.capacity()
        return {
            "capacity": capacity,
            "allocatable": dict(self.settings.allocatable or capacity),
            "conditions": self._conditions(states),
            "addresses": [{"type": "InternalIP", "address": self.settings.address},
                          {"type": "Hostname", "address": self.settings.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.settings.port}},
            "nodeInfo": self._info,
        }

    def node(self) -> dict[str, Any]:
        """The Node object to register."""
        spec: dict[str, Any] = {}
        if self.settings.pod_cidr:
            spec["podCIDR"] = self.settings.pod_cidr
            spec["podCIDRs"] = [self.settings.pod_cidr]
        if self.settings.taints:
            spec["taints"] = list(self.settings.taints)
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.settings.name, "labels": self.labels()},
                "spec": spec, "status": self.node_status()}

    # ------------------------------------------------------------------ registration

    async def register(self) -> dict:
        """Create the Node, or refresh the existing one's labels, spec and status; returns it."""
        states = self._states()
        node = self.node()
        node["status"] = self.node_status(states)
        try:
            created = await self.client.create(node, raw=True)
        except ApiStatusError as exc:
            if exc.code != 409:
                raise
            patch = {"metadata": {"labels": node["metadata"]["labels"]}}
            if node["spec"]:
                patch["spec"] = node["spec"]
            await self.client.patch("nodes", self.settings.name, patch, raw=True)
        # status given at create is dropped by the API (as in Kubernetes): write it now
        created = await self._write_status(node["status"], states)
        self.node_uid = (created.get("metadata") or {}).get("uid")
        return created

    async def _write_status(self, status: dict[str, Any], states: Mapping[str, tuple[bool, str]]) -> dict:
        written = await self.client.request_json("PATCH", self._node_status_path, body={"status": status},
                                                 content_type="application/merge-patch+json")
        self._last_states = dict(states)
        self._known = {kind: "True" if value else "False" for kind, (value, _) in states.items()}
        self._last_report = time.monotonic()
        return written

    async def update_status(self, force: bool = False) -> bool:
        """Write the node status if it changed, the stored Node differs or the report period passed.

        As the kubelet does every ``status_check_period``: read the Node (from the API server's
        cache), compare its conditions with what the agent last posted (:meth:`observe`), and
        write when they differ — the node lifecycle controller set them ``Unknown`` after missed
        heartbeats, say — or when the agent's own conditions changed, or when
        ``status_report_period`` passed. Only the conditions change between reports (capacity,
        addresses and node info are fixed while the agent runs), so the check compares their
        values and reasons and builds the full status only when it writes. Returns whether it wrote.
        """
        stored = await self.client.request_json("GET", self._node_path, query=_FROM_CACHE)
        force = self.observe(stored) or force
        states = self._states()
        due = time.monotonic() - self._last_report >= self.settings.status_report_period
        if not force and not due and states == self._last_states:
            return False
        await self._write_status(self.node_status(states), states)
        return True

    def observe(self, node: Mapping[str, Any]) -> bool:
        """Whether the stored Node's conditions differ from the ones the agent last posted.

        For each condition that differs, the next status the agent posts carries a fresh
        ``lastTransitionTime`` (the condition changes back from what is stored).
        """
        known = self._known
        if not known:
            return False
        stored = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or ()}
        differing = [kind for kind, status in known.items() if stored.get(kind) != status]
        if not differing:
            return False
        now = _now()
        for kind in differing:
            self._transitions[kind] = (known[kind], now)
        return True

    # ------------------------------------------------------------------ lease

    def _lease_body(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.settings.name, "namespace": LEASE_NAMESPACE}
        if self.node_uid:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.settings.name,
                                        "uid": self.node_uid}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.settings.name,
                         "leaseDurationSeconds": self.settings.lease_duration,
                         "renewTime": micro_time()}}

    async def renew_lease(self) -> dict:
        """Renew (creating it the first time) the node's Lease; returns it as stored.

        As the kubelet does: a PUT of the last Lease it wrote with a new ``spec.renewTime``
        (conditional on its resourceVersion); after a conflict or when it is gone, it reads
        the Lease again (or creates it) and retries.
        """
        if self.lease is None:
            try:
                self.lease = await self.client.request_json("GET", self._lease_path)
            except ApiStatusError as exc:
                if exc.code != 404:
                    raise
                self.lease = await self.client.request_json("POST", self._leases_path, body=self._lease_body())
                return self.lease
        lease = self.lease
        spec = lease.setdefault("spec", {})
        spec["holderIdentity"] = self.settings.name
        spec["leaseDurationSeconds"] = self.settings.lease_duration
        spec["renewTime"] = micro_time()
        try:
            self.lease = await self.client.request_json("PUT", self._lease_path, body=lease)
        except ApiStatusError as exc:
            self.lease = None
            if exc.code in (404, 409):
                return await self.renew_lease()
            raise
        return self.lease

    # ------------------------------------------------------------------ loops

    def start(self) -> None:
        """Start the lease and status loops (after :meth:`register`)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.settings.lease_period, self.renew_lease), name=f"lease-{self.settings.name}"),
            loop.create_task(self._every(self.settings.status_check_period, self.update_status),
                             name=f"node-status-{self.settings.name}"),
        ]

    async def stop(self) -> None:
        """Stop the loops."""
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def _every(self, period: float, action: Any) -> None:
        # Like the kubelet's wait.JitterUntil(..., 0.04): up to 4 % more per wait, so that nodes
        # that happened to act together (all delayed by one slow answer, say) drift apart again
        # instead of staying in lockstep.
        while True:
            try:
                await action()
            except (ApiStatusError, TransportError, OSError) as exc:
                log.warning("node %s: %s failed: %s", self.settings.name, getattr(action, "__name__", action), exc)
            except Exception:
                log.exception("node %s: %s failed", self.settings.name, getattr(action, "__name__", action))
            await coarse_sleep(period * (1.0 + JITTER * random.random()))
