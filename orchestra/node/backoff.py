"""Per-key exponential back-off, as the kubelet uses it for crashing containers and image pulls.

The rules follow client-go's ``flowcontrol.Backoff`` as the kubelet drives it:

* the first failure of a key is retried at once, and arms the back-off at ``initial`` seconds;
* a later failure less than the armed back-off ago is *in back-off*: wait until it has passed,
  then retry, doubling the back-off (up to ``maximum``);
* a key whose last failure is more than ``reset_after`` seconds (twice the maximum: 10 min) old
  starts over at ``initial``.

So a container that crashes over and over is restarted at once, then after 10 s, 20 s, 40 s …
up to 5 min, and after 10 min of clean running a crash starts the series again.
"""

from __future__ import annotations

import time
from typing import Callable

import attrs

__all__ = ["Backoff", "DEFAULT_INITIAL", "DEFAULT_MAXIMUM"]

#: Seconds of the first back-off (kubelet: 10 s).
DEFAULT_INITIAL = 10.0
#: The longest back-off (kubelet: 5 min).
DEFAULT_MAXIMUM = 300.0


@attrs.define
class _Entry:
    backoff: float
    last_update: float


@attrs.define
class Backoff:
    """Back-off state for many keys (``"<pod uid>/<container>"``, or an image name).

    Times are monotonic seconds (``clock``, :func:`time.monotonic` by default).
    """

    initial: float = DEFAULT_INITIAL
    maximum: float = DEFAULT_MAXIMUM
    reset_after: float | None = None
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = attrs.field(factory=dict, init=False)

    @property
    def expiry(self) -> float:
        """Seconds after which an idle key starts over (``reset_after``, default twice the maximum)."""
        return self.reset_after if self.reset_after is not None else 2 * self.maximum

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return event_time - entry.last_update > self.expiry

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds still to wait before retrying after a failure at ``event_time`` (0: retry now)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return 0.0
        return min(entry.backoff, max(0.0, event_time + entry.backoff - self.clock()))

    def current(self, key: str) -> float:
        """The armed back-off of ``key`` in seconds (0 when none)."""
        entry = self._entries.get(key)
        return entry.backoff if entry is not None else 0.0

    def next(self, key: str, event_time: float) -> float:
        """Record a retry after the failure at ``event_time``; returns the newly armed back-off."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            entry = self._entries[key] = _Entry(self.initial, event_time)
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = event_time
        return entry.backoff

    def forget(self, key: str) -> None:
        """Drop the state of ``key`` (its pod is gone)."""
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        """Drop every key starting with ``prefix`` (all containers of a pod)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
