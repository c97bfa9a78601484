"""The scheduler benchmark at toy sizes: every workload runs, binds every measured pod and reports."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from orchestra.bench import callgrind
from orchestra.bench.scheduler import (
    END_TO_END, KUBE_THRESHOLDS, SCHEDULER_WRITES, WORKLOADS, SchedBenchConfig, SchedMeasurement, _scenario,
    instruction_budgets, run_scheduler_bench, scheduler_target_rows,
)
from orchestra.cli.main import main

needs_valgrind = pytest.mark.skipif(callgrind.missing() is not None, reason=f"{callgrind.missing()}")

TINY = dict(nodes=12, init_pods=6, pods=20, antiaffinity_pods=4, spread_pods=9, preemption_nodes=3,
            preemption_init_pods=12, preemption_pods=3, reference_pods=2, scaling_nodes=(5, 10), scaling_pods=8,
            initial_backoff=0.01, cpu=None)


async def test_every_workload_reports_figures():
    results = await run_scheduler_bench(SchedBenchConfig(**TINY))
    by = {(m.workload, m.mode): m for m in results}
    for workload in END_TO_END:
        m = by[(workload, "end-to-end")]
        assert m.seconds > 0 and m.p99_ms >= m.p50_ms > 0
        assert m.note.startswith("floor loop ") and m.note.split("; ")[0].endswith(" ms")
    assert by[("SchedulingBasic", "end-to-end")].pods == 20
    faults = by[("SchedulingBasic", "end-to-end")].note.split("; ")[-1]
    assert faults.endswith(" page faults per pod") and float(faults.split()[0]) >= 0
    assert by[("SchedulingPodAntiAffinity", "end-to-end")].pods == 4
    assert by[("PreemptionAsync", "end-to-end")].pods == 12  # one default pod per node
    assert "high-priority pods created by the churn: " in by[("PreemptionAsync", "end-to-end")].note
    assert by[("PreemptionBasic", "end-to-end")].pods == 3
    assert by[("SchedulingBasic (all nodes scored)", "reference")].pods == 2
    assert {("SchedulingBasic + Python batch score", "core"), ("SchedulingBasic + Python batch filter", "core")} <= set(by)
    assert {("SchedulingBasic, 1 pod shape", "core"), ("SchedulingBasic, 4 pod shapes", "core")} <= set(by)
    assert by[("SchedulingBasic, 4 pod shapes", "end-to-end")].pods == 20
    assert {("Scaling 5 nodes", "end-to-end"), ("Scaling 10 nodes", "core")} <= set(by)
    labels = [row[0] for row in scheduler_target_rows(results)]
    assert "SchedulingBasic pods/s" in labels and "Cython core ÷ reference, SchedulingBasic" in labels


async def test_repeat_reports_the_median_run():
    cfg = SchedBenchConfig(**{**TINY, "workloads": ("SchedulingBasic",), "repeat": 3})
    (m,) = await run_scheduler_bench(cfg)
    assert m.pods == 20 and m.note.startswith("median of 3 runs (")
    low, high = (float(v.replace(",", "")) for v in m.note.split("(")[1].split(" pods")[0].split("–"))
    assert low <= m.cpu_rate <= high
    floor = m.note.split("; ")[1]  # the machine's speed before each run
    assert floor.startswith("floor loop ") and floor.endswith(" ms")
    fastest, slowest = (int(v) for v in floor.removeprefix("floor loop ").removesuffix(" ms").split("–"))
    assert 0 <= fastest <= slowest


@needs_valgrind
def test_instructions_are_counted_for_the_timed_window():
    # Not on both event loops as the async tests are: the counted children run their own.
    cfg = SchedBenchConfig(**{**TINY, "workloads": ("SchedulingBasic",), "instructions": True})
    timed, counted, *writes = asyncio.run(run_scheduler_bench(cfg))
    assert (timed.mode, counted.mode) == ("end-to-end", "instructions")
    assert counted.workload == "SchedulingBasic" and counted.pods == 20
    # binding a pod through the API takes tens of thousands of instructions at the least
    assert counted.instructions_per_pod > 20_000
    assert counted.cell() == f"{counted.instructions_per_pod:,.0f} instructions/pod"
    assert counted.to_dict()["instructions"] == counted.instructions
    # then each kind of write the scheduler makes, alone: as many as the workload's pods
    assert [w.workload for w in writes] == [f"API write: {kind}" for kind in SCHEDULER_WRITES]
    for w in writes:
        assert (w.mode, w.pods, w.unit) == ("instructions", 20, "write")
        assert 20_000 < w.instructions_per_pod < counted.instructions_per_pod * 2
        assert w.cell() == f"{w.instructions_per_pod:,.0f} instructions/write"


@needs_valgrind
def test_cli_prints_instructions_per_pod_and_the_budget(capsys):
    args = ["bench", "scheduler", "--workloads", "SchedulingBasic", "--nodes", "12", "--pods", "20", "--cpu", "-1",
            "--instructions"]
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table may wrap
    assert "instructions/pod" in out and "the target allows" in out


def test_instruction_budget_divides_the_timed_rate_by_the_target():
    timed = SchedMeasurement("SchedulingBasic", "end-to-end", 5_000, 1.0, cpu_seconds=1.0)
    counted = SchedMeasurement("SchedulingBasic", "instructions", 100, 0.0, instructions=60_000_000)
    untimed = SchedMeasurement("PreemptionAsync", "instructions", 10, 0.0, instructions=30_000_000)
    # 600,000 instructions/pod at 5,000 pods per CPU second: 3 G per CPU second, 300,000 per pod at 10,000 pods/s
    assert instruction_budgets([timed, counted, untimed]) == [("SchedulingBasic", 600_000.0, 3e9, 300_000.0)]


def test_cli_refuses_to_count_instructions_without_valgrind(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert main(["bench", "scheduler", "--workloads", "SchedulingBasic", "--instructions"]) == 2
    err = capsys.readouterr().err
    assert "--instructions" in err and "valgrind and callgrind_control not found on PATH" in err


def test_target_rows_compare_with_targets_and_kube_thresholds():
    rows = scheduler_target_rows([SchedMeasurement("SchedulingBasic", "end-to-end", 20_000, 1.0)])
    assert rows == [("SchedulingBasic pods/s", 20_000.0, 10_000, 680, True)]


def test_unknown_workload_is_refused():
    with pytest.raises(ValueError, match="unknown scheduler workload 'Nope'"):
        import asyncio

        asyncio.run(run_scheduler_bench(SchedBenchConfig(workloads=("Nope",), cpu=None)))


def test_cli_refuses_unknown_workloads(capsys):
    assert main(["bench", "scheduler", "--workloads", "Nope"]) == 2
    assert "unknown workloads ['Nope']" in capsys.readouterr().err


def test_all_workloads_are_listed():
    assert set(KUBE_THRESHOLDS) < set(END_TO_END) < set(WORKLOADS)


def _cpu(pod):
    return pod["spec"]["containers"][0]["resources"]["requests"]["cpu"]


def test_preemption_async_is_scheduler_perfs_workload_of_that_name():
    # 5,000 nodes, 20,000 low-priority pods and 5,000 default pods measured; the churn's pods
    # need 3 CPUs on nodes with 0.4 free, so each one preempts
    scenario = _scenario("PreemptionAsync", SchedBenchConfig.full())
    assert (len(scenario.nodes), len(scenario.init_pods), len(scenario.pods)) == (5_000, 20_000, 5_000)
    assert {(_cpu(p), p["spec"]["priority"]) for p in scenario.init_pods} == {("900m", 0)}
    assert [p["spec"]["nodeName"] for p in scenario.init_pods[:5_001:5_000]] == ["node-0", "node-0"]
    assert {_cpu(p) for p in scenario.pods} == {"100m"} and "priority" not in scenario.pods[0]["spec"]
    high = scenario.churn(7)
    assert (high["metadata"]["name"], _cpu(high), high["spec"]["priority"]) == ("high-7", "3", 10)
    assert _scenario("PreemptionBasic", SchedBenchConfig.full()).churn is None
