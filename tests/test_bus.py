"""The event bus: fan-out, bounded buffers, both overflow policies, observer plugins."""

from __future__ import annotations

import asyncio
import logging

import pytest

import orchestra
from orchestra.bus import ComponentEvent, EventBus, ObjectEvent, SubscriberOverflow
from orchestra.plugin_manager import get_plugin_manager


def pod_event(i: int, type_: str = "ADDED") -> ObjectEvent:
    return ObjectEvent(type_, "pods", "default", f"web-{i}", revision=i)


async def collect(sub, n):
    return [await anext(sub) for _ in range(n)]


async def test_every_subscriber_gets_every_event_in_order():
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    for i in range(5):
        bus.publish(pod_event(i))
    assert [e.revision for e in await collect(a, 5)] == list(range(5))
    assert [e.revision for e in await collect(b, 5)] == list(range(5))


async def test_subscriber_waits_for_a_later_event():
    bus = EventBus()
    sub = bus.subscribe()
    waiting = asyncio.ensure_future(anext(sub))
    await asyncio.sleep(0)
    assert not waiting.done()
    bus.publish(ComponentEvent("STARTED", "scheduler", "scheduler"))
    assert await asyncio.wait_for(waiting, 5) == ComponentEvent("STARTED", "scheduler", "scheduler")


def test_the_first_subscription_wakes_the_publishers_that_wait_for_one():
    bus = EventBus()
    woken = []
    bus.on_first_subscriber(lambda: woken.append(bus.subscriber_count))
    assert not bus.has_subscribers and woken == []
    first = bus.subscribe()
    assert bus.has_subscribers and woken == [1]  # called inside subscribe, the subscription counted
    second = bus.subscribe()
    assert woken == [1]  # only the step from none to one
    first.close()
    assert bus.has_subscribers
    second.close()
    assert not bus.has_subscribers
    bus.subscribe(accept=lambda e: False)
    assert woken == [1, 1]  # idle again, then a new first subscription


async def test_accept_filters_before_buffering():
    bus = EventBus()
    sub = bus.subscribe(accept=lambda e: isinstance(e, ObjectEvent) and e.type == "DELETED")
    bus.publish(pod_event(1))
    bus.publish(pod_event(2, "DELETED"))
    assert sub.pending() == 1
    assert (await anext(sub)).revision == 2


async def test_disconnect_policy_delivers_buffer_then_raises():
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    fast = bus.subscribe(maxsize=100)
    for i in range(5):
        bus.publish(pod_event(i))
    assert slow.closed and slow.overflowed
    assert bus.subscriber_count == 1
    assert [e.revision for e in await collect(slow, 3)] == [0, 1, 2]
    with pytest.raises(SubscriberOverflow, match="3 events behind"):
        await anext(slow)
    assert [e.revision for e in await collect(fast, 5)] == list(range(5))


async def test_drop_oldest_policy_keeps_newest_and_counts():
    bus = EventBus()
    sub = bus.subscribe(maxsize=2, overflow="drop-oldest")
    for i in range(5):
        bus.publish(pod_event(i))
    assert sub.dropped == 3 and not sub.closed
    assert [e.revision for e in await collect(sub, 2)] == [3, 4]


async def test_publish_never_blocks_on_a_subscriber_that_never_reads():
    bus = EventBus()
    bus.subscribe(maxsize=10, overflow="drop-oldest")
    for i in range(10_000):
        bus.publish(pod_event(i))  # returns immediately; no await needed


async def test_close_ends_iteration_after_buffer():
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(pod_event(1))
    await bus.close()
    assert [e.revision async for e in sub] == [1]
    assert bus.subscriber_count == 0


def test_bad_subscription_settings_are_refused():
    bus = EventBus()
    with pytest.raises(ValueError, match="at least 1"):
        bus.subscribe(maxsize=0)
    with pytest.raises(ValueError, match="overflow policy"):
        bus.subscribe(overflow="block")


async def test_observer_plugins_receive_events_sync_and_async_and_failures_are_isolated(caplog):
    seen = []

    class SyncObserver:
        @orchestra.hookimpl
        def orchestra_event(self, event):
            seen.append(("sync", event.name))

    class AsyncObserver:
        @orchestra.hookimpl
        async def orchestra_event(self, event):
            await asyncio.sleep(0)
            seen.append(("async", event.name))

    class Broken:
        @orchestra.hookimpl
        def orchestra_event(self, event):
            raise RuntimeError("observer bug")

    pm = get_plugin_manager([SyncObserver(), Broken(), AsyncObserver()], load_entrypoints=False)
    bus = EventBus(pm)
    bus.start_observers()
    bus.publish(pod_event(1))
    bus.publish(ComponentEvent("STOPPED", "agent", "node-1"))
    with caplog.at_level(logging.ERROR):
        await bus.close()
    # pluggy's order: the most recently registered implementation first
    assert seen == [("async", "web-1"), ("sync", "web-1"), ("async", "node-1"), ("sync", "node-1")]
    assert "observer bug" in caplog.text


def test_observers_need_a_plugin_manager():
    with pytest.raises(RuntimeError, match="plugin manager"):
        EventBus().start_observers()
