"""Micro-benchmarks of the MVCC kernel (``orchestra._ext.kvstore``) through its synchronous API.

Run with ``pytest benchmarks/store/bench_kernel.py --benchmark-enable``. The store
holds ``ORCHESTRA_BENCH_KEYS`` keys (default 1,000,000) shaped
``/registry/pods/<ns>/<name>`` (100 per namespace) with 256-byte values; each
benchmark round touches ``BATCH`` keys in random order, and ``extra_info`` records
the rate per second (and, for memory, the bytes held per live byte).
"""

from __future__ import annotations

import gc
import os
import random

import pytest

from orchestra._ext.kvstore import MVCCStore

KEYS = int(os.environ.get("ORCHESTRA_BENCH_KEYS", "1000000"))
BATCH = min(KEYS, 100_000)
PER_NAMESPACE = 100
VALUE_SIZE = 256


def pod_key(i: int) -> bytes:
    return b"/registry/pods/ns-%05d/pod-%07d" % (i // PER_NAMESPACE, i)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def keys() -> list[bytes]:
    return [pod_key(i) for i in range(KEYS)]


@pytest.fixture(scope="module")
def loaded(keys) -> MVCCStore:
    store = MVCCStore()
    value = os.urandom(VALUE_SIZE)
    for key in keys:
        store.put(key, value)
    store.compact(store.revision)
    return store


@pytest.fixture(scope="module")
def batch(keys) -> list[bytes]:
    return random.Random(7).sample(keys, BATCH)


def rate(benchmark, n: int) -> None:
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_second"] = round(n / benchmark.stats["mean"])


def test_put_existing_keys(benchmark, loaded, batch):
    put = loaded.put
    value = os.urandom(VALUE_SIZE)

    def run():
        for key in batch:
            put(key, value)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    rate(benchmark, len(batch))
    loaded.compact(loaded.revision)


def test_put_new_keys(benchmark, loaded):
    value = os.urandom(VALUE_SIZE)
    rounds = iter(range(1_000))

    def fresh_keys():
        r = next(rounds)
        new = [b"/registry/pods/new-%03d/pod-%07d" % (r, i) for i in range(BATCH)]
        random.Random(r).shuffle(new)
        return (new,), {}

    def run(new):
        put = loaded.put
        for key in new:
            put(key, value)

    benchmark.pedantic(run, setup=fresh_keys, rounds=5)
    rate(benchmark, BATCH)
    loaded.delete_range(b"/registry/pods/new-", b"/registry/pods/new.")
    loaded.compact(loaded.revision)


def test_get(benchmark, loaded, batch):
    get = loaded.get

    def run():
        for key in batch:
            get(key)

    benchmark.pedantic(run, rounds=10, warmup_rounds=1)
    rate(benchmark, len(batch))


def test_dict_get_floor(benchmark, keys, batch):
    """The floor to compare ``get`` with: ``dict.get`` on the same keys."""
    value = os.urandom(VALUE_SIZE)
    table = dict.fromkeys(keys, value)
    get = table.get

    def run():
        for key in batch:
            get(key)

    benchmark.pedantic(run, rounds=10, warmup_rounds=1)
    rate(benchmark, len(batch))


def test_range_of_a_100_key_prefix(benchmark, loaded):
    namespaces = KEYS // PER_NAMESPACE
    prefixes = [(b"/registry/pods/ns-%05d/" % n, b"/registry/pods/ns-%05d0" % n) for n in range(namespaces)]
    random.Random(3).shuffle(prefixes)
    prefixes = prefixes[:1_000]
    range_ = loaded.range

    def run():
        for start, end in prefixes:
            range_(start, end)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    rate(benchmark, len(prefixes))
    kvs, count, _ = loaded.range(*prefixes[0])
    assert count == len(kvs) == PER_NAMESPACE


def test_memory_held(benchmark):
    """Process memory grown by a store of KEYS live keys (distinct values), once compacted."""

    def build():
        gc.collect()
        before = rss_bytes()
        store = MVCCStore()
        live = 0
        for i in range(KEYS):
            key = pod_key(i)
            value = os.urandom(VALUE_SIZE)
            live += len(key) + len(value)
            store.put(key, value)
        store.compact(store.revision)
        gc.collect()
        return store, live, rss_bytes() - before

    store, live, grown = benchmark.pedantic(build, rounds=1)
    benchmark.extra_info["live_bytes"] = live
    benchmark.extra_info["rss_growth_bytes"] = grown
    benchmark.extra_info["rss_per_live_byte"] = round(grown / live, 3)
    benchmark.extra_info["stats"] = store.stats()
    assert store.stats()["bytes"] == live
