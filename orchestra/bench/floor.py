"""The machine's speed at a moment: the CPU time of a fixed pure-Python loop.

On a shared machine the same code runs at different speeds minutes apart (a neighbour on
the other hyperthread, the host's frequency). A benchmark run that notes how long this loop
took just before it tells a slow run of fast code from a fast run of slow code: two figures
are comparable when their floor loops took about as long.
"""

from __future__ import annotations

import time

__all__ = ["FLOOR_ROUNDS", "floor_seconds"]

#: Rounds of :func:`floor_seconds`' loop: about 0.1 CPU-second on a 2.1 GHz Xeon core.
FLOOR_ROUNDS = 250_000


def _loop(rounds: int) -> int:
    # dict reads and writes, tuples, a call, integer arithmetic: what an interpreted scheduling
    # cycle and API write are made of
    table: dict[tuple[int, str], int] = {}
    total = 0
    for i in range(rounds):
        key = (i & 255, "k")
        table[key] = table.get(key, 0) + i
        total += len(key)
    return total


def floor_seconds(rounds: int = FLOOR_ROUNDS) -> float:
    """The CPU seconds this process takes for the fixed loop of ``rounds`` rounds, now."""
    start = time.process_time()
    _loop(rounds)
    return time.process_time() - start
