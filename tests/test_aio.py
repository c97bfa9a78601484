"""cancel_and_wait and wait_for: stop tasks and wait with a timeout, never swallowing the caller's cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from orchestra.aio import cancel_and_wait, wait_for


async def test_it_cancels_every_task_and_waits_for_them_to_end():
    ended: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # some cleanup that takes a step
            ended.append(name)

    tasks = [asyncio.create_task(worker(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_and_wait([*tasks, None])
    assert sorted(ended) == ["a", "b"]
    assert all(t.cancelled() for t in tasks)


async def test_nothing_to_stop_returns_at_once():
    await cancel_and_wait([None])
    await cancel_and_wait([])


async def test_the_callers_cancellation_propagates_while_it_waits():
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # takes its time to finish its cancellation
            raise

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait([task]))
    await asyncio.sleep(0)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper  # with ``await task`` in ``except CancelledError: pass`` this would be swallowed
    assert not task.done()
    release.set()
    await cancel_and_wait([task])  # cancelling already: only waited for
    assert task.cancelled()


async def test_a_task_that_fails_while_stopping_is_logged(caplog):
    async def fails() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("broken cleanup") from None

    task = asyncio.create_task(fails(), name="fragile")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="orchestra.aio"):
        await cancel_and_wait([task])
    assert "task fragile failed while stopping" in caplog.text


async def test_wait_for_returns_the_result_or_raises_timeout_error():
    assert await wait_for(asyncio.sleep(0, "done"), 1.0) == "done"
    assert await wait_for(asyncio.sleep(0, "no limit"), None) == "no limit"
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(TimeoutError):
        await wait_for(slow(), 0.01)
    assert cancelled == [True]


async def test_wait_for_never_swallows_a_cancellation_that_comes_as_the_wait_ends():
    """Python 3.11's asyncio.wait_for returns the result here, and the cancelled task runs on."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    ran_on = []

    async def waiter() -> None:
        await wait_for(ready, 10.0)
        ran_on.append(True)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    ready.set_result(None)  # the awaited future ends in the same loop step as the cancel
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ran_on == []
    await cancel_and_wait([task])  # and a stop through cancel_and_wait returns
