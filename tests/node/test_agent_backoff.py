"""Crash and image back-off: immediate first retry, doubling to the maximum, reset after idling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestra.node.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_failure_retries_at_once_then_doubles_up_to_the_maximum():
    clock = Clock()
    backoff = Backoff(10, 300, clock=clock)
    waits = []
    for _ in range(8):
        failed_at = clock.now
        wait = backoff.remaining("k", failed_at)
        waits.append(wait)
        clock.now += wait
        backoff.next("k", failed_at)
        clock.now += 1  # the container runs one second, then fails again
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]


def test_reset_after_ten_minutes_of_clean_running():
    clock = Clock()
    backoff = Backoff(10, 300, clock=clock)
    backoff.next("k", 0)
    backoff.next("k", 1)
    assert backoff.current("k") == 20
    clock.now = 700
    assert backoff.remaining("k", 700) == 0
    assert backoff.next("k", 700) == 10


def test_forget_prefix_drops_only_that_pod():
    backoff = Backoff()
    backoff.next("uid1/a", 0)
    backoff.next("uid2/a", 0)
    backoff.forget_prefix("uid1/")
    assert backoff.current("uid1/a") == 0 and backoff.current("uid2/a") == 10


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=30))
def test_backoff_never_exceeds_the_maximum(gaps):
    clock = Clock()
    backoff = Backoff(10, 300, clock=clock)
    for gap in gaps:
        clock.now += gap
        assert 0 <= backoff.remaining("k", clock.now) <= 300
        assert 10 <= backoff.next("k", clock.now) <= 300
