"""Benchmarks of the ``etcd://`` backend against a real etcd (started by ``tests/support/etcd.py``).

Run with ``pytest benchmarks/store/bench_etcd.py --benchmark-enable``. Each round
runs ``ORCHESTRA_BENCH_ETCD_OPS`` requests (default 200) one after another on
one event loop (``ORCHESTRA_BENCH_LOOP``: ``asyncio``, the default, or
``uvloop``); ``extra_info`` records requests per second. Skips when no etcd
binary is installed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Awaitable, Callable

import pytest
import uvloop

from orchestra.store import Compare, PutOp, Store, open_store, prefix_range
from orchestra.testing.etcd import ETCD_MISSING_REASON, EtcdServer, etcd_binary

OPS = int(os.environ.get("ORCHESTRA_BENCH_ETCD_OPS", "200"))
ROUNDS = int(os.environ.get("ORCHESTRA_BENCH_ETCD_ROUNDS", "5"))
LOOP = os.environ.get("ORCHESTRA_BENCH_LOOP", "asyncio")
PREFIX_KEYS = 100
VALUE = b"v" * 256

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason=ETCD_MISSING_REASON)


@pytest.fixture(scope="module")
def loop():
    """One event loop for the module, so the store's channels live across rounds."""
    loop = uvloop.new_event_loop() if LOOP == "uvloop" else asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def store(loop):
    """A store on a fresh etcd, with ``PREFIX_KEYS`` keys under ``/bench/list/``."""
    with EtcdServer() as server:
        store = loop.run_until_complete(open_store(server.url))
        for i in range(PREFIX_KEYS):
            loop.run_until_complete(store.put(b"/bench/list/%03d" % i, VALUE))
        loop.run_until_complete(store.put(b"/bench/key", VALUE))
        yield store
        loop.run_until_complete(store.close())


def run_rounds(benchmark, loop, request: Callable[[int], Awaitable[object]]) -> None:
    """Benchmark ``OPS`` sequential calls of ``request(i)`` per round; record the rate."""

    async def one_round() -> None:
        for i in range(OPS):
            await request(i)

    benchmark.pedantic(lambda: loop.run_until_complete(one_round()), rounds=ROUNDS, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_second"] = round(OPS / benchmark.stats["mean"])


def test_put(benchmark, loop, store: Store):
    run_rounds(benchmark, loop, lambda i: store.put(b"/bench/put/%d" % (i % 100), VALUE))


def test_get(benchmark, loop, store: Store):
    async def get(i: int) -> None:
        kv = await store.get(b"/bench/key")
        assert kv is not None

    run_rounds(benchmark, loop, get)


def test_range_of_a_100_key_prefix(benchmark, loop, store: Store):
    async def list_prefix(i: int) -> None:
        result = await store.range(*prefix_range(b"/bench/list/"))
        assert result.count == PREFIX_KEYS

    run_rounds(benchmark, loop, list_prefix)


def test_txn_compare_and_swap(benchmark, loop, store: Store):
    key = b"/bench/cas"
    state = {"revision": loop.run_until_complete(store.put(key, b"0")).revision}

    async def cas(i: int) -> None:
        result = await store.txn(
            [Compare.mod_revision(key, "=", state["revision"])],
            [PutOp(key, b"%d" % i)],
        )
        assert result.succeeded
        state["revision"] = result.revision

    run_rounds(benchmark, loop, cas)
