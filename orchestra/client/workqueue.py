"""Rate-limited work queues with Kubernetes' guarantees.

A key is never handed to two workers at once: a key added while a worker holds
it is marked dirty and handed out again only after that worker calls
:meth:`WorkQueue.done`. Adding a key that already waits is a no-op, so bursts
of events for one object coalesce into one sync.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import time
from typing import Generic, Hashable, TypeVar

__all__ = [
    "ItemExponentialRateLimiter",
    "BucketRateLimiter",
    "MaxOfRateLimiter",
    "default_rate_limiter",
    "WorkQueue",
    "ShutDown",
]

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class ItemExponentialRateLimiter:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``maximum`` seconds."""

    def __init__(self, base: float = 0.005, maximum: float = 1000.0) -> None:
        self.base = base
        self.maximum = maximum
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """The delay before ``key`` may be retried; counts one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return min(self.base * (2**failures), self.maximum)

    def forget(self, key: Hashable) -> None:
        """Reset ``key``'s failures (it synced successfully)."""
        self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        """How many times ``key`` has been rate-limited since it was last forgotten."""
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """An overall token bucket: ``qps`` keys per second with bursts of ``burst``."""

    def __init__(self, qps: float = 10.0, burst: int = 100) -> None:
        self.qps = qps
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()

    def when(self, key: Hashable) -> float:
        """The delay until a token is free for this request (reserving it)."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        """Nothing to forget: the bucket is shared by all keys."""

    def retries(self, key: Hashable) -> int:
        """The bucket does not count per key."""
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters (Kubernetes' default controller limiter)."""

    def __init__(self, *limiters: ItemExponentialRateLimiter | BucketRateLimiter) -> None:
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        """The largest delay any limiter asks for."""
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: Hashable) -> None:
        """Forget ``key`` in every limiter."""
        for limiter in self.limiters:
            limiter.forget(key)

    def retries(self, key: Hashable) -> int:
        """The largest per-key count."""
        return max(limiter.retries(key) for limiter in self.limiters)


def default_rate_limiter() -> MaxOfRateLimiter:
    """5 ms doubling to 1000 s per key, and 10 keys/s with bursts of 100 overall (as Kubernetes)."""
    return MaxOfRateLimiter(ItemExponentialRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class WorkQueue(Generic[K]):
    """A FIFO of keys to process, with de-duplication, delays and per-key rate limiting."""

    def __init__(self, rate_limiter: MaxOfRateLimiter | ItemExponentialRateLimiter | None = None, *,
                 name: str = "") -> None:
        self.name = name
        self.rate_limiter = rate_limiter or default_rate_limiter()
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of (ready_at, seq, key)
        self._seq = 0
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue ``key`` unless it already waits; if a worker holds it, queue it again after ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds (at once if ``delay`` ≤ 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        self._seq += 1
        heapq.heappush(self._waiting, (time.monotonic() + delay, self._seq, key))
        self._arm_timer()

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after the rate limiter's delay (a failed sync's retry)."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Stop tracking ``key``'s failures (call after a successful sync)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited retries ``key`` has had since it was forgotten."""
        return self.rate_limiter.retries(key)

    async def get(self) -> K:
        """The next key to process; the caller must call :meth:`done` with it. Raises ShutDown."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._getters:
                    self._getters.remove(waiter)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Stop accepting keys; waiting workers get :class:`ShutDown` once the queue is empty."""
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm_timer(self) -> None:
        if not self._waiting:
            return
        at = self._loop_time(self._waiting[0][0])
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        # remember the time ourselves: uvloop's call_at returns a plain Handle (no when()) when due
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_at(at, self._release_due)

    @staticmethod
    def _loop_time(monotonic_at: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (monotonic_at - time.monotonic())

    def _release_due(self) -> None:
        self._timer = None
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            self.add(key)
        self._arm_timer()
