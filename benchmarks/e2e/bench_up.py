"""``orchestra up``: time to ready and idle memory; ``orchestra.Cluster``: start time in-process.

Run with ``pytest benchmarks/e2e/bench_up.py --benchmark-enable -s`` or
``python benchmarks/e2e/bench_up.py``. Measured:

- ``process_ready_s``: from spawning ``orchestra up`` (one node, process runtime, a fresh data
  directory, durable store) to its ready line — interpreter start and imports included, as a user
  waits for it; ``cluster_ready_s`` is the part after the imports (the line's own figure);
- ``idle_rss_mb``: the resident memory of the ``orchestra up`` process after ``IDLE_SECONDS``
  of idling with no workload;
- ``inprocess_start_s``: ``async with Cluster(nodes=1)`` on the memory store, median of rounds.

The issue's targets: ready in about 1 s (kind takes 12–17 s) and idle at ≤ 150 MB (k3s idles
above 500 MB).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

__all__ = ["UpMeasurement", "measure_up", "measure_inprocess", "TARGET_READY_S", "TARGET_IDLE_MB"]

TARGET_READY_S = 1.0
TARGET_IDLE_MB = 150.0
IDLE_SECONDS = 5.0
READY_MESSAGE = "orchestra up: ready in"


@attrs.frozen
class UpMeasurement:
    """One ``orchestra up`` run: seconds to ready (whole process and after imports), idle memory."""

    process_ready_s: float
    cluster_ready_s: float
    idle_rss_mb: float

    def to_dict(self) -> dict[str, float]:
        """The figures, rounded, for ``extra_info`` and printing."""
        return {k: round(v, 3) for k, v in attrs.asdict(self).items()}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def measure_up(idle_seconds: float = IDLE_SECONDS) -> UpMeasurement:
    """Start ``orchestra up`` in a fresh data directory, wait for ready, idle, measure, stop it."""
    with tempfile.TemporaryDirectory(prefix="bench-up-") as data_dir:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestra", "up", "--data-dir", data_dir, "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(READY_MESSAGE):
                    ready = time.perf_counter() - began
                    cluster_ready = float(line[len(READY_MESSAGE):].split()[0])
                    break
            else:
                raise RuntimeError(f"orchestra up exited with status {process.wait()} before it was ready")
            time.sleep(idle_seconds)
            rss = _rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    return UpMeasurement(ready, cluster_ready, rss)


async def _start_stop() -> float:
    from orchestra import Cluster

    began = time.perf_counter()
    async with Cluster(nodes=1, runtime="process"):
        ready = time.perf_counter() - began
    return ready


def measure_inprocess(rounds: int = 5) -> float:
    """Median seconds for ``Cluster(nodes=1)`` to start (memory store), over ``rounds``."""
    return statistics.median(asyncio.run(_start_stop()) for _ in range(rounds))


def test_up_ready_and_idle_memory(benchmark):
    result = benchmark.pedantic(measure_up, rounds=1, iterations=1)
    benchmark.extra_info.update(result.to_dict())
    benchmark.extra_info.update(target_ready_s=TARGET_READY_S, target_idle_mb=TARGET_IDLE_MB)
    assert result.process_ready_s > 0 and result.idle_rss_mb > 0


def test_cluster_start_in_process(benchmark):
    seconds = benchmark.pedantic(measure_inprocess, rounds=1, iterations=1)
    benchmark.extra_info["inprocess_start_s"] = round(seconds, 4)
    assert seconds > 0


if __name__ == "__main__":
    up = measure_up()
    print(f"orchestra up: ready {up.process_ready_s:.2f} s after spawn ({up.cluster_ready_s:.2f} s after imports), "
          f"idle RSS {up.idle_rss_mb:.0f} MB (targets: ~{TARGET_READY_S:g} s, ≤ {TARGET_IDLE_MB:g} MB)")
    print(f"Cluster(nodes=1) in-process start: {measure_inprocess():.3f} s (median of 5)")
