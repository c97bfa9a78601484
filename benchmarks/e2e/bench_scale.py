"""The whole cluster at scale in one process: simulated nodes, thousands of pods from Deployments.

Run with ``pytest benchmarks/e2e/bench_scale.py --benchmark-enable -s`` or ``orchestra bench e2e``.
One run of :mod:`orchestra.bench.scale`: ``orchestra.Cluster`` on ``memory://`` with simulated
nodes, every Deployment created at once (or paced to ``ORCHESTRA_BENCH_RATE`` pods per second, as
clusterloader2 does), timed until every pod is Running. ``extra_info``
records the time to all Running, pod startup latency p50/p90/p99/max (creation → Running as
observed by a watch; Kubernetes' SLO is p99 ≤ 5 s), pods per second and per CPU-second, and the
peak resident memory.

The default size is 100 nodes and 3,000 pods in 30 Deployments; ``ORCHESTRA_BENCH_FULL=1`` runs
the issue's 1,000 nodes and 30,000 pods in 300 Deployments, and ``ORCHESTRA_BENCH_NODES``,
``ORCHESTRA_BENCH_PODS`` and ``ORCHESTRA_BENCH_DEPLOYMENTS`` set any size.
``ORCHESTRA_BENCH_COMPACTION_INTERVAL`` sets the API server's store compaction interval in
seconds (default 300, Kubernetes'; 0 disables).
"""

from __future__ import annotations

import os
from typing import Any

import uvloop

from orchestra.bench.scale import SLO_P99_S, ScaleConfig, run_scale_bench

FULL = os.environ.get("ORCHESTRA_BENCH_FULL", "") not in ("", "0")


def config_from_environment() -> ScaleConfig:
    """The run's size: the default, the full size, or the ``ORCHESTRA_BENCH_*`` numbers."""
    overrides: dict[str, Any] = {field: int(os.environ[f"ORCHESTRA_BENCH_{field.upper()}"])
                 for field in ("nodes", "pods", "deployments") if os.environ.get(f"ORCHESTRA_BENCH_{field.upper()}")}
    for field in ("rate", "compaction_interval"):
        if os.environ.get(f"ORCHESTRA_BENCH_{field.upper()}"):
            overrides[field] = float(os.environ[f"ORCHESTRA_BENCH_{field.upper()}"])
    return ScaleConfig.full(**overrides) if FULL else ScaleConfig(**overrides)


def test_pods_of_deployments(benchmark):
    """Every Deployment at once by default; ``ORCHESTRA_BENCH_RATE`` paces pod creation."""
    cfg = config_from_environment()
    result = benchmark.pedantic(lambda: uvloop.run(run_scale_bench(cfg, progress=print)), rounds=1, iterations=1)
    benchmark.extra_info.update(result.to_dict())
    benchmark.extra_info["slo_p99_s"] = SLO_P99_S
    assert result.pods == cfg.pods and 0 < result.p50_s <= result.p99_s <= result.max_s


if __name__ == "__main__":
    print(uvloop.run(run_scale_bench(config_from_environment(), progress=print)).to_dict())
