"""The agent's Node: registration, status (capacity, conditions, addresses) and the heartbeat Lease.

As the kubelet does since Kubernetes 1.17:

* the Node is created at start (or, when it exists, its labels, addresses and status refreshed);
* a ``coordination.k8s.io`` Lease named after the node in ``kube-node-lease`` is renewed every
  ``lease_period`` seconds (10 s; a quarter of its 40 s duration) — the cheap heartbeat the node
  lifecycle controller watches;
* the node status is computed every ``status_check_period`` seconds and written through
  ``nodes/status`` when it changed or ``status_report_period`` seconds (1 min) have passed.

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
import time
from typing import Any, Mapping

import attrs

from orchestra.client import ApiStatusError, Client, TransportError

__all__ = [
    "NodeSettings",
    "NodeRegistration",
    "host_capacity",
    "pressure_conditions",
    "micro_time",
    "LEASE_NAMESPACE",
    "DEFAULT_MAX_PODS",
]

log = logging.getLogger(__name__)

#: Where node heartbeat Leases live.
LEASE_NAMESPACE = "kube-node-lease"
#: Pods per node unless configured (kubelet's ``maxPods``).
DEFAULT_MAX_PODS = 110
#: Default hard eviction thresholds: memory.available < 100Mi, nodefs.available < 10%.
MEMORY_AVAILABLE_MIN = 100 * 1024 * 1024
DISK_AVAILABLE_MIN_FRACTION = 0.10
PID_AVAILABLE_MIN_FRACTION = 0.05


def micro_time(when: dt.datetime | None = None) -> str:
    """A Kubernetes ``MicroTime`` (``2026-01-02T03:04:05.123456Z``)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    values[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    except OSError:
        pass
    return values


def host_capacity(data_dir: str, max_pods: int = DEFAULT_MAX_PODS) -> dict[str, str]:
    """The host's capacity as Kubernetes quantities: cpu, memory (Ki), ephemeral-storage (Ki), pods."""
    memory = _meminfo().get("MemTotal", 0)
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
    info = _meminfo()
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
        self._last_written: dict | None = None
        self._last_report = 0.0
        self._transitions: dict[str, tuple[str, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

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

    def _conditions(self) -> list[dict[str, Any]]:
        if self.settings.host_pressure:
            pressures = pressure_conditions(self.settings.data_dir)
        else:
            pressures = {"MemoryPressure": (False, "KubeletHasSufficientMemory"),
                         "DiskPressure": (False, "KubeletHasNoDiskPressure"),
                         "PIDPressure": (False, "KubeletHasSufficientPID")}
        states = dict(pressures)
        states["Ready"] = (True, "KubeletReady")
        now = _now()
        conditions = []
        for kind, (value, reason) in states.items():
            status = "True" if value else "False"
            previous = self._transitions.get(kind)
            if previous is None or previous[0] != status:
                self._transitions[kind] = (status, now)
            conditions.append({"type": kind, "status": status, "lastHeartbeatTime": now,
                               "lastTransitionTime": self._transitions[kind][1], "reason": reason,
                               "message": _MESSAGES[reason]})
        return conditions

    def node_status(self) -> dict[str, Any]:
        """The status to report now."""
        if self._info is None:
            self._info = _node_info(self.settings)
        capacity = self.capacity()
        return {
            "capacity": capacity,
            "allocatable": dict(self.settings.allocatable or capacity),
            "conditions": self._conditions(),
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
        node = self.node()
        try:
            created = await self.client.create(node, raw=True)
        except ApiStatusError as exc:
            if exc.code != 409:
                raise
            patch = {"metadata": {"labels": node["metadata"]["labels"]}}
            if node["spec"]:
                patch["spec"] = node["spec"]
            await self.client.patch("nodes", self.settings.name, patch, raw=True)
            created = await self.client.patch("nodes", self.settings.name, {"status": node["status"]},
                                              subresource="status", raw=True)
        else:
            # status given at create is dropped by the API (as in Kubernetes): write it now
            created = await self.client.patch("nodes", self.settings.name, {"status": node["status"]},
                                              subresource="status", raw=True)
        self.node_uid = (created.get("metadata") or {}).get("uid")
        self._last_written = self._comparable(node["status"])
        self._last_report = time.monotonic()
        return created

    @staticmethod
    def _comparable(status: dict) -> dict:
        conditions = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status.get("conditions") or ()]
        return {**status, "conditions": conditions}

    async def update_status(self, force: bool = False) -> bool:
        """Write the node status if it changed or the report period passed; returns whether it wrote."""
        status = self.node_status()
        comparable = self._comparable(status)
        due = time.monotonic() - self._last_report >= self.settings.status_report_period
        if not force and not due and comparable == self._last_written:
            return False
        await self.client.patch("nodes", self.settings.name, {"status": status}, subresource="status", raw=True)
        self._last_written = comparable
        self._last_report = time.monotonic()
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
        """Renew (creating it the first time) the node's Lease; returns it as stored."""
        if self.lease is None:
            try:
                self.lease = await self.client.get("leases", self.settings.name, namespace=LEASE_NAMESPACE, raw=True)
            except ApiStatusError as exc:
                if exc.code != 404:
                    raise
                self.lease = await self.client.create(self._lease_body(), namespace=LEASE_NAMESPACE, raw=True)
                return self.lease
        lease = self.lease
        spec = lease.setdefault("spec", {})
        spec["holderIdentity"] = self.settings.name
        spec["leaseDurationSeconds"] = self.settings.lease_duration
        spec["renewTime"] = micro_time()
        try:
            self.lease = await self.client.update(lease, raw=True)
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
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []

    async def _every(self, period: float, action: Any) -> None:
        while True:
            try:
                await action()
            except (ApiStatusError, TransportError, OSError) as exc:
                log.warning("node %s: %s failed: %s", self.settings.name, getattr(action, "__name__", action), exc)
            except Exception:
                log.exception("node %s: %s failed", self.settings.name, getattr(action, "__name__", action))
            await asyncio.sleep(period)
