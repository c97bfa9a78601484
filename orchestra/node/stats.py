"""Resource usage for the agent's ``/stats/summary``: per container, per pod and for the node.

The runtime reports cumulative CPU nanoseconds and the memory working set of each container
(cgroups for ``oci``, ``/proc`` for ``process``, fake figures for ``simulated``); this module
turns successive samples into CPU rates (``usageNanoCores``) and assembles the summary in the
shape of the kubelet's Summary API (``node`` and ``pods``, each with ``cpu`` and ``memory``).
The node's own figures come from ``/proc/stat`` and ``/proc/meminfo`` when ``host`` is true,
else they are the sum of its pods (simulated nodes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any, Iterable

from orchestra.node.events import rfc3339
from orchestra.node.runtime import Runtime

__all__ = ["UsageTracker", "summary", "host_cpu_nanoseconds", "host_memory", "meminfo"]

#: Seconds between the two samples of the node's first CPU rate.
_FIRST_WINDOW = 0.2
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def host_cpu_nanoseconds() -> int:
    """CPU time the host spent busy (user+nice+system+irq+softirq+steal), in nanoseconds."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0
    values = [int(v) for v in fields[:8]] + [0] * 8
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy * 1_000_000_000 // _CLOCK_TICKS


def meminfo() -> dict[str, int]:
    """``/proc/meminfo`` as a dict (sizes in bytes, counts as they are); empty when unreadable."""
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


def host_memory() -> tuple[int, int]:
    """``(working set, available)`` bytes of the host, from ``/proc/meminfo``."""
    values = meminfo()
    total, available = values.get("MemTotal", 0), values.get("MemAvailable", 0)
    return total - available, available


class UsageTracker:
    """Remembers the last CPU sample of each key to compute ``usageNanoCores`` between calls."""

    def __init__(self) -> None:
        self._samples: dict[str, tuple[int, float]] = {}

    def rate(self, key: str, cpu_ns: int, now: float | None = None) -> int | None:
        """Nanocores used by ``key`` since its previous sample (None for the first one)."""
        now = time.monotonic() if now is None else now
        previous = self._samples.get(key)
        self._samples[key] = (cpu_ns, now)
        if previous is None or now <= previous[1] or cpu_ns < previous[0]:
            return None
        return int((cpu_ns - previous[0]) / (now - previous[1]))

    def retain(self, keys: Iterable[str]) -> None:
        """Forget every key not in ``keys``."""
        keep = set(keys)
        for key in [k for k in self._samples if k not in keep]:
            del self._samples[key]


def _usage(stamp: str, cpu_ns: int, nanocores: int, memory: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"time": stamp, "usageNanoCores": nanocores, "usageCoreNanoSeconds": cpu_ns},
            {"time": stamp, "workingSetBytes": memory, "usageBytes": memory})


async def summary(node_name: str, runtime: Runtime, pods: Iterable[tuple[dict, str]], tracker: UsageTracker,
                  host: bool = True) -> dict[str, Any]:
    """The Summary API document for ``pods`` (``(pod, sandbox id)`` pairs) on this node."""
    stamp = rfc3339(dt.datetime.now(dt.timezone.utc))
    pod_entries = []
    seen: list[str] = []
    total_cpu = total_rate = total_memory = 0
    for pod, sandbox_id in pods:
        meta = pod.get("metadata") or {}
        containers = []
        pod_cpu = pod_rate = pod_memory = 0
        try:
            statuses = await runtime.list_containers(sandbox_id)
        except LookupError:
            continue
        for status in statuses:
            if status.state.value != "running":
                continue
            try:
                stats = await runtime.container_stats(status.id)
            except LookupError:
                continue
            key = f"{sandbox_id}/{status.id}"
            seen.append(key)
            rate = tracker.rate(key, stats.cpu_usage_nanoseconds)
            if rate is None:  # first sample: the average since the container started
                started = status.started_at or status.created_at
                elapsed = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
                rate = int(stats.cpu_usage_nanoseconds / elapsed) if elapsed > 0 else 0
            cpu, memory = _usage(stamp, stats.cpu_usage_nanoseconds, rate, stats.memory_working_set_bytes)
            containers.append({"name": status.name, "startTime": rfc3339(status.started_at or status.created_at),
                               "cpu": cpu, "memory": memory})
            pod_cpu += stats.cpu_usage_nanoseconds
            pod_rate += rate
            pod_memory += stats.memory_working_set_bytes
        cpu, memory = _usage(stamp, pod_cpu, pod_rate, pod_memory)
        pod_entries.append({"podRef": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                                       "uid": meta.get("uid")},
                            "startTime": (pod.get("status") or {}).get("startTime"),
                            "containers": containers, "cpu": cpu, "memory": memory})
        total_cpu += pod_cpu
        total_rate += pod_rate
        total_memory += pod_memory
    if host:
        node_cpu = host_cpu_nanoseconds()
        seen.append("node")
        node_rate = tracker.rate("node", node_cpu)
        if node_rate is None:  # first sample: measure over a short window
            await asyncio.sleep(_FIRST_WINDOW)
            node_cpu = host_cpu_nanoseconds()
            node_rate = tracker.rate("node", node_cpu) or 0
        node_memory, available = host_memory()
    else:
        node_cpu, node_rate, node_memory, available = total_cpu, total_rate, total_memory, 0
    tracker.retain(seen)
    cpu, memory = _usage(stamp, node_cpu, node_rate, node_memory)
    if available:
        memory["availableBytes"] = available
    return {"node": {"nodeName": node_name, "cpu": cpu, "memory": memory}, "pods": pod_entries}
