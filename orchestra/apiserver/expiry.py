"""Objects that expire on their own: Events live for ``--event-ttl`` (one hour unless set), as in Kubernetes.

A kind with a time to live is written attached to a store lease, so the store deletes the
object when the lease ends and every watcher sees it go. Each write renews it: the object
then lives the whole TTL from its last change. As Kubernetes' lease manager does, one lease
serves the writes of a short window instead of one lease per object: a lease granted for
``ttl + reuse`` seconds is handed out for ``reuse`` seconds (5% of the TTL, at most 60 s),
so every object attached to it lives at least its TTL and at most ``reuse`` longer, and no
lease holds more than 1,000 objects.
"""

from __future__ import annotations

import time
from typing import Callable

from orchestra.store import Store

__all__ = ["EVENT_TTL", "ExpiryLeases"]

#: Kubernetes' default ``--event-ttl``: one hour.
EVENT_TTL = 3600.0


class ExpiryLeases:
    """The store leases objects with a time to live are attached to, one per window of writes.

    :param store: the store the leases are granted by.
    :param clock: monotonic seconds (tests pass a fake one).
    :param max_objects: how many writes one lease serves at most.
    :param reuse_seconds: the longest window a lease is handed out for.
    :param reuse_fraction: the window as a fraction of the TTL, when shorter.
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic, max_objects: int = 1000,
                 reuse_seconds: int = 60, reuse_fraction: float = 0.05) -> None:
        self.store = store
        self._clock = clock
        self._max_objects = max_objects
        self._reuse_seconds = reuse_seconds
        self._reuse_fraction = reuse_fraction
        self._lease = 0
        self._ttl = 0
        self._until = 0.0  # the end of the current lease's window
        self._attached = 0

    def reusable(self, ttl: int) -> int:
        """The current lease's ID when it may serve one more object of ``ttl`` seconds, else 0 (then
        :meth:`grant`): within its window, a lease granted for ``ttl`` plus the window lives at least
        ``ttl`` more seconds, and at most the window longer."""
        self._attached += 1
        if ttl == self._ttl and self._attached <= self._max_objects and self._clock() < self._until:
            return self._lease
        return 0

    async def grant(self, ttl: int) -> int:
        """A new lease for ``ttl`` seconds plus the window, handed out by :meth:`reusable` from now on."""
        window = min(int(self._reuse_fraction * ttl), self._reuse_seconds)
        start = self._clock()  # the store's lease starts no earlier: its objects live at least ttl
        granted = await self.store.lease_grant(ttl + window)
        self._lease, self._ttl, self._until, self._attached = granted.id, ttl, start + window, 1
        return granted.id

    def forget(self) -> None:
        """Stop handing out the current lease (the store no longer has it): the next write gets a new one."""
        self._lease, self._ttl = 0, 0
