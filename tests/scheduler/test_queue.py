"""The scheduling queue: order, backoff, unschedulable pods, moves, flushes and nominations (hand-driven clock)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.scheduler import PodInfo
from orchestra.scheduler.queue import QueueClosed, SchedulingQueue, backoff_duration
from scheduler.sched_builders import make_framework, make_pod


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def info(name: str, priority: int = 0) -> PodInfo:
    return PodInfo.from_dict(make_pod(name, priority=priority))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["fast-path", "framework-less"])
def queue(request, clock) -> SchedulingQueue:
    """A queue ordered by PrioritySort: through the built-in fast path, and through the profile's ``less``."""
    less = None if request.param == "fast-path" else make_framework().less
    return SchedulingQueue(less, clock=clock)


def drain(q: SchedulingQueue) -> list[str]:
    out = []
    while (qpi := q.pop_nowait()) is not None:
        out.append(qpi.pod.name)
    return out


def test_higher_priority_first_then_arrival(queue, clock):
    for name, prio in [("a", 0), ("b", 10), ("c", 0), ("d", 10)]:
        queue.add(info(name, prio))
        clock.now += 1
    assert drain(queue) == ["b", "d", "a", "c"]


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30))
def test_pop_order_is_priority_then_fifo(priorities):
    clock = Clock()
    q = SchedulingQueue(None, clock=clock)
    for i, p in enumerate(priorities):
        q.add(info(f"p{i}", p))
        clock.now += 1
    popped = drain(q)
    expected = [f"p{i}" for i, _ in sorted(enumerate(priorities), key=lambda x: (-x[1], x[0]))]
    assert popped == expected


def test_backoff_doubles_per_attempt_up_to_the_maximum():
    assert [backoff_duration(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_backoff_sequence_of_one_pod(queue, clock):
    queue.add(info("p"))
    waits = []
    for _ in range(5):
        qpi = queue.pop_nowait()
        assert qpi is not None
        queue.add_backoff(qpi)
        start = clock.now
        while queue.where("default/p") == "backoff":
            clock.now += 0.25
            queue.flush()
        waits.append(clock.now - start)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_unschedulable_pod_waits_for_an_event(queue, clock):
    queue.add(info("p"))
    qpi = queue.pop_nowait()
    queue.add_unschedulable(qpi)
    assert queue.where("default/p") == "unschedulable"
    clock.now += 60
    assert queue.pop_nowait() is None
    assert queue.move_all_to_active_or_backoff("NodeAdd") == 1
    assert queue.pop_nowait().pod.name == "p"


def test_moved_pod_still_backing_off_goes_to_backoffq(queue, clock):
    queue.add(info("p"))
    queue.add_unschedulable(queue.pop_nowait())
    clock.now += 0.5
    queue.move_all_to_active_or_backoff("NodeAdd")
    assert queue.where("default/p") == "backoff"
    clock.now += 0.6
    assert queue.pop_nowait().pod.name == "p"


def test_event_during_the_attempt_sends_the_pod_to_backoff(queue, clock):
    queue.add(info("p"))
    qpi = queue.pop_nowait()
    queue.move_all_to_active_or_backoff("NodeAdd")  # arrives while p is being scheduled
    queue.add_unschedulable(qpi)
    assert queue.where("default/p") == "backoff"


def test_move_only_pods_rejected_by_the_event_plugins(queue, clock):
    for name in ("fit", "aff"):
        queue.add(info(name))
    clock.now += 1
    a, b = queue.pop_nowait(), queue.pop_nowait()
    queue.add_unschedulable(a, frozenset({"NodeResourcesFit"}))
    queue.add_unschedulable(b, frozenset({"NodeAffinity"}))
    clock.now += 20
    assert queue.move_all_to_active_or_backoff("PodDelete", frozenset({"NodeResourcesFit"})) == 1
    assert queue.where("default/fit") == "active" and queue.where("default/aff") == "unschedulable"


def test_unschedulable_pods_are_flushed_after_the_maximum(clock):
    q = SchedulingQueue(None, clock=clock, max_unschedulable=300)
    q.add(info("p"))
    q.add_unschedulable(q.pop_nowait())
    assert q.next_deadline() == clock.now + 300
    clock.now += 299
    assert q.pop_nowait() is None
    clock.now += 1
    assert q.pop_nowait().pod.name == "p"


def test_deleted_while_in_flight_is_not_requeued(queue):
    queue.add(info("p"))
    qpi = queue.pop_nowait()
    queue.delete("default/p")
    queue.add_unschedulable(qpi)
    queue.add_backoff(qpi)
    assert len(queue) == 0 and queue.where("default/p") is None


def test_update_of_an_unschedulable_pod_retries_it(queue, clock):
    queue.add(info("p"))
    queue.add_unschedulable(queue.pop_nowait())
    clock.now += 20
    queue.update(info("p", priority=5))
    assert queue.where("default/p") == "active"
    assert queue.pop_nowait().pod.priority == 5


def test_update_in_active_reorders(queue, clock):
    queue.add(info("a"))
    clock.now += 1
    queue.add(info("b"))
    queue.update(info("b", priority=9))
    assert drain(queue) == ["b", "a"]


def test_nominations(queue):
    p, q2 = info("p", 10), info("q", 5)
    queue.add_nomination(p, "n1")
    queue.add_nomination(q2, "n1")
    assert {x.name for x in queue.nominated_pods("n1")} == {"p", "q"}
    queue.add_nomination(p, "n2")
    assert [x.name for x in queue.nominated_pods("n1")] == ["q"] and queue.nominated_node("default/p") == "n2"
    queue.delete("default/q")
    assert queue.nominated_pods("n1") == []


async def test_pop_waits_for_a_pod_and_close_ends_it():
    q = SchedulingQueue(None)
    waiter = asyncio.ensure_future(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(info("p"))
    assert (await asyncio.wait_for(waiter, 5)).pod.name == "p"
    closing = asyncio.ensure_future(q.pop())
    await asyncio.sleep(0)
    assert not q.closed
    q.close()
    assert q.closed
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(closing, 5)


def test_an_empty_activeq_pops_the_rejected_pod_whose_backoff_ends_first(queue, clock):
    for name in ("a", "b"):
        queue.add(info(name))
    a, b = queue.pop_nowait(), queue.pop_nowait()
    b.attempts = 3  # a longer backoff than a's
    queue.add_unschedulable(b)
    queue.add_unschedulable(a)
    queue.move_all_to_active_or_backoff("NodeAdd")
    assert queue.where("default/a") == queue.where("default/b") == "backoff"
    queue.add(info("c"))
    assert drain(queue) == ["c", "a", "b"]  # activeQ first, then backoffQ by expiry, before any expires


def test_pods_backing_off_after_an_error_serve_the_whole_backoff(queue, clock):
    queue.add(info("p"))
    queue.add_backoff(queue.pop_nowait())
    assert queue.pop_nowait() is None
    clock.now += 1
    assert queue.pop_nowait().pod.name == "p"


def test_popping_from_backoff_can_be_switched_off(clock):
    q = SchedulingQueue(None, clock=clock, pop_from_backoff=False)
    q.add(info("p"))
    q.add_unschedulable(q.pop_nowait())
    q.move_all_to_active_or_backoff("NodeAdd")
    assert q.pop_nowait() is None
    clock.now += 1
    assert q.pop_nowait().pod.name == "p"


def test_a_held_pod_ignores_events_until_released(queue, clock):
    queue.add(info("p"))
    qpi = queue.pop_nowait()
    queue.hold("default/p")
    queue.move_all_to_active_or_backoff("NodeAdd")  # during the attempt: would send it to backoffQ
    queue.add_unschedulable(qpi)
    assert queue.where("default/p") == "unschedulable"
    assert queue.move_all_to_active_or_backoff("AssignedPodDelete") == 0
    assert queue.is_held("default/p")
    assert queue.release("default/p")
    assert not queue.is_held("default/p") and queue.where("default/p") == "backoff"
    assert queue.pop_nowait().pod.name == "p"
    assert not queue.release("default/p")  # in flight, not waiting: nothing to release


def test_a_held_pod_is_still_flushed_after_the_maximum(clock):
    q = SchedulingQueue(None, clock=clock, max_unschedulable=300)
    q.add(info("p"))
    qpi = q.pop_nowait()
    q.hold("default/p")
    q.add_unschedulable(qpi)
    clock.now += 300
    assert q.pop_nowait().pod.name == "p"
