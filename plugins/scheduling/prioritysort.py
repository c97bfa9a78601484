"""PrioritySort: the queue order — higher priority first, then earlier arrival."""

from __future__ import annotations

from typing import Any

from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import Plugin

__all__ = ["PrioritySort", "orchestra_scheduler_plugins"]


class PrioritySort(Plugin):
    """Queue sort: ``a`` before ``b`` when its priority is higher, or equal and it queued earlier.

    Queue entries are objects with ``pod`` (a PodInfo) and ``timestamp``, or PodInfos.
    """

    NAME = "PrioritySort"

    def less(self, a: Any, b: Any) -> bool:
        """Whether ``a`` goes before ``b``."""
        pa, pb = getattr(a, "pod", a), getattr(b, "pod", b)
        if pa.priority != pb.priority:
            return pa.priority > pb.priority
        return getattr(a, "timestamp", 0) < getattr(b, "timestamp", 0)


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`PrioritySort`."""
    return [PrioritySort]
