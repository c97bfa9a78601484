"""The API server benchmark harness: its pieces, and tiny runs of each transport."""

from __future__ import annotations

import shutil

import httptools
import orjson
import pytest

from orchestra.bench.apiserver import (
    ApiBenchConfig,
    ApiMeasurement,
    RequestSpec,
    _lua_string,
    _parse_wrk,
    bench_pod,
    percentile,
    run_apiserver_bench,
    target_rows,
)

TINY = ApiBenchConfig(seconds=0.3, warmup_seconds=0.1, connections=2, concurrency=2, list_items=5, watchers=5,
                      fanout_rounds=2, load="python")


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.99) == 0.0
    assert percentile([7.0], 0.99) == 7.0


def test_wrk_report_is_read_with_errors():
    report = """Running 5s test @ http://127.0.0.1:1/
  1 threads and 32 connections
  12345 requests in 5.00s, 10.00MB read
  Non-2xx or 3xx responses: 5
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   2469.00
"""
    assert _parse_wrk(report) == (12345, 5.0, 8)
    assert _parse_wrk("  10 requests in 500.00ms, 1KB read\n") == (10, 0.5, 0)
    with pytest.raises(RuntimeError, match="cannot read wrk"):
        _parse_wrk("garbage")


def test_lua_strings_escape_quotes_backslashes_and_control_bytes():
    assert _lua_string(b'a"b\\c\n') == '"a\\034b\\092c\\010"'


def test_request_spec_encodes_a_parseable_request_with_a_fresh_name():
    body = orjson.dumps(bench_pod("@@NAME@@"))
    spec = RequestSpec("POST", "/api/v1/namespaces/ns/pods", (("Authorization", "Bearer t"),), body)
    assert spec.unique_names
    raw = spec.encode("127.0.0.1:1", "pod-7")
    parsed: dict = {"headers": {}, "body": b""}

    class Sink:
        def on_url(self, url):
            parsed["url"] = url

        def on_header(self, name, value):
            parsed["headers"][name.decode().lower()] = value.decode()

        def on_body(self, data):
            parsed["body"] += data

    httptools.HttpRequestParser(Sink()).feed_data(raw)
    assert parsed["url"] == b"/api/v1/namespaces/ns/pods"
    assert parsed["headers"]["authorization"] == "Bearer t"
    assert int(parsed["headers"]["content-length"]) == len(parsed["body"])
    assert orjson.loads(parsed["body"])["metadata"]["name"] == "pod-7"
    assert not RequestSpec("GET", "/x").unique_names


def test_measurement_cells_and_targets():
    floor = ApiMeasurement("floor", "get", 1000, 1.0, cpu_seconds=0.5)
    get = ApiMeasurement("http", "get", 600, 1.0, cpu_seconds=0.5)
    create = ApiMeasurement("http", "create", 2000, 1.0, errors=3, cpu_seconds=0.5)
    fan = ApiMeasurement("http", "fanout-10", 20, 1.0, p50_ms=1.0, p99_ms=150.0, max_ms=160.0, cpu_seconds=0.02,
                         rounds=2)
    assert get.cell() == "600/s (1,200/cpu-s)"
    assert create.cell().endswith("(3 errors)")
    assert fan.cell() == "1.0 / 150.0 / 160.0 ms (10.0 cpu-ms/event)"
    rows = {label: (value, met) for label, value, _target, met in target_rows([floor, get, create, fan])}
    assert rows["GET ÷ floor (HTTP)"] == (0.6, True)
    assert rows["CREATE/s (HTTP)"] == (2000.0, False)
    assert rows["CREATE/s (HTTP), per CPU-second"] == (4000.0, True)
    assert rows["fan-out p99 ms (HTTP)"] == (150.0, False)
    assert rows["fan-out server CPU ms per event (HTTP)"] == (10.0, True)


def test_unknown_workloads_are_refused():
    with pytest.raises(ValueError, match="unknown workloads"):
        run_apiserver_bench(ApiBenchConfig(workloads=("nope",)))


@pytest.mark.slow
def test_a_tiny_in_process_run_measures_every_workload():
    results = run_apiserver_bench(_tiny(transports=("in-process",)))
    by = {m.workload: m for m in results}
    assert set(by) == {"get", "list-5", "create", "fanout-5"}
    assert all(m.transport == "in-process" and m.errors == 0 for m in results)
    assert by["get"].ops > 0 and by["create"].ops > 0 and by["list-5"].ops > 0
    assert by["fanout-5"].ops == 5 * 2


@pytest.mark.slow
@pytest.mark.parametrize("load", ["python", "wrk"])
def test_a_tiny_http_run_measures_every_workload(load):
    if load == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed")
    results = run_apiserver_bench(_tiny(transports=("http",), load=load))
    by = {(m.transport, m.workload): m for m in results}
    assert set(by) == {("floor", "get"), ("http", "get"), ("http", "list-5"), ("http", "create"),
                       ("http", "fanout-5")}
    assert all(m.errors == 0 for m in results)
    assert all(m.ops > 0 for m in results)
    assert by[("http", "fanout-5")].ops == 5 * 2


def _tiny(**changes) -> ApiBenchConfig:
    import attrs

    return attrs.evolve(TINY, **changes)
