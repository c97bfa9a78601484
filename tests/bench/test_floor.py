"""The floor loop: a fixed amount of interpreter work, timed in CPU seconds."""

from __future__ import annotations

from orchestra.bench import floor


def test_the_loop_does_a_fixed_amount_of_work_and_is_timed_in_cpu_seconds():
    assert floor._loop(1000) == floor._loop(1000) == 2000  # every round builds a pair
    assert floor.floor_seconds(1000) >= 0
    assert floor.FLOOR_ROUNDS > 0
