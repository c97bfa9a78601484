"""5,000 simulated nodes heartbeating: CPU share of one core and memory of the agents.

Run with ``pytest benchmarks/node/bench_heartbeat.py --benchmark-enable`` (or
``python benchmarks/node/harness.py heartbeat 5000 60``). The agents share one process and
reach an API server in another over HTTP; the API server's CPU and memory for serving them are
reported separately (``apiserver_cpu_share``, ``apiserver_rss_mb``). Targets for the agents:
≤ 10 % of one core and ≤ 500 MB. ``ORCHESTRA_BENCH_FULL=1`` runs 5,000 nodes over 60 s; the default is 500 over 20 s.
"""

from __future__ import annotations

import os

import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
from harness import heartbeat_cost  # noqa: E402

FULL = os.environ.get("ORCHESTRA_BENCH_FULL", "") not in ("", "0")
NODES, WINDOW = (5000, 60.0) if FULL else (500, 20.0)


def test_heartbeat_cost(benchmark):
    result = benchmark.pedantic(lambda: uvloop.run(heartbeat_cost(NODES, WINDOW)), rounds=1, iterations=1)
    benchmark.extra_info.update(result.to_dict())
    benchmark.extra_info.update({"target_cpu_share": 0.10, "target_rss_mb": 500})
    assert result.lease_renewals == NODES
