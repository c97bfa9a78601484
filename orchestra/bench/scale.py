"""The cluster at scale: N simulated nodes and M pods of D Deployments, in one process.

:func:`run_scale_bench` starts :class:`orchestra.Cluster` on ``memory://`` with ``nodes``
node agents on the ``simulated`` runtime (no endpoint each), then creates ``deployments``
Deployments of ``pods / deployments`` replicas each — all at once by default, or paced so
that pods arrive at ``rate`` per second (one Deployment every ``replicas / rate`` seconds, on
a fixed timetable), as clusterloader2 creates pods at a controlled rate — and watches pods
until every one is Running. Created at once, pods queue, so their startup latency grows with
the run and says little about the SLO; paced, it measures how long a pod waits at that load. Everything — API server, scheduler, controllers, proxy, agents and this
observer — shares one process and one event loop, as ``orchestra up`` does.

Measured:

- ``cluster_start_s``: from ``Cluster.start()`` until every node is Ready;
- ``all_running_s``: from the first Deployment's creation until the last pod is Running;
- pod startup latency: for each pod, from its first watch event (its creation, as observed)
  to the first event showing ``phase: Running``; p50, p90, p99 and max. Kubernetes' SLO for
  this (image pulls excluded) is p99 ≤ 5 s;
- ``pods_per_s`` and ``pods_per_cpu_s``: pods Running per second of wall time and per second of
  this process's CPU time over the same window (the machine may be shared: per CPU-second is the
  steadier figure);
- ``peak_rss_mb``: the process's resident-memory high-water mark (``VmHWM``) at the end;
  ``baseline_rss_mb`` is its RSS before the cluster started;
- ``compactions``: how many times the API server compacted the store during the run (every
  ``compaction_interval`` seconds; Kubernetes' default is 300 s, 0 disables).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import resource
from pathlib import Path
from typing import Any, Callable

import attrs

from orchestra.aio import wait_for

__all__ = ["ScaleConfig", "ScaleResult", "run_scale_bench", "percentile", "SLO_P99_S"]

#: Kubernetes' pod startup latency SLO: p99 of creation → Running (image pulls excluded), seconds.
SLO_P99_S = 5.0

Progress = Callable[[str], None]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values`` by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@attrs.frozen
class ScaleConfig:
    """The size of one run: nodes, pods, Deployments (pods are spread evenly over them)."""

    nodes: int = 100
    pods: int = 3_000
    deployments: int = 30
    #: Seconds to wait for every pod to be Running before giving up.
    timeout: float = 900.0
    namespace: str = "default"
    #: Pods per second to create (Deployments paced to it); 0 creates every Deployment at once.
    rate: float = 0.0
    #: Seconds between the API server's store compactions (0: never).
    compaction_interval: float = 300.0

    def __attrs_post_init__(self) -> None:
        for name in ("nodes", "pods", "deployments"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("rate", "compaction_interval"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        if self.pods % self.deployments:
            raise ValueError(f"pods ({self.pods}) must be a multiple of deployments ({self.deployments})")

    @classmethod
    def full(cls, **overrides: Any) -> "ScaleConfig":
        """The issue's size: 1,000 nodes, 30,000 pods in 300 Deployments."""
        return cls(**{"nodes": 1_000, "pods": 30_000, "deployments": 300, **overrides})


@attrs.frozen
class ScaleResult:
    """What one run measured (see the module docstring)."""

    nodes: int
    pods: int
    deployments: int
    cluster_start_s: float
    all_running_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    pods_per_s: float
    pods_per_cpu_s: float
    cpu_s: float
    baseline_rss_mb: float
    peak_rss_mb: float
    rate: float = 0.0
    compaction_interval: float = 0.0
    compactions: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The figures, rounded, as a dict."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in attrs.asdict(self).items()}

    @property
    def slo_met(self) -> bool:
        """Whether p99 startup latency is within Kubernetes' 5 s SLO."""
        return self.p99_s <= SLO_P99_S


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def deployment(name: str, replicas: int, namespace: str) -> dict:
    """A Deployment of ``replicas`` simulated pods that run until deleted."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name, "bench": "scale"}},
                              "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}]}}},
    }


class _PodObserver:
    """Watches the bench's pods: when each was first seen and when it was first seen Running."""

    def __init__(self, client: Any, namespace: str, expected: int) -> None:
        self.client = client
        self.namespace = namespace
        self.expected = expected
        self.created: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.all_running = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resource_version: str | None = None

    async def start(self) -> None:
        listed = await self.client.list("pods", namespace=self.namespace, label_selector="bench=scale", raw=True)
        self._resource_version = listed.resource_version
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.all_running.is_set():
            async for event in self.client.watch("pods", namespace=self.namespace, label_selector="bench=scale",
                                                 resource_version=self._resource_version, raw=True):
                now = loop.time()
                pod = event.object
                metadata = pod.get("metadata") or {}
                if metadata.get("resourceVersion"):
                    self._resource_version = metadata["resourceVersion"]
                if event.type not in ("ADDED", "MODIFIED"):
                    continue
                uid = metadata.get("uid")
                self.created.setdefault(uid, now)
                if uid not in self.running and (pod.get("status") or {}).get("phase") == "Running":
                    self.running[uid] = now
                    if len(self.running) >= self.expected:
                        self.all_running.set()
                        return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
            if not self._task.cancelled() and self._task.exception() is not None:
                raise self._task.exception()  # type: ignore[misc]

    def latencies(self) -> list[float]:
        return [self.running[uid] - self.created[uid] for uid in self.running]


async def run_scale_bench(cfg: ScaleConfig, progress: Progress | None = None) -> ScaleResult:
    """Run one scale benchmark (see the module docstring) and return its figures."""
    from orchestra.cluster import Cluster

    say = progress or (lambda message: None)
    gc.collect()
    baseline_kb = _status_kb("VmRSS")
    loop = asyncio.get_running_loop()
    say(f"starting a cluster of {cfg.nodes:,} simulated nodes")
    cluster = Cluster("memory://", nodes=cfg.nodes, runtime="simulated", proxy=False,
                      node_settings={"serve": False}, compaction_interval=cfg.compaction_interval)
    began = loop.time()
    await cluster.start()
    try:
        cluster_start = loop.time() - began
        pace = f"at {cfg.rate:g} pods/s" if cfg.rate else "at once"
        say(f"{cfg.nodes:,} nodes Ready in {cluster_start:.1f} s; creating {cfg.deployments:,} Deployments "
            f"of {cfg.pods // cfg.deployments:,} pods {pace}")
        assert cluster.client is not None
        observer = _PodObserver(cluster.client, cfg.namespace, cfg.pods)
        await observer.start()
        cpu_began = _cpu_seconds()
        created = loop.time()
        creator = loop.create_task(_create_deployments(cluster.client, cfg, created))
        reporter = loop.create_task(_report(observer, cfg.pods, say))
        try:
            await wait_for(asyncio.gather(creator, observer.all_running.wait()), cfg.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"only {len(observer.running):,} of {cfg.pods:,} pods were Running after "
                               f"{cfg.timeout:g} s ({len(observer.created):,} created)") from None
        finally:
            creator.cancel()
            reporter.cancel()
            await observer.stop()
        all_running = loop.time() - created
        cpu = _cpu_seconds() - cpu_began
        compactions = cluster.server.compactor.compactions
    finally:
        say("stopping the cluster")
        await cluster.stop()
    latencies = observer.latencies()
    return ScaleResult(
        nodes=cfg.nodes, pods=cfg.pods, deployments=cfg.deployments, cluster_start_s=cluster_start,
        all_running_s=all_running, p50_s=percentile(latencies, 0.5), p90_s=percentile(latencies, 0.9),
        p99_s=percentile(latencies, 0.99), max_s=max(latencies), pods_per_s=cfg.pods / all_running,
        pods_per_cpu_s=cfg.pods / cpu if cpu > 0 else 0.0, cpu_s=cpu, baseline_rss_mb=baseline_kb / 1024,
        peak_rss_mb=_status_kb("VmHWM") / 1024, rate=cfg.rate, compaction_interval=cfg.compaction_interval,
        compactions=compactions,
    )


async def _create_deployments(client: Any, cfg: ScaleConfig, began: float) -> None:
    """Create the Deployments: all at once, or Deployment ``i`` at ``began + i * replicas / rate``."""
    replicas = cfg.pods // cfg.deployments
    names = [f"scale-{i:04d}" for i in range(cfg.deployments)]
    if not cfg.rate:
        await asyncio.gather(*(client.create(deployment(name, replicas, cfg.namespace), raw=True) for name in names))
        return
    loop = asyncio.get_running_loop()
    step = replicas / cfg.rate
    pending: set[asyncio.Task[Any]] = set()
    for i, name in enumerate(names):
        delay = began + i * step - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # Not awaited in turn: a slow answer must not push the next creation off the timetable.
        pending.add(loop.create_task(client.create(deployment(name, replicas, cfg.namespace), raw=True)))
    await asyncio.gather(*pending)


async def _report(observer: _PodObserver, total: int, say: Progress) -> None:
    while True:
        await asyncio.sleep(5)
        say(f"  {len(observer.created):,} pods created, {len(observer.running):,} of {total:,} Running")
