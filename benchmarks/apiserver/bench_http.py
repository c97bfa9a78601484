"""The API server over HTTP: GET, LIST, CREATE and watch fan-out, with the hello-world floor.

Run with ``pytest benchmarks/apiserver/bench_http.py --benchmark-enable``. Each benchmark
calls the workload function of :mod:`orchestra.bench.apiserver` once: the server runs in
its own process pinned to CPU 0, the load (``wrk`` when installed, else the Python
keep-alive loop) on CPU 1. ``extra_info`` records the rate (or the fan-out latencies) and
the ratio to the floor. Sizes come from ``ORCHESTRA_BENCH_SECONDS`` (default 5),
``ORCHESTRA_BENCH_LIST_ITEMS`` (1000) and ``ORCHESTRA_BENCH_WATCHERS`` (1000).
"""

from __future__ import annotations

import os

import pytest

from orchestra.bench.apiserver import (
    ApiBenchConfig,
    ApiMeasurement,
    ServerProcess,
    http_create,
    http_fanout,
    http_floor,
    http_get,
    http_list,
)

CONFIG = ApiBenchConfig(
    seconds=float(os.environ.get("ORCHESTRA_BENCH_SECONDS", "5")),
    list_items=int(os.environ.get("ORCHESTRA_BENCH_LIST_ITEMS", "1000")),
    watchers=int(os.environ.get("ORCHESTRA_BENCH_WATCHERS", "1000")),
)


def record(benchmark, measurement: ApiMeasurement) -> ApiMeasurement:
    """Run nothing more; put the measurement's figures into ``extra_info``."""
    benchmark.extra_info.update({k: v for k, v in measurement.to_dict().items() if v is not None})
    return measurement


@pytest.fixture(scope="module")
def server():
    """The API server, preloaded, in its own pinned process."""
    with ServerProcess("apiserver", CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def floor_rate() -> float:
    """Requests/s of the hello-world endpoint on the same HTTP stack."""
    with ServerProcess("floor", CONFIG) as floor:
        return http_floor(floor).rate


def test_floor(benchmark):
    with ServerProcess("floor", CONFIG) as floor:
        m = record(benchmark, benchmark.pedantic(http_floor, args=(floor,), rounds=1, iterations=1))
    assert m.ops > 0 and m.errors == 0


def test_get(benchmark, server, floor_rate):
    m = record(benchmark, benchmark.pedantic(http_get, args=(server,), rounds=1, iterations=1))
    benchmark.extra_info["ratio_to_floor"] = round(m.rate / floor_rate, 3)
    assert m.ops > 0 and m.errors == 0


def test_list(benchmark, server):
    m = record(benchmark, benchmark.pedantic(http_list, args=(server,), rounds=1, iterations=1))
    assert m.ops > 0 and m.errors == 0


def test_create(benchmark, server):
    m = record(benchmark, benchmark.pedantic(http_create, args=(server,), rounds=1, iterations=1))
    assert m.ops > 0 and m.errors == 0


def test_fanout(benchmark, server):
    m = record(benchmark, benchmark.pedantic(http_fanout, args=(server,), rounds=1, iterations=1))
    assert m.ops == CONFIG.watchers * CONFIG.fanout_rounds and m.errors == 0
