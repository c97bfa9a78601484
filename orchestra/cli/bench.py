"""``orchestra bench``: the benchmark harnesses, printed as side-by-side tables."""

from __future__ import annotations

import asyncio
import json

import click
import uvloop
from rich.console import Console
from rich.table import Table

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


def print_results(results: list[Measurement], *, title: str) -> None:
    """A workloads × backends table of rates, then the ratios."""
    backends = list(dict.fromkeys(m.backend for m in results))
    workloads = list(dict.fromkeys(m.workload for m in results))
    by = {(m.backend, m.workload): m for m in results}
    table = Table(title=title, caption=cpu_count_note())
    table.add_column("workload")
    for b in backends:
        table.add_column(b, justify="right")
    for w in workloads:
        cells = []
        for b in backends:
            m = by.get((b, w))
            if m is None:
                cells.append("-")
            elif w == "recovery":
                cells.append(f"{m.seconds:.2f} s")
            else:
                cells.append(f"{m.rate:,.0f}/s")
        table.add_row(w, *cells)
    console = Console()
    console.print(table)
    for label, ratio in ratio_rows(results):
        console.print(f"  {label}: [bold]{ratio:.2f}×[/bold]")
