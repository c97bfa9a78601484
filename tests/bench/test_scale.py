"""The scale benchmark harness: its size checks, a tiny run, and ``orchestra bench e2e``'s input errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestra.bench.scale import ScaleConfig, ScaleResult, deployment, percentile, run_scale_bench
from orchestra.cli.bench import bench_command


def test_sizes_are_checked():
    assert ScaleConfig.full() == ScaleConfig(nodes=1_000, pods=30_000, deployments=300)
    with pytest.raises(ValueError, match="nodes must be at least 1"):
        ScaleConfig(nodes=0)
    with pytest.raises(ValueError, match="must be a multiple of deployments"):
        ScaleConfig(pods=100, deployments=3)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)


def test_the_deployment_is_labelled_for_the_observer():
    d = deployment("x", 4, "ns")
    assert d["spec"]["replicas"] == 4 and d["spec"]["template"]["metadata"]["labels"]["bench"] == "scale"


async def test_a_tiny_run_measures_every_pod():
    messages: list[str] = []
    result = await run_scale_bench(ScaleConfig(nodes=2, pods=12, deployments=3), progress=messages.append)
    assert isinstance(result, ScaleResult)
    assert (result.nodes, result.pods, result.deployments) == (2, 12, 3)
    assert 0 < result.p50_s <= result.p90_s <= result.p99_s <= result.max_s <= result.all_running_s
    assert result.peak_rss_mb >= result.baseline_rss_mb > 0 and result.cpu_s > 0
    assert any("2 nodes Ready" in m for m in messages)


def test_the_command_names_a_bad_size():
    outcome = CliRunner().invoke(bench_command, ["e2e", "--pods", "100", "--deployments", "3"])
    assert outcome.exit_code == 2 and "must be a multiple of deployments" in outcome.output
    outcome = CliRunner().invoke(bench_command, ["e2e", "--nodes", "0"])
    assert outcome.exit_code == 2 and "--nodes" in outcome.output


def test_rate_and_compaction_interval_are_checked():
    with pytest.raises(ValueError, match="rate must be 0 or more"):
        ScaleConfig(rate=-1)
    with pytest.raises(ValueError, match="compaction_interval must be 0 or more"):
        ScaleConfig(compaction_interval=float("nan"))


async def test_a_paced_run_creates_on_a_timetable_and_compacts():
    messages: list[str] = []
    # 12 pods at 40 pods/s in Deployments of 4: one Deployment every 0.1 s; compaction every 0.05 s.
    cfg = ScaleConfig(nodes=2, pods=12, deployments=3, rate=40.0, compaction_interval=0.05)
    result = await run_scale_bench(cfg, progress=messages.append)
    assert (result.pods, result.rate, result.compaction_interval) == (12, 40.0, 0.05)
    # The last Deployment is due 0.2 s after the first, so the run cannot end sooner.
    assert result.all_running_s >= 0.2
    assert 0 < result.p50_s <= result.p99_s <= result.max_s <= result.all_running_s
    assert result.compactions >= 1
    assert any("at 40 pods/s" in m for m in messages)


def test_the_command_names_a_bad_rate_and_interval():
    outcome = CliRunner().invoke(bench_command, ["e2e", "--rate", "0"])
    assert outcome.exit_code == 2 and "--rate" in outcome.output
    outcome = CliRunner().invoke(bench_command, ["e2e", "--etcd-compaction-interval", "often"])
    assert outcome.exit_code == 2 and "--etcd-compaction-interval" in outcome.output
