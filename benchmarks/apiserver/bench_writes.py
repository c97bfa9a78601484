"""CPU per pod binding and per Event create through the in-process client (pytest-benchmark form).

Run with ``pytest benchmarks/apiserver/bench_writes.py --benchmark-enable`` (pin it:
``taskset -c 0``). It runs :mod:`inprocess_writes` (next to this file) once with
``ORCHESTRA_BENCH_WRITES`` requests of each (default 5,000) and records the CPU
microseconds per binding and per Event create in ``extra_info``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location("inprocess_writes", Path(__file__).with_name("inprocess_writes.py"))
assert _SPEC is not None and _SPEC.loader is not None
inprocess_writes = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(inprocess_writes)

WRITES = int(os.environ.get("ORCHESTRA_BENCH_WRITES", "5000"))


def test_in_process_writes(benchmark):
    result = benchmark.pedantic(lambda: asyncio.run(inprocess_writes.run(WRITES, 500, 500)), rounds=1, iterations=1)
    benchmark.extra_info.update({f"{what}_cpu_us": round(us, 2) for what, us in result.items()})
    assert set(result) == {"binding", "event"} and all(us > 0 for us in result.values())
