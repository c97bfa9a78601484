"""``orchestra bench``: the benchmark harnesses, printed as side-by-side tables."""

from __future__ import annotations

import json
from typing import Any, Callable

import click
import uvloop
from rich.console import Console
from rich.table import Table

from orchestra.cli.apiserver import Duration
from orchestra.cli.console import table_console

from orchestra.bench import callgrind
from orchestra.bench.apiserver import ApiBenchConfig, run_apiserver_bench, target_rows
from orchestra.bench.scheduler import WORKLOADS as SCHED_WORKLOADS
from orchestra.bench.scheduler import SchedBenchConfig, instruction_budgets, run_scheduler_bench, scheduler_target_rows
from orchestra.bench.store import BenchConfig, Measurement, cpu_count_note, ratio_rows, run_store_bench

__all__ = ["bench_command"]


@click.group("bench")
def bench_command() -> None:
    """Run a benchmark and print its figures side by side with its peers."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@bench_command.command("store")
@click.option("--keys", default=100_000, show_default=True, help="Keys preloaded into every backend.")
@click.option("--value-size", default=256, show_default=True, help="Bytes per value.")
@click.option("--ops", default=200_000, show_default=True, help="Most operations per workload.")
@click.option("--seconds", default=3.0, show_default=True, help="Most seconds per workload.")
@click.option("--backends", default=",".join(BenchConfig().backends), show_default=True,
              help="Comma-separated: dict, memory-sync, memory, file, sqlite, etcd.")
@click.option("--writers", default="1,16,256", show_default=True, help="Concurrent writers for durable puts.")
@click.option("--etcd-url", default=None, help="Benchmark this etcd instead of starting one (etcd://host:port).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the figures to this file.")
def bench_store(keys: int, value_size: int, ops: int, seconds: float, backends: str, writers: str,
                etcd_url: str | None, json_path: str | None) -> None:
    """Every store backend on the same workloads: ops/s side by side, and the ratios."""
    try:
        writer_counts = tuple(int(w) for w in _split(writers))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {writers!r}", param_hint="--writers")
    cfg = BenchConfig(keys=keys, value_size=value_size, ops=ops, seconds=seconds, writers=writer_counts,
                      backends=_split(backends), etcd_url=etcd_url)
    unknown = set(cfg.backends) - set(BenchConfig().backends)
    if unknown:
        raise click.BadParameter(f"unknown backends {sorted(unknown)}", param_hint="--backends")
    console = Console(stderr=True)
    results = uvloop.run(run_store_bench(cfg, progress=lambda msg: console.print(f"[dim]{msg}[/dim]")))
    print_results(results, title=f"store: {keys:,} keys, {value_size}-byte values")
    if json_path:
        with open(json_path, "w") as f:
            json.dump([{"backend": m.backend, "workload": m.workload, "ops": m.ops, "seconds": m.seconds,
                        "rate": m.rate} for m in results], f, indent=2)


def print_table(title: str, columns: list[str], rows: list[tuple[str, list[str]]], notes: list[str],
                caption: str | None = None) -> None:
    """A workloads × columns table of figures, then one note per line (ratios, targets)."""
    table = Table(title=title, caption=caption if caption is not None else cpu_count_note())
    table.add_column("workload")
    for column in columns:
        table.add_column(column, justify="right")
    for workload, cells in rows:
        table.add_row(workload, *cells)
    console = table_console()
    console.print(table)
    for note in notes:
        console.print(f"  {note}")


def _grid(results: list, column_of: Callable[[Any], str], cell: Callable[[Any], str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Columns and rows of a workloads × columns table of ``results`` (each with a ``workload``)."""
    columns = list(dict.fromkeys(column_of(m) for m in results))
    workloads = list(dict.fromkeys(m.workload for m in results))
    by = {(column_of(m), m.workload): m for m in results}
    rows = []
    for w in workloads:
        rows.append((w, [cell(by[(c, w)]) if (c, w) in by else "-" for c in columns]))
    return columns, rows


def print_results(results: list[Measurement], *, title: str) -> None:
    """A workloads × backends table of rates, then the ratios."""
    def cell(m: Measurement) -> str:
        return f"{m.seconds:.2f} s" if m.workload == "recovery" else f"{m.rate:,.0f}/s"

    columns, rows = _grid(results, lambda m: m.backend, cell)
    notes = [f"{label}: [bold]{ratio:.2f}×[/bold]" for label, ratio in ratio_rows(results)]
    print_table(title, columns, rows, notes)


@bench_command.command("apiserver")
@click.option("--seconds", default=5.0, show_default=True, help="Seconds per throughput workload.")
@click.option("--warmup", default=1.0, show_default=True, help="Seconds of warm-up before each throughput workload.")
@click.option("--connections", default=32, show_default=True, help="Keep-alive connections of the HTTP load.")
@click.option("--concurrency", default=8, show_default=True, help="Concurrent callers of the in-process workloads.")
@click.option("--list-items", default=1000, show_default=True, help="Pods in the listed namespace.")
@click.option("--watchers", default=1000, show_default=True, help="Watches of the fan-out.")
@click.option("--rounds", default=20, show_default=True, help="Events fanned out (one created pod each).")
@click.option("--transports", default=",".join(ApiBenchConfig().transports), show_default=True,
              help="Comma-separated: http, in-process.")
@click.option("--workloads", default=",".join(ApiBenchConfig().workloads), show_default=True,
              help="Comma-separated: get, list, create, fanout.")
@click.option("--tls/--no-tls", default=False, show_default=True, help="Serve HTTPS instead of plain HTTP.")
@click.option("--load", type=click.Choice(["auto", "wrk", "python"]), default="auto", show_default=True,
              help="HTTP load generator: wrk, the Python keep-alive loop, or wrk when installed.")
@click.option("--server-cpu", default=0, show_default=True, help="The core the server runs on.")
@click.option("--load-cpu", default=1, show_default=True, help="The core the load generator runs on.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the figures to this file.")
def bench_apiserver(seconds: float, warmup: float, connections: int, concurrency: int, list_items: int,
                    watchers: int, rounds: int, transports: str, workloads: str, tls: bool, load: str,
                    server_cpu: int, load_cpu: int, json_path: str | None) -> None:
    """GET, LIST, CREATE and watch fan-out over HTTP and in-process, with a hello-world floor."""
    cfg = ApiBenchConfig(seconds=seconds, warmup_seconds=warmup, connections=connections, concurrency=concurrency,
                         list_items=list_items, watchers=watchers, fanout_rounds=rounds,
                         transports=_split(transports), workloads=_split(workloads), tls=tls, load=load,
                         server_cpu=server_cpu, load_cpu=load_cpu)
    unknown = set(cfg.transports) - set(ApiBenchConfig().transports)
    if unknown:
        raise click.BadParameter(f"unknown transports {sorted(unknown)}", param_hint="--transports")
    unknown = set(cfg.workloads) - set(ApiBenchConfig().workloads)
    if unknown:
        raise click.BadParameter(f"unknown workloads {sorted(unknown)}", param_hint="--workloads")
    console = Console(stderr=True)
    try:
        results = run_apiserver_bench(cfg, progress=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    tools = ", ".join(sorted({m.tool for m in results if m.tool}))
    columns, rows = _grid(results, lambda m: m.transport, lambda m: m.cell())
    notes = [
        f"{label}: [bold]{value:,.2f}[/bold] (target {'≤' if ' ms' in label else '≥'} {target:,g}) "
        + ("[green]met[/green]" if met else "[red]not met[/red]")
        for label, value, target, met in target_rows(results)
    ]
    caption = (f"server on CPU {server_cpu}, load on CPU {load_cpu}; {'HTTPS' if tls else 'HTTP'} keep-alive, "
               f"{connections} connections; load: {tools}")
    print_table(f"apiserver: {list_items:,}-pod LIST, {watchers:,} watchers", columns, rows, notes, caption)
    if json_path:
        with open(json_path, "w") as f:
            json.dump([m.to_dict() for m in results], f, indent=2)


@bench_command.command("scheduler")
@click.option("--full", is_flag=True, help="scheduler_perf's sizes (5,000 nodes, 10,000 pods, ...); default: a quick smoke run.")
@click.option("--nodes", type=int, default=None, help="Nodes of the end-to-end workloads.")
@click.option("--pods", type=int, default=None, help="Measured pods of SchedulingBasic and SchedulingNodeAffinity.")
@click.option("--workloads", default=",".join(SCHED_WORKLOADS), show_default=True, help="Comma-separated workloads.")
@click.option("--initial-backoff", type=float, default=1.0, show_default=True,
              help="podInitialBackoffSeconds of the scheduler (bounds PreemptionBasic's latency).")
@click.option("--cpu", default=0, show_default=True, help="The one core the run is pinned to (-1: not pinned).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs of each end-to-end workload; the median is reported (a shared machine is noisy).")
@click.option("--instructions", is_flag=True,
              help="Also count each end-to-end workload's instructions per pod under valgrind's callgrind: "
                   "figures that repeat to within 0.3% where timings move by a third (minutes per workload at "
                   "full size; needs valgrind). Each kind of API write the scheduler makes is counted alone too.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the figures to this file.")
def bench_scheduler(full: bool, nodes: int | None, pods: int | None, workloads: str, initial_backoff: float,
                    cpu: int, repeat: int, instructions: bool, json_path: str | None) -> None:
    """scheduler_perf-like workloads end to end through the in-process API, beside kube-scheduler's thresholds."""
    chosen = _split(workloads)
    unknown = set(chosen) - set(SCHED_WORKLOADS)
    if unknown:
        raise click.BadParameter(f"unknown workloads {sorted(unknown)}", param_hint="--workloads")
    if instructions and (reason := callgrind.missing()):
        raise click.BadParameter(f"instructions cannot be counted: {reason}", param_hint="--instructions")
    overrides: dict[str, Any] = {"workloads": chosen, "initial_backoff": initial_backoff,
                                 "cpu": None if cpu < 0 else cpu, "repeat": repeat, "instructions": instructions}
    if nodes is not None:
        overrides["nodes"] = nodes
    if pods is not None:
        overrides["pods"] = pods
    cfg = SchedBenchConfig.full(**overrides) if full else SchedBenchConfig(**overrides)
    console = Console(stderr=True)
    results = uvloop.run(run_scheduler_bench(cfg, progress=lambda msg: console.print(f"[dim]{msg}[/dim]")))
    columns, rows = _grid(results, lambda m: m.mode, lambda m: m.cell())
    notes = [
        f"{label}: [bold]{value:,.1f}[/bold] (target ≥ {target:,g}"
        + (f"; kube-scheduler CI threshold {kube:,g} pods/s" if kube else "") + ") "
        + ("[green]met[/green]" if met else "[red]not met[/red]")
        for label, value, target, kube, met in scheduler_target_rows(results)
    ]
    notes += [f"{m.workload}: {m.note}" for m in results if m.note]
    notes += [f"{workload}: {per_pod:,.0f} instructions/pod at {rate / 1e9:.2f} G instructions per CPU-second "
              f"(this run's rate); the target allows {budget:,.0f}/pod at that rate"
              for workload, per_pod, rate, budget in instruction_budgets(results)]
    where = "not pinned" if cfg.cpu is None else f"pinned to CPU {cfg.cpu}"
    print_table(f"scheduler: {cfg.nodes:,} nodes, {cfg.pods:,} pods (bindings through the in-process API)",
                columns, rows, notes, caption=f"one process, {where}; initial backoff {cfg.initial_backoff:g} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump([m.to_dict() for m in results], f, indent=2)


@bench_command.command("e2e")
@click.option("--full", is_flag=True, help="The issue's size: 1,000 nodes, 30,000 pods in 300 Deployments.")
@click.option("--nodes", type=click.IntRange(min=1), default=None, help="Simulated nodes (default 100).")
@click.option("--pods", type=click.IntRange(min=1), default=None, help="Pods in all (default 3,000).")
@click.option("--deployments", type=click.IntRange(min=1), default=None,
              help="Deployments the pods are spread over (default 30); must divide --pods.")
@click.option("--timeout", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Seconds to wait for every pod to be Running.")
@click.option("--rate", "rate", type=click.FloatRange(min=0, min_open=True), default=None, metavar="PODS_PER_S",
              help="Create pods at this rate (one Deployment every replicas/rate seconds), as clusterloader2 "
                   "does; default: every Deployment at once.")
@click.option("--etcd-compaction-interval", "compaction_interval", default="5m", show_default=True,
              type=Duration(), help="How often the API server compacts the store (0: never).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the figures to this file.")
def bench_e2e(full: bool, nodes: int | None, pods: int | None, deployments: int | None, timeout: float,
              rate: float | None, compaction_interval: float, json_path: str | None) -> None:
    """The whole cluster in one process: Deployments created at once (or at --rate) on simulated nodes."""
    from orchestra.bench.scale import SLO_P99_S, ScaleConfig, run_scale_bench

    overrides: dict[str, Any] = {"timeout": timeout, "rate": rate or 0.0, "compaction_interval": compaction_interval}
    for name, value in (("nodes", nodes), ("pods", pods), ("deployments", deployments)):
        if value is not None:
            overrides[name] = value
    try:
        cfg = ScaleConfig.full(**overrides) if full else ScaleConfig(**overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--pods/--deployments") from None
    console = Console(stderr=True)
    try:
        result = uvloop.run(run_scale_bench(cfg, progress=lambda msg: console.print(f"[dim]{msg}[/dim]")))
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from None
    figures = [
        ("nodes Ready after start", f"{result.cluster_start_s:.2f} s"),
        ("all pods Running after creation", f"{result.all_running_s:.2f} s"),
        ("pod startup latency p50", f"{result.p50_s:.2f} s"),
        ("pod startup latency p90", f"{result.p90_s:.2f} s"),
        ("pod startup latency p99", f"{result.p99_s:.2f} s"),
        ("pod startup latency max", f"{result.max_s:.2f} s"),
        ("pods Running per second", f"{result.pods_per_s:,.1f}"),
        ("pods Running per CPU-second", f"{result.pods_per_cpu_s:,.1f}"),
        ("CPU seconds (this process)", f"{result.cpu_s:,.1f}"),
        ("peak RSS", f"{result.peak_rss_mb:,.0f} MB (at start {result.baseline_rss_mb:,.0f} MB)"),
        ("store compactions", f"{result.compactions:,} (every {result.compaction_interval:g} s)"
         if result.compaction_interval else "off"),
    ]
    notes = [f"p99 startup latency {result.p99_s:.2f} s against Kubernetes' SLO of ≤ {SLO_P99_S:g} s: "
             + ("[green]met[/green]" if result.slo_met else "[red]not met[/red]")]
    pace = f"created at {cfg.rate:g} pods/s" if cfg.rate else "created at once"
    print_table(f"e2e: {cfg.nodes:,} simulated nodes, {cfg.pods:,} pods in {cfg.deployments:,} Deployments "
                f"{pace}, one process",
                ["value"], [(label, [value]) for label, value in figures], notes)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
