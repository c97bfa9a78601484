"""Small asyncio helpers every component shares.

- :func:`cancel_and_wait`: stop background tasks without swallowing the caller's own cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

__all__ = ["cancel_and_wait"]

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task | None]) -> None:
    """Cancel ``tasks`` and return once every one has ended.

    Unlike ``task.cancel(); await task`` in ``except CancelledError: pass``, a cancellation of the
    caller while it waits is not mistaken for the task's own: it propagates, so the caller stops.
    A task already being cancelled is not cancelled again, only waited for. A task that ended
    with an exception other than its cancellation has it logged.
    """
    pending = [task for task in tasks if task is not None]
    for task in pending:
        if not task.cancelling():  # a second cancel would cut short a task finishing its cancellation
            task.cancel()
    if not pending:
        return
    await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed while stopping", task.get_name(), exc_info=task.exception())
