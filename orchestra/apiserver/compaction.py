"""Periodic store compaction, as Kubernetes' API server compacts etcd.

Every ``interval`` seconds the compactor runs one transaction on :data:`COMPACT_REV_KEY`:
if the key's version is still the one this compactor last saw, it puts the current
revision there (bumping the version) and then compacts the store to the revision it
recorded at the *previous* tick, so history one interval deep is always kept. If the
version differs, another API server on the same store compacted since; this one only
adopts the key's version and the revision, and does not compact. Several API servers on
one etcd therefore compact once per interval between them. The first successful tick
only records a revision (nothing is compacted on start-up).

After a compaction, reads and watches below the compacted revision fail with
:class:`~orchestra.store.CompactedError`; the watch cache answers a watch older than its
window with 410 Gone ("too old resource version"), so clients relist as with Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestra.aio import cancel_and_wait
from orchestra.api.duration import is_go_duration, parse_go_duration
from orchestra.store import CompactedError, Compare, PutOp, RangeOp, StoreError

__all__ = ["COMPACT_REV_KEY", "DEFAULT_COMPACTION_INTERVAL", "Compactor", "parse_interval"]

log = logging.getLogger(__name__)

#: The key whose version coordinates compactions between API servers (Kubernetes' name).
COMPACT_REV_KEY = b"compact_rev_key"

#: Seconds between compactions (Kubernetes' ``--etcd-compaction-interval`` default, 5m).
DEFAULT_COMPACTION_INTERVAL = 300.0


def parse_interval(text: str) -> float:
    """Seconds from a Go duration (``"5m"``, ``"1m30s"``, ``"0"``) or a plain number of seconds.

    Raises ValueError for anything else, and for a negative number.
    """
    text = text.strip()
    if is_go_duration(text):
        return parse_go_duration(text)
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"must be a duration such as 5m, 30s or 1m30s (0 disables), not {text!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"must be 0 or more seconds, not {text!r}")
    return seconds


class Compactor:
    """Compacts ``store`` every ``interval`` seconds to the revision seen one interval earlier.

    :meth:`start` begins the background task (a no-op when ``interval`` is 0), :meth:`stop`
    ends it. :meth:`tick` runs one round by hand and is what the task calls.
    """

    def __init__(self, store: Any, interval: float = DEFAULT_COMPACTION_INTERVAL) -> None:
        if interval < 0:
            raise ValueError(f"compaction interval must be >= 0 seconds, got {interval}")
        self.store = store
        self.interval = float(interval)
        #: The version of :data:`COMPACT_REV_KEY` this compactor expects (0: key absent).
        self.compact_time = 0
        #: The revision recorded at the last tick: the next compaction's target (0: none yet).
        self.revision = 0
        #: How many compactions this compactor ran.
        self.compactions = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start compacting in the background (nothing when the interval is 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="store-compactor")

    async def stop(self) -> None:
        """Stop the background task and wait for it to end. Idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def tick(self) -> bool:
        """One round: claim the interval through a compare-and-swap, then compact if claimed.

        Returns whether this call compacted the store.
        """
        result = await self.store.txn(
            [Compare.version(COMPACT_REV_KEY, "=", self.compact_time)],
            [PutOp(COMPACT_REV_KEY, str(self.revision).encode())],
            [RangeOp(COMPACT_REV_KEY)],
        )
        target, self.revision = self.revision, result.revision
        if not result.succeeded:
            kvs = result.responses[0].kvs
            self.compact_time = kvs[0].version if kvs else 0
            return False
        self.compact_time += 1
        if target == 0:
            return False
        try:
            await self.store.compact(target)
        except CompactedError:
            # Someone (an operator, another server) compacted further already.
            return False
        self.compactions += 1
        log.debug("compacted store to revision %d", target)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (StoreError, OSError) as exc:
                log.warning("store compaction failed: %s", exc)
