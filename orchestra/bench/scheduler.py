"""The scheduler benchmark, modelled on kube-scheduler's ``scheduler_perf``.

End-to-end workloads run the whole service in one process on one core, as ``orchestra up``
will: an in-process API server over the embedded ``memory://`` store, nodes and the initial
pods created through the API, the measured pods created pending, then the :class:`Scheduler`
started and timed until every measured pod's binding has been committed through
``pods/binding``. Reported per workload: pods/s (measured pods ÷ seconds from the first
scheduling attempt to the last committed binding), and p50/p99 of the per-pod latency from
its first attempt to its committed binding. ``Scheduled`` events are written concurrently by
the scheduler's event writer; the time to drain the rest after the last binding is noted,
and the page faults per pod in the timed window: fresh memory touched, what the run retains
(a process that ran a workload before reuses the memory that run freed, so its first run
tells most). So is, for each run of the workloads below, the CPU time of a fixed Python
loop run just before it (:mod:`orchestra.bench.floor`): the machine's speed at that moment,
which on a shared machine moves more than a commit does.

- ``SchedulingBasic`` — default pods on default nodes (1,000 initial + 10,000 measured on 5,000 nodes).
- ``SchedulingNodeAffinity`` — required node affinity to zones half the nodes have.
- ``TopologySpreading`` — a hard zone spread constraint (maxSkew 5) over three zones.
- ``SchedulingPodAntiAffinity`` — required anti-affinity per hostname (one pod per node).
- ``PreemptionAsync`` — default pods on nodes each full with four low-priority pods (900m of
  their 4 CPUs), while a high-priority pod that must evict three of them arrives every 200 ms
  (scheduler_perf's ``churn``); the default pods are measured (5,000 on 5,000 nodes, over
  20,000 low-priority pods). The preemptions' writes and cycles are in the timed window, as
  in scheduler_perf's workload of that name, the one its 570 pods/s threshold is set for.
- ``PreemptionBasic`` — every measured pod is a preemptor that must evict three low-priority
  pods (500 on 500 nodes holding 2,000): thirteen API writes and two cycles per pod. A
  preemptor is retried once its victims' deletions are seen, straight from backoffQ when
  activeQ is empty; while other preemptors still wait for their first attempt they go first,
  so the latency of most pods is the first pass over all of them or the initial backoff,
  whichever ends first. scheduler_perf sets no threshold for it (its 5,000-node case is
  disabled there as always failing), so it has no target here.

In-memory figures (``core`` column) time only the scheduling cycle (``schedule_one`` + assume):
the Cython core against the plain-Python reference on SchedulingBasic (both scoring every pod in
full: batching off), the default profile with and without opportunistic batching, one Python
batch score plugin added, one Python batch filter plugin added (neither signs pods, so neither
batches), and node counts 500 / 5,000 / 15,000. Each core figure's note says how many pods were
placed from a batch.

With ``instructions`` set, each end-to-end workload runs once more in a child process under
valgrind's callgrind, which counts the instructions of the same timed window
(:mod:`orchestra.bench.callgrind`): per pod, the figure to compare two commits by. The API
writes the scheduler makes (its Event, binding, a victim's status patch and deletion) are
then counted alone, per write (:func:`count_writes`), to show what of a pod's count they are.

``MixedShapes`` is SchedulingBasic with four pod shapes interleaved in the queue, as when four
Deployments scale up at once: in memory beside the one-shape run, and end to end.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import resource
import time
from typing import Any, Callable

import attrs

from orchestra.bench import callgrind
from orchestra.bench.floor import floor_seconds
from orchestra.scheduler.framework import Plugin

__all__ = [
    "CHURN_INTERVAL_SECONDS",
    "END_TO_END",
    "KUBE_THRESHOLDS",
    "SCHEDULER_WRITES",
    "SchedBenchConfig",
    "SchedMeasurement",
    "TARGETS",
    "WORKLOADS",
    "LowestCpuRequested",
    "count_end_to_end",
    "count_writes",
    "instruction_budgets",
    "run_scheduler_bench",
    "scheduler_target_rows",
]

#: kube-scheduler's scheduler_perf CI thresholds (pods/s) for the same workloads at 5,000 nodes.
KUBE_THRESHOLDS = {"SchedulingBasic": 680, "SchedulingNodeAffinity": 220, "TopologySpreading": 460,
                   "SchedulingPodAntiAffinity": 60, "PreemptionAsync": 570}
#: Orchestra's targets (pods/s, end to end).
TARGETS = {"SchedulingBasic": 10_000, "SchedulingNodeAffinity": 5_000, "TopologySpreading": 2_000,
           "SchedulingPodAntiAffinity": 1_000, "PreemptionAsync": 2_000}
#: The workloads run end to end through the in-process API: those with a threshold, and PreemptionBasic.
END_TO_END = (*KUBE_THRESHOLDS, "PreemptionBasic")
WORKLOADS = (*END_TO_END, "CythonVsReference", "PythonBatchPlugin", "MixedShapes", "Scaling")
#: How often PreemptionAsync's churn creates a high-priority pod (scheduler_perf: every 200 ms).
CHURN_INTERVAL_SECONDS = 0.2
#: The requests (cpu, memory) of MixedShapes' four Deployments, whose pods alternate in the queue.
MIXED_SHAPES = (("100m", "500Mi"), ("250m", "1Gi"), ("500m", "2Gi"), ("50m", "250Mi"))
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


@attrs.frozen
class SchedBenchConfig:
    """Sizes of one run; :meth:`full` gives scheduler_perf's sizes, the default is a quick smoke run."""

    nodes: int = 500
    init_pods: int = 100
    pods: int = 1_000
    antiaffinity_pods: int = 200
    spread_pods: int = 500
    #: PreemptionBasic's sizes (PreemptionAsync's follow ``nodes``: four low-priority pods and
    #: one measured pod per node, as scheduler_perf sizes it).
    preemption_nodes: int = 100
    preemption_init_pods: int = 400
    preemption_pods: int = 100
    reference_pods: int = 5
    scaling_nodes: tuple[int, ...] = (500, 1_000)
    scaling_pods: int = 500
    initial_backoff: float = 1.0
    workloads: tuple[str, ...] = WORKLOADS
    seed: int = 1
    #: The one CPU the run is pinned to (None: not pinned).
    cpu: int | None = 0
    #: Runs of each end-to-end workload; the median (by pods per CPU second) is reported.
    repeat: int = 1
    #: Also count each end-to-end workload's instructions per pod under valgrind's callgrind.
    instructions: bool = False

    @classmethod
    def full(cls, **overrides: Any) -> "SchedBenchConfig":
        """scheduler_perf's sizes (5,000 nodes; 1,000 + 10,000 pods; ...)."""
        sizes = dict(nodes=5_000, init_pods=1_000, pods=10_000, antiaffinity_pods=2_000, spread_pods=5_000,
                     preemption_nodes=500, preemption_init_pods=2_000, preemption_pods=500, reference_pods=20,
                     scaling_nodes=(500, 5_000, 15_000), scaling_pods=10_000)
        sizes.update(overrides)
        return cls(**sizes)


@attrs.frozen
class SchedMeasurement:
    """One workload in one mode (``end-to-end`` or ``core``): pods, seconds and per-pod latencies."""

    workload: str
    mode: str
    pods: int
    seconds: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    note: str = ""
    #: CPU seconds the process used meanwhile (≈ ``seconds`` on an idle core; less when contended).
    cpu_seconds: float = 0.0
    #: Instructions executed meanwhile, counted by callgrind (mode ``instructions``; 0: not counted).
    instructions: int = 0
    #: What ``pods`` counts: ``pod``, or ``write`` for :func:`count_writes`' rows.
    unit: str = "pod"

    @property
    def instructions_per_pod(self) -> float:
        """Instructions per measured pod (0 when not counted)."""
        return self.instructions / self.pods if self.pods else 0.0

    @property
    def rate(self) -> float:
        """Pods per second."""
        return self.pods / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_rate(self) -> float:
        """Pods per CPU second of the process (what an uncontended core would give)."""
        return self.pods / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    def cell(self) -> str:
        """The table cell: rate (and per CPU second when measured), latency percentiles when measured;
        instructions per pod when counted (timings under callgrind mean nothing)."""
        if self.instructions:
            return f"{self.instructions_per_pod:,.0f} instructions/{self.unit}"
        text = f"{_rate(self.rate)} pods/s"
        if self.cpu_seconds:
            text += f"\n{_rate(self.cpu_rate)} pods/CPU-s"
        if self.p50_ms or self.p99_ms:
            text += f"\np50 {self.p50_ms:.2f} ms · p99 {self.p99_ms:.2f} ms"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"workload": self.workload, "mode": self.mode, "pods": self.pods, "seconds": self.seconds,
                "rate": self.rate, "cpu_seconds": self.cpu_seconds, "cpu_rate": self.cpu_rate,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "note": self.note,
                "instructions": self.instructions, "instructions_per_pod": self.instructions_per_pod,
                "unit": self.unit}


def _rate(value: float) -> str:
    """A rate for a table cell: whole numbers, or two decimals below 10 (the plain-Python reference)."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


# --------------------------------------------------------------------------- templates


def node_manifest(name: str, labels: dict[str, str] | None = None, cpu: str = "4") -> dict[str, Any]:
    """scheduler_perf's default node: 4 CPUs, 32Gi, 110 pods."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {HOSTNAME: name, **(labels or {})}},
            "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": cpu, "memory": "32Gi", "pods": "110"}}}


def pod_manifest(name: str, *, cpu: str = "100m", memory: str = "500Mi", labels: dict[str, str] | None = None,
                 node: str | None = None, **spec: Any) -> dict[str, Any]:
    """scheduler_perf's default pod (a pause container asking 100m CPU and 500Mi)."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "labels": dict(labels or {})},
           "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}}
    if node:
        pod["spec"]["nodeName"] = node
    return pod


def _anti_affinity() -> dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": HOSTNAME}]}}


@attrs.frozen
class _Scenario:
    nodes: list[dict[str, Any]]
    init_pods: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    #: The manifest of the n-th pod created every :data:`CHURN_INTERVAL_SECONDS` while the
    #: measured pods are scheduled (scheduler_perf's ``churn``); churn pods are not measured.
    churn: Callable[[int], dict[str, Any]] | None = None


def _scenario(workload: str, cfg: SchedBenchConfig, nodes: int | None = None, pods: int | None = None) -> _Scenario:
    n = nodes or cfg.nodes
    if workload == "SchedulingNodeAffinity":
        node_list = [node_manifest(f"node-{i}", {ZONE: "zone1" if i % 2 == 0 else "zone3"}) for i in range(n)]
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone1", "zone2"]}]}]}}}
        return _Scenario(node_list, _init(cfg.init_pods, n), [pod_manifest(f"pod-{i}", affinity=affinity)
                                                              for i in range(pods or cfg.pods)])
    if workload == "TopologySpreading":
        node_list = [node_manifest(f"node-{i}", {ZONE: f"moon-{i % 3 + 1}"}) for i in range(n)]
        spread = [{"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                   "labelSelector": {"matchLabels": {"color": "blue"}}}]
        return _Scenario(node_list, _init(cfg.init_pods, n),
                         [pod_manifest(f"pod-{i}", labels={"color": "blue"}, topologySpreadConstraints=spread)
                          for i in range(cfg.spread_pods)])
    if workload == "SchedulingPodAntiAffinity":
        node_list = [node_manifest(f"node-{i}") for i in range(n)]
        init = [pod_manifest(f"init-{i}", labels={"color": "green"}, node=f"node-{i % n}", affinity=_anti_affinity())
                for i in range(min(cfg.init_pods, n))]
        return _Scenario(node_list, init, [pod_manifest(f"pod-{i}", labels={"color": "green"}, affinity=_anti_affinity())
                                           for i in range(cfg.antiaffinity_pods)])
    if workload == "PreemptionAsync":
        node_list = [node_manifest(f"node-{i}") for i in range(n)]
        return _Scenario(node_list, _low_priority(4 * n, n), [pod_manifest(f"pod-{i}") for i in range(pods or n)],
                         churn=lambda i: pod_manifest(f"high-{i}", cpu="3", priority=10))
    if workload == "PreemptionBasic":
        n = cfg.preemption_nodes
        node_list = [node_manifest(f"node-{i}") for i in range(n)]
        return _Scenario(node_list, _low_priority(cfg.preemption_init_pods, n),
                         [pod_manifest(f"high-{i}", cpu="3", priority=10) for i in range(cfg.preemption_pods)])
    node_list = [node_manifest(f"node-{i}") for i in range(n)]
    # SchedulingBasic's pods all have the first shape (pod_manifest's default requests)
    shapes = MIXED_SHAPES if workload == "SchedulingMixedShapes" else MIXED_SHAPES[:1]
    return _Scenario(node_list, _init(cfg.init_pods, n),
                     [pod_manifest(f"pod-{i}", cpu=shapes[i % len(shapes)][0], memory=shapes[i % len(shapes)][1])
                      for i in range(pods or cfg.pods)])


def _init(count: int, nodes: int) -> list[dict[str, Any]]:
    return [pod_manifest(f"init-{i}", node=f"node-{i % nodes}") for i in range(count)]


def _low_priority(count: int, nodes: int) -> list[dict[str, Any]]:
    """Preemption's initial pods: 900m each, bound round-robin (four fill a node's 4 CPUs to 3.6)."""
    return [pod_manifest(f"low-{i}", cpu="900m", node=f"node-{i % nodes}", priority=0) for i in range(count)]


# --------------------------------------------------------------------------- end to end


async def run_end_to_end(workload: str, scenario: _Scenario, cfg: SchedBenchConfig,
                         progress: Callable[[str], None] | None = None, label: str | None = None,
                         window: Callable[[bool], None] | None = None, time_scale: float = 1.0) -> SchedMeasurement:
    """Create the scenario through an in-process API server, then time the scheduler binding it.

    ``window``, when given, is called with True as the timed window opens (the scheduler
    started) and with False as it closes (the last measured pod bound). ``time_scale``: how
    many times slower than natively this process runs; the clock-driven constants (the
    scheduler's cycle slice and pod backoffs, the churn's interval) are stretched by it, so
    that as much work happens within each of them as in a native run.
    """
    from orchestra.aio import cancel_and_wait
    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import ADMIN, UserInfo
    from orchestra.client import Client
    from orchestra.scheduler.config import SchedulerConfig
    from orchestra.scheduler.scheduler import SCHEDULER_USER, Scheduler

    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo(SCHEDULER_USER, ADMIN, ("system:masters",)))
    try:
        if progress:
            progress(f"{label or workload}: creating {len(scenario.nodes):,} nodes, "
                     f"{len(scenario.init_pods):,} + {len(scenario.pods):,} pods")
        for i, obj in enumerate((*scenario.nodes, *scenario.init_pods, *scenario.pods)):
            await client.request_json("POST", _collection(obj), body=obj)
            if i % 256 == 255:
                await asyncio.sleep(0)  # in-process writes never wait: let the watch caches keep up
        wanted = {f"default/{p['metadata']['name']}" for p in scenario.pods}
        latencies: list[float] = []
        done = asyncio.Event()
        clock = time.perf_counter

        churned = churn_bound = 0

        def on_bound(qpi: Any, node: str) -> None:
            nonlocal churn_bound
            if qpi.key in wanted:
                latencies.append(clock() - qpi.initial_attempt)
                if len(latencies) == len(wanted):
                    done.set()
            else:
                churn_bound += 1

        async def churn(make: Callable[[int], dict[str, Any]]) -> None:
            nonlocal churned
            while True:  # the first at once, then one each interval until cancelled
                obj = make(churned)
                await client.request_json("POST", _collection(obj), body=obj)
                churned += 1
                await asyncio.sleep(CHURN_INTERVAL_SECONDS * time_scale)

        config = SchedulerConfig(pod_initial_backoff=cfg.initial_backoff * time_scale,
                                 pod_max_backoff=max(10.0, cfg.initial_backoff) * time_scale, preemption_grace_seconds=0,
                                 cycle_slice_seconds=SchedulerConfig().cycle_slice_seconds * time_scale)
        scheduler = Scheduler.create(client, config, rng=random.Random(cfg.seed), clock=clock, on_bound=on_bound)
        gc.collect()
        gc.disable()
        try:
            await scheduler.start(sync_timeout=None)
            if window:
                window(True)
            t0, c0, f0 = clock(), time.process_time(), _page_faults()
            churner = asyncio.get_running_loop().create_task(churn(scenario.churn)) if scenario.churn else None
            await done.wait()
            elapsed, cpu, faults = clock() - t0, time.process_time() - c0, _page_faults() - f0
            if window:
                window(False)
            if churner is not None:
                await cancel_and_wait([churner])
            await scheduler.recorder.flush()
            drain = clock() - t0 - elapsed
        finally:
            gc.enable()
        await scheduler.stop()
        latencies.sort()
        note = (f"events drained {drain:.2f} s after the last binding; "
                f"{faults / max(1, len(latencies)):.1f} page faults per pod")
        if scenario.churn:
            note = f"high-priority pods created by the churn: {churned} ({churn_bound} bound in the window); {note}"
        return SchedMeasurement(label or workload, "end-to-end", len(latencies), elapsed,
                                _pct(latencies, 50) * 1e3, _pct(latencies, 99) * 1e3, note=note, cpu_seconds=cpu)
    finally:
        await client.close()
        await server.close()


def _page_faults() -> int:
    """This process's page faults so far: memory it touches for the first time (its growth)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


def _collection(obj: dict[str, Any]) -> str:
    return "/api/v1/nodes" if obj["kind"] == "Node" else "/api/v1/namespaces/default/pods"


def _pct(sorted_values: list[float], p: int) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


# --------------------------------------------------------------------------- in memory


class LowestCpuRequested(Plugin):
    """A plain-Python batch score plugin (for the benchmark): prefer nodes with less CPU requested."""

    NAME = "LowestCpuRequested"

    def score_batch(self, state: Any, pod: Any, batch: Any) -> list[int]:
        """100 × (1 − requested ÷ allocatable) per candidate, from the batch's columns."""
        alloc = batch.allocatable("cpu")
        req = batch.requested("cpu")
        return [100 - (100 * r // a if a else 100) for r, a in zip(req, alloc)]


class CpuHeadroom(Plugin):
    """A plain-Python batch filter plugin (for the benchmark): keep 10% of a node's CPU free."""

    NAME = "CpuHeadroom"

    def filter_batch(self, state: Any, pod: Any, batch: Any) -> list[bool]:
        """Whether the node's requested CPU plus the pod's stays within 90% of allocatable."""
        cpu = pod.requests[0]
        return [10 * (r + cpu) <= 9 * a for r, a in zip(batch.requested("cpu"), batch.allocatable("cpu"))]


def _core_run(scenario: _Scenario, profile: dict[str, Any], seed: int, plugins: dict[str, type] | None = None,
              batching: bool = True) -> tuple[int, float, float, list[float], int]:
    from orchestra.plugin_manager import get_plugin_manager
    from orchestra.scheduler import ClusterSnapshot, Framework, PodInfo
    from orchestra.scheduler.framework import plugin_registry

    registry = plugin_registry(get_plugin_manager(load_entrypoints=False))
    registry.update(plugins or {})
    fw = Framework.from_profile(profile, registry, rng=random.Random(seed), batching=batching)
    snap = ClusterSnapshot()
    for n in scenario.nodes:
        snap.add_node(n)
    for p in scenario.init_pods:
        snap.add_pod(p)
    infos = [PodInfo.from_dict(p) for p in scenario.pods]
    lat: list[float] = []
    clock = time.perf_counter
    gc.collect()
    gc.disable()
    try:
        t0, c0 = clock(), time.process_time()
        for info in infos:
            s = clock()
            result = fw.schedule_one(info, snap)
            if result.node_name is not None:
                snap.assume_pod(info, result.node_name)
            lat.append(clock() - s)
        elapsed, cpu = clock() - t0, time.process_time() - c0
    finally:
        gc.enable()
    return len(infos), elapsed, cpu, sorted(lat), fw.batch.batched if fw.batch is not None else 0


def _reference_run(scenario: _Scenario, count: int) -> tuple[int, float, float]:
    from orchestra.scheduler import NodeInfo, PodInfo
    from orchestra.scheduler.reference import ReferenceScheduler

    ref = ReferenceScheduler()
    nodes = [NodeInfo.from_dict(n) for n in scenario.nodes]
    placed = [(PodInfo.from_dict(p), p["spec"]["nodeName"]) for p in scenario.init_pods]
    infos = [PodInfo.from_dict(p) for p in scenario.pods[:count]]
    t0, c0 = time.perf_counter(), time.process_time()
    for info in infos:
        best, _ = ref.schedule(info, nodes, placed)
        if best is not None:
            placed.append((info, best))
    return len(infos), time.perf_counter() - t0, time.process_time() - c0


def _core_measurement(label: str, scenario: _Scenario, profile: dict[str, Any], seed: int,
                      plugins: dict[str, type] | None = None, batching: bool = True) -> SchedMeasurement:
    n, seconds, cpu, lat, batched = _core_run(scenario, profile, seed, plugins, batching)
    note = f"{batched:,} of {n:,} pods placed from a batch" if batching else "batching off"
    return SchedMeasurement(label, "core", n, seconds, _pct(lat, 50) * 1e3, _pct(lat, 99) * 1e3, note, cpu)


# --------------------------------------------------------------------------- the run


async def run_scheduler_bench(cfg: SchedBenchConfig, progress: Callable[[str], None] | None = None) -> list[SchedMeasurement]:
    """Run the chosen workloads; end-to-end ones through the in-process API, the rest in memory."""
    pinned = cfg.cpu is not None and hasattr(os, "sched_setaffinity")
    previous = os.sched_getaffinity(0) if pinned else None
    if pinned:
        os.sched_setaffinity(0, {cfg.cpu})
    try:
        return await _run_workloads(cfg, progress)
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)


async def _run_workloads(cfg: SchedBenchConfig, progress: Callable[[str], None] | None) -> list[SchedMeasurement]:
    out: list[SchedMeasurement] = []
    say = progress or (lambda _msg: None)
    for workload in cfg.workloads:
        if workload in END_TO_END:
            out.append(await _median_end_to_end(workload, cfg, progress))
            if cfg.instructions:
                say(f"{workload}: counting instructions under callgrind (some minutes at full size)")
                out.append(await count_end_to_end(workload, cfg))
        elif workload == "CythonVsReference":
            say("CythonVsReference: the core and the plain-Python reference, every node scored")
            scenario = _scenario("SchedulingBasic", cfg)
            # batching off: the reference scores every pod in full, so the ratio compares the kernels
            out.append(_core_measurement("SchedulingBasic (all nodes scored)", scenario, {"percentageOfNodesToScore": 100},
                                         cfg.seed, batching=False))
            n, seconds, cpu = _reference_run(scenario, cfg.reference_pods)
            out.append(SchedMeasurement("SchedulingBasic (all nodes scored)", "reference", n, seconds, cpu_seconds=cpu))
        elif workload == "PythonBatchPlugin":
            say("PythonBatchPlugin: the default profile with and without batching, and with one Python batch score or filter plugin")
            scenario = _scenario("SchedulingBasic", cfg)
            out.append(_core_measurement("SchedulingBasic", scenario, {}, cfg.seed))
            out.append(_core_measurement("SchedulingBasic, batching off", scenario, {}, cfg.seed, batching=False))
            profile = {"plugins": {"score": {"enabled": [{"name": LowestCpuRequested.NAME, "weight": 1}]}}}
            out.append(_core_measurement("SchedulingBasic + Python batch score", scenario, profile, cfg.seed,
                                         {LowestCpuRequested.NAME: LowestCpuRequested}))
            profile = {"plugins": {"filter": {"enabled": [{"name": CpuHeadroom.NAME}]}}}
            out.append(_core_measurement("SchedulingBasic + Python batch filter", scenario, profile, cfg.seed,
                                         {CpuHeadroom.NAME: CpuHeadroom}))
        elif workload == "MixedShapes":
            say("MixedShapes: SchedulingBasic with one pod shape and with four interleaved")
            mixed = _scenario("SchedulingMixedShapes", cfg)
            out.append(_core_measurement("SchedulingBasic, 1 pod shape", _scenario("SchedulingBasic", cfg), {}, cfg.seed))
            out.append(_core_measurement("SchedulingBasic, 4 pod shapes", mixed, {}, cfg.seed))
            out.append(await run_end_to_end("SchedulingMixedShapes", mixed, cfg, progress,
                                            label="SchedulingBasic, 4 pod shapes"))
        elif workload == "Scaling":
            for n in cfg.scaling_nodes:
                scenario = _scenario("SchedulingBasic", cfg, nodes=n, pods=cfg.scaling_pods)
                say(f"Scaling: {n:,} nodes")
                out.append(_core_measurement(f"Scaling {n:,} nodes", scenario, {}, cfg.seed))
                out.append(await run_end_to_end("SchedulingBasic", scenario, cfg, progress, label=f"Scaling {n:,} nodes"))
        else:
            raise ValueError(f"unknown scheduler workload {workload!r}; known: {', '.join(WORKLOADS)}")
    if cfg.instructions and any(w in END_TO_END for w in cfg.workloads):
        say(f"counting the scheduler's API writes alone under callgrind ({', '.join(SCHEDULER_WRITES)})")
        out += await count_writes(min(cfg.pods, 1000))
    return out


async def _median_end_to_end(workload: str, cfg: SchedBenchConfig,
                             progress: Callable[[str], None] | None) -> SchedMeasurement:
    """``cfg.repeat`` runs of one end-to-end workload; the run with the median pods per CPU second.

    Each run is preceded by :func:`floor_seconds`, noted as the machine's speed at that moment
    (the range over the runs when repeated)."""
    runs, floors = [], []
    for _ in range(max(1, cfg.repeat)):
        scenario = _scenario(workload, cfg)
        floors.append(floor_seconds())
        runs.append(await run_end_to_end(workload, scenario, cfg, progress))
    if len(runs) == 1:
        return attrs.evolve(runs[0], note=f"floor loop {floors[0] * 1e3:.0f} ms; {runs[0].note}")
    runs.sort(key=lambda m: m.cpu_rate)
    median = runs[len(runs) // 2]
    spread = f"median of {len(runs)} runs ({runs[0].cpu_rate:,.0f}–{runs[-1].cpu_rate:,.0f} pods/CPU-s)"
    floor = f"floor loop {min(floors) * 1e3:.0f}–{max(floors) * 1e3:.0f} ms"
    return attrs.evolve(median, note=f"{spread}; {floor}; {median.note}")


#: About how many times slower the end-to-end workloads run under callgrind (SchedulingBasic:
#: 35 to 40). The counted run stretches the scheduler's cycle slice by it: with the native
#: 1 ms, a slice would hold a fortieth of its native work and every pod would pay task
#: switches a native run shares among twenty. SchedulingBasic counts the same with slices of
#: 20 to 200 ms, so the factor need not be exact.
CALLGRIND_TIME_SCALE = 50.0


async def count_end_to_end(workload: str, cfg: SchedBenchConfig) -> SchedMeasurement:
    """One run of an end-to-end workload in a child process under callgrind, counting the
    instructions of the timed window (from the scheduler's start to the last binding), with
    the scheduler's clock-driven constants stretched by :data:`CALLGRIND_TIME_SCALE`."""
    child_cfg = attrs.evolve(cfg, workloads=(workload,), cpu=None, repeat=1, instructions=False)
    code = "import sys; from orchestra.bench.scheduler import _counted_child; _counted_child(sys.argv[1:])"
    total, out = await callgrind.count(["-c", code, workload, json.dumps(attrs.asdict(child_cfg))])
    pods = int(out.strip().splitlines()[-1])
    return SchedMeasurement(workload, "instructions", pods, 0.0, instructions=total)


def _counted_child(argv: list[str]) -> None:
    """The child of :func:`count_end_to_end`: run the workload with instrumentation switched
    on for its timed window, and print the pods it measured."""
    import uvloop

    workload, config = argv
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(config).items()}
    cfg = SchedBenchConfig(**fields)
    m = uvloop.run(run_end_to_end(workload, _scenario(workload, cfg), cfg, window=callgrind.instrument,
                                  time_scale=CALLGRIND_TIME_SCALE))
    print(m.pods)


#: The kinds of API write the scheduler makes, as :func:`count_writes` names them.
SCHEDULER_WRITES = ("Event", "binding", "status patch", "delete")


async def count_writes(count: int = 1000) -> list[SchedMeasurement]:
    """Instructions per API write of each kind the scheduler makes, each kind counted alone.

    A child process under callgrind makes ``count`` writes of one kind through the
    in-process API with the scheduler's own code, on pods nobody watches: the ``Scheduled``
    Event through the event recorder, the binding, the ``DisruptionTarget`` status patch a
    preemption victim gets, the victim's deletion. A child that writes nothing is counted
    too and taken off, so what remains is the writes' own. End to end, a pod also pays for
    its scheduling cycle and for the watch events of its writes reaching the scheduler.
    """
    code = "import sys; from orchestra.bench.scheduler import _writes_child; _writes_child(sys.argv[1:])"
    totals = {}
    for kind in ("", *SCHEDULER_WRITES):
        totals[kind], _ = await callgrind.count(["-c", code, kind, str(count)])
    return [SchedMeasurement(f"API write: {kind}", "instructions", count, 0.0,
                             instructions=max(0, totals[kind] - totals[""]), unit="write")
            for kind in SCHEDULER_WRITES]


def _writes_child(argv: list[str]) -> None:
    """The child of :func:`count_writes`: ``argv`` is the kind of write ("": none) and how many."""
    import uvloop

    uvloop.run(_counted_writes(argv[0], int(argv[1])))


async def _counted_writes(kind: str, count: int) -> None:
    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import ADMIN, UserInfo
    from orchestra.client import Client
    from orchestra.scheduler.config import SchedulerConfig
    from orchestra.scheduler.events import NORMAL
    from orchestra.scheduler.podinfo import PodInfo
    from orchestra.scheduler.scheduler import SCHEDULER_USER, Scheduler

    if kind and kind not in SCHEDULER_WRITES:
        raise ValueError(f"unknown write {kind!r}; known: {', '.join(SCHEDULER_WRITES)}")
    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo(SCHEDULER_USER, ADMIN, ("system:masters",)))
    try:
        scheduler = Scheduler.create(client, SchedulerConfig(preemption_grace_seconds=0))
        await client.request_json("POST", "/api/v1/nodes", body=node_manifest("node-0"))
        pods = [PodInfo.from_dict(await client.request_json("POST", "/api/v1/namespaces/default/pods",
                                                            body=pod_manifest(f"pod-{i}")))
                for i in range(count)]
        await asyncio.sleep(0)  # the watch caches take the pods before the window opens
        gc.collect()
        gc.disable()
        callgrind.instrument(True)
        try:
            for pod in pods if kind else ():
                if kind == "Event":
                    scheduler.recorder.record(pod, NORMAL, "Scheduled", "Binding", f"Successfully assigned {pod.key} to node-0")
                elif kind == "binding":
                    status = await scheduler.bind_through_api(pod, "node-0")
                    if not status.is_success:
                        raise RuntimeError(status.message())
                elif kind == "status patch":
                    await scheduler._mark_disruption_target(pod, pods[0])
                else:
                    await scheduler._delete_victim(pod)
            await scheduler.recorder.flush()
        finally:
            callgrind.instrument(False)
            gc.enable()
        if scheduler.recorder.written != (count if kind == "Event" else 0):
            raise RuntimeError(f"the recorder wrote {scheduler.recorder.written} of {count} Events")
    finally:
        await client.close()
        await server.close()


def scheduler_target_rows(results: list[SchedMeasurement]) -> list[tuple[str, float, float, float, bool]]:
    """``(label, measured, target, kube threshold, met)`` rows: end-to-end rates (wall clock, and per
    CPU second when measured) and the core ÷ reference ratio."""
    rows = []
    for m in results:
        if m.mode == "end-to-end" and m.workload in TARGETS:
            target = TARGETS[m.workload]
            rows.append((f"{m.workload} pods/s", m.rate, target, KUBE_THRESHOLDS[m.workload], m.rate >= target))
            if m.cpu_seconds:
                rows.append((f"{m.workload} pods/CPU-s", m.cpu_rate, target, KUBE_THRESHOLDS[m.workload],
                             m.cpu_rate >= target))
    by = {(m.workload, m.mode): m for m in results}
    core = by.get(("SchedulingBasic (all nodes scored)", "core"))
    ref = by.get(("SchedulingBasic (all nodes scored)", "reference"))
    if core and ref:
        ratio = (core.cpu_rate / ref.cpu_rate) if core.cpu_rate and ref.cpu_rate else core.rate / ref.rate
        rows.append(("Cython core ÷ reference, SchedulingBasic", ratio, 20.0, 0.0, ratio >= 20))
    return rows


def instruction_budgets(results: list[SchedMeasurement]) -> list[tuple[str, float, float, float]]:
    """``(workload, instructions per pod, instructions per CPU second, instructions per pod the
    target allows)`` for each workload both timed end to end and counted.

    The timed run's pods per CPU second times the counted instructions per pod is the rate
    this machine executed the workload at; the target divides that rate into the budget a pod
    may spend. The budget moves with the machine's rate as the timings do (this machine ran
    the same SchedulingNodeAffinity at 2.8 and at 4.0 G instructions per second within an
    hour); the count beside it is what holds from run to run.
    """
    timed = {m.workload: m for m in results if m.mode == "end-to-end" and m.cpu_seconds}
    rows = []
    for m in results:
        run = timed.get(m.workload)
        if m.mode == "instructions" and run is not None and m.workload in TARGETS:
            rate = m.instructions_per_pod * run.cpu_rate
            rows.append((m.workload, m.instructions_per_pod, rate, rate / TARGETS[m.workload]))
    return rows
