"""Small asyncio helpers every component shares.

- :func:`cancel_and_wait`: stop background tasks without swallowing the caller's own cancellation.
- :func:`wait_for`: ``asyncio.wait_for`` without Python 3.11's swallowed cancellations.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Iterable, TypeVar

__all__ = ["cancel_and_wait", "wait_for"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """Await ``aw`` for at most ``timeout`` seconds (None: no limit); ``TimeoutError`` after it, ``aw`` cancelled.

    What ``asyncio.wait_for`` does, but a cancellation of the caller is never lost: on Python
    3.11, ``asyncio.wait_for`` returns ``aw``'s result when the caller is cancelled as ``aw``
    finishes, and the caller runs on as if it had not been (so a stop that cancels a task once
    and waits for it waits forever). ``asyncio.timeout`` tells its own cancellation from others.
    """
    async with asyncio.timeout(timeout):
        return await aw
