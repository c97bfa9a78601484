"""The API server through the in-process client transport: GET, LIST, CREATE and watch fan-out.

Run with ``pytest benchmarks/apiserver/bench_inprocess.py --benchmark-enable``. Each
benchmark runs one workload of :mod:`orchestra.bench.apiserver` in a process pinned to
CPU 0 that holds both the server and its :meth:`Client.in_process` clients; ``extra_info``
records the rate (or the fan-out latencies). Sizes as in ``bench_http.py``.
"""

from __future__ import annotations

import os

import pytest

from orchestra.bench.apiserver import ApiBenchConfig, run_in_process

CONFIG = ApiBenchConfig(
    seconds=float(os.environ.get("ORCHESTRA_BENCH_SECONDS", "5")),
    list_items=int(os.environ.get("ORCHESTRA_BENCH_LIST_ITEMS", "1000")),
    watchers=int(os.environ.get("ORCHESTRA_BENCH_WATCHERS", "1000")),
)


@pytest.mark.parametrize("workload", ["get", "list", "create", "fanout"])
def test_in_process(benchmark, workload):
    (m,) = benchmark.pedantic(run_in_process, args=(CONFIG, (workload,)), rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in m.to_dict().items() if v is not None})
    assert m.ops > 0 and m.errors == 0
