"""Benchmarks of the ``file://`` store: durable puts under concurrency, and recovery time.

Run with ``pytest benchmarks/store/bench_file.py --benchmark-enable``.

* ``test_durable_put``: ``ORCHESTRA_BENCH_FILE_PUTS`` acknowledged puts (default
  20,000, 256-byte values) spread over 1, 16 and 256 concurrent writers;
  ``extra_info["writes_per_second"]`` is the acknowledged rate.
* ``test_recovery``: reopening a store of ``ORCHESTRA_BENCH_FILE_KEYS`` keys
  (default 100,000; set 1000000 for the 1M-key target) from its snapshot;
  ``extra_info["keys_per_second"]`` is the recovery rate.
* ``test_recovery_from_log``: the same without a snapshot (replaying the log).

``ORCHESTRA_BENCH_LOOP`` picks the event loop (``asyncio``, the default, or
``uvloop``). Data directories live under pytest's ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import uvloop

from orchestra._ext.kvstore import MVCCStore
from orchestra.plugins.stores import kernel_image, snapshot, wal
from orchestra.plugins.stores.recovery import recover
from orchestra.store import open_store

PUTS = int(os.environ.get("ORCHESTRA_BENCH_FILE_PUTS", "20000"))
KEYS = int(os.environ.get("ORCHESTRA_BENCH_FILE_KEYS", "100000"))
LOOP = os.environ.get("ORCHESTRA_BENCH_LOOP", "asyncio")
VALUE = b"v" * 256


def new_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if LOOP == "uvloop" else asyncio.new_event_loop()


def pod_key(i: int) -> bytes:
    return b"/registry/pods/ns-%05d/pod-%07d" % (i // 100, i)


async def durable_puts(url: str, writers: int, total: int) -> float:
    """Open the store, run ``total`` puts over ``writers`` tasks, close; returns the seconds the puts took."""
    store = await open_store(url)
    per_writer = total // writers

    async def writer(w: int) -> None:
        base = w * per_writer
        for i in range(base, base + per_writer):
            await store.put(pod_key(i), VALUE)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


@pytest.mark.parametrize("writers", [1, 16, 256])
def test_durable_put(benchmark, tmp_path, writers):
    loop = new_loop()
    rates = []
    counter = iter(range(1_000_000))

    def run() -> None:
        url = f"file://{tmp_path}/round-{next(counter)}?snapshot_every=0&snapshot_bytes=0"
        elapsed = loop.run_until_complete(durable_puts(url, writers, PUTS))
        rates.append(PUTS // writers * writers / elapsed)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1)
    finally:
        loop.close()
    benchmark.extra_info["writes_per_second"] = round(max(rates))
    benchmark.extra_info["writers"] = writers


def fill_snapshot(directory: str, keys: int) -> None:
    """A data directory whose snapshot holds ``keys`` keys (written directly, no log)."""
    core = MVCCStore()
    for i in range(keys):
        core.put(pod_key(i), VALUE)
    state = kernel_image.capture(core)
    image = snapshot.EncodedImage(
        1, state.revision, state.compact_revision, [], state.base_count, state.change_count, state.entries
    )
    snapshot.write_snapshot(directory, image)
    writer = wal.SegmentWriter(directory, 2, 64 << 20)
    writer.append([wal.encode_write(2, keys + 1, [wal.LoggedMutation("put", b"/last", VALUE)])], 2, 1)
    writer.close()


def fill_log(directory: str, keys: int) -> None:
    """A data directory whose log holds ``keys`` one-put writes (no snapshot)."""
    writer = wal.SegmentWriter(directory, 1, 64 << 20)
    batch = []
    first = 1
    for i in range(keys):
        lsn = i + 1
        batch.append(wal.encode_write(lsn, lsn, [wal.LoggedMutation("put", pod_key(i), VALUE)]))
        if len(batch) == 10_000:
            writer.append(batch, first, len(batch), sync=False)
            first, batch = lsn + 1, []
    if batch:
        writer.append(batch, first, len(batch))
    writer.close()


def timed_recover(directory: str, times: list[float]):
    """``recover(directory)``, appending its duration to ``times``."""
    start = time.perf_counter()
    result = recover(directory)
    times.append(time.perf_counter() - start)
    return result


def test_recovery(benchmark, tmp_path):
    fill_snapshot(str(tmp_path), KEYS)
    times: list[float] = []
    result = benchmark.pedantic(timed_recover, args=(str(tmp_path), times), rounds=3, iterations=1)
    assert len(result.core) == KEYS + 1
    benchmark.extra_info["keys"] = KEYS
    benchmark.extra_info["keys_per_second"] = round(KEYS / min(times))


def test_recovery_from_log(benchmark, tmp_path):
    fill_log(str(tmp_path), KEYS)
    times: list[float] = []
    result = benchmark.pedantic(timed_recover, args=(str(tmp_path), times), rounds=3, iterations=1)
    assert len(result.core) == KEYS
    benchmark.extra_info["keys"] = KEYS
    benchmark.extra_info["keys_per_second"] = round(KEYS / min(times))
