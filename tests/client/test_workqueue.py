"""Work queue guarantees: de-duplication, one worker per key, delays, rate limiting, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from orchestra.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    ShutDown,
    WorkQueue,
)


async def test_fifo_and_dedup():
    q: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_added_while_processing_is_requeued_after_done_not_before():
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # held by a worker: not handed out again yet
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0.01)
    assert not second.done()
    q.done(key)
    assert await asyncio.wait_for(second, 5) == "a"
    q.done("a")
    assert len(q) == 0


async def test_never_two_workers_on_one_key():
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    clashes = 0
    handled = 0

    async def worker():
        nonlocal clashes, handled
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                clashes += 1
            active.add(key)
            await asyncio.sleep(0)
            if handled < 200:
                q.add(key)  # re-add while processing
            handled += 1
            active.discard(key)
            q.done(key)

    workers = [asyncio.ensure_future(worker()) for _ in range(8)]
    for key in range(4):
        q.add(key)
    while handled < 200:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    q.shutdown()
    await asyncio.gather(*workers)
    assert clashes == 0


async def test_add_after_delays():
    q: WorkQueue[str] = WorkQueue()
    q.add_after("later", 0.05)
    q.add("now")
    assert await q.get() == "now"
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 5) == "later"


async def test_add_rate_limited_backs_off_and_forget_resets():
    limiter = ItemExponentialRateLimiter(base=0.01, maximum=0.04)
    q: WorkQueue[str] = WorkQueue(limiter)
    assert [limiter.when("x") for _ in range(4)] == [0.01, 0.02, 0.04, 0.04]
    limiter.forget("x")
    q.add_rate_limited("x")
    assert q.num_requeues("x") == 1
    assert await asyncio.wait_for(q.get(), 5) == "x"
    q.forget("x")
    assert q.num_requeues("x") == 0


def test_bucket_limiter_allows_burst_then_spaces_requests():
    bucket = BucketRateLimiter(qps=10, burst=3)
    delays = [bucket.when(i) for i in range(5)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3] == pytest.approx(0.1, abs=0.02)
    assert delays[4] == pytest.approx(0.2, abs=0.02)


def test_max_of_limiters():
    limiter = MaxOfRateLimiter(ItemExponentialRateLimiter(1.0, 10.0), BucketRateLimiter(100, 100))
    assert limiter.when("k") == 1.0
    assert limiter.when("k") == 2.0
    assert limiter.retries("k") == 2


async def test_shutdown_wakes_waiting_workers():
    q: WorkQueue[str] = WorkQueue()
    waiting = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiting, 5)
    q.add("ignored")
    assert len(q) == 0


async def test_add_after_with_a_due_timer_pending():
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.001)
    await asyncio.sleep(0.01)  # the first timer is due but its callback may not have run yet
    q.add_after("b", 0.001)
    q.add_after("c", 0.002)
    got = {await asyncio.wait_for(q.get(), 5) for _ in range(3)}
    assert got == {"a", "b", "c"}
