"""The scheduler service end to end: scheduler_perf-like workloads through the in-process API.

Run with ``pytest benchmarks/scheduler/bench_service.py --benchmark-enable``. Each benchmark
runs one workload of :mod:`orchestra.bench.scheduler` on one core: nodes and pods created
through an in-process API server over ``memory://``, then the :class:`Scheduler` timed until
every measured pod's binding is committed. ``extra_info`` records pods/s and the p50/p99
per-pod latency, and scheduler_perf's threshold where it sets one. ``ORCHESTRA_BENCH_FULL=1``
uses scheduler_perf's sizes (5,000 nodes, 10,000 pods); the default is the quick smoke size.
"""

from __future__ import annotations

import os

import pytest
import uvloop

from orchestra.bench.scheduler import END_TO_END, KUBE_THRESHOLDS, SchedBenchConfig, run_scheduler_bench

FULL = os.environ.get("ORCHESTRA_BENCH_FULL", "") not in ("", "0")


@pytest.mark.parametrize("workload", END_TO_END)
def test_end_to_end(benchmark, workload):
    cfg = SchedBenchConfig.full(workloads=(workload,)) if FULL else SchedBenchConfig(workloads=(workload,))
    (m,) = benchmark.pedantic(lambda: uvloop.run(run_scheduler_bench(cfg)), rounds=1, iterations=1)
    benchmark.extra_info.update(m.to_dict())
    benchmark.extra_info["kube_scheduler_threshold"] = KUBE_THRESHOLDS.get(workload)  # PreemptionBasic: none
    assert m.pods > 0
