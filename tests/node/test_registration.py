"""The registration module's helpers: MicroTime stamps and the shared-tick sleep of the heartbeat loops."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

import pytest

from orchestra.node import registration
from orchestra.node.registration import COARSE_TICK, coarse_sleep, micro_time

pytestmark = pytest.mark.timeout(30)


def test_micro_time_is_now_in_utc_with_microseconds():
    before = time.time()
    stamp = micro_time()
    after = time.time()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()
    assert before - 1e-6 <= parsed <= after + 1e-6
    given = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc)
    assert micro_time(given) == "2026-01-02T03:04:05.123456Z"
    seconds = registration._now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", seconds)
    whole = dt.datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    assert int(before) <= whole <= time.time()


async def test_long_sleeps_share_one_tick_and_cancelling_one_leaves_the_others():
    loop = asyncio.get_running_loop()
    began = loop.time()
    sleepers = [asyncio.ensure_future(coarse_sleep(1.0 + i * 0.001)) for i in range(50)]
    await asyncio.sleep(0)
    ticks = registration._buckets[loop]
    assert 1 <= len(ticks) <= 2  # 50 waits, at most two timers (the delays may straddle a tick)
    sleepers[0].cancel()
    await asyncio.gather(*sleepers[1:])
    elapsed = loop.time() - began
    assert 1.0 <= elapsed < 1.0 + COARSE_TICK + 0.5
    assert sleepers[0].cancelled() and all(s.done() and not s.cancelled() for s in sleepers[1:])
    assert not ticks


async def test_short_sleeps_are_plain_sleeps():
    loop = asyncio.get_running_loop()
    began = loop.time()
    await coarse_sleep(0.02)
    assert loop.time() - began < 0.5
    assert not registration._buckets.get(loop)
