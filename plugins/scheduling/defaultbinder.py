"""DefaultBinder: bind the pod through the binder the scheduler service injects."""

from __future__ import annotations

from typing import Awaitable

from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import CycleState, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo

__all__ = ["DefaultBinder", "orchestra_scheduler_plugins"]


class DefaultBinder(Plugin):
    """Bind: call ``handle.binder(pod, node_name)`` (the API's binding subresource in the service)."""

    NAME = "DefaultBinder"

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | Awaitable[Status | None] | None:
        """Bind: what the binder returns (a Status, None for success, or an awaitable of one),
        which the framework awaits; no coroutine of its own around the binder's."""
        binder = self.handle.binder
        if binder is None:
            return Status.error("DefaultBinder: the scheduler has no binder configured", plugin=self.NAME)
        return binder(pod, node_name)


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`DefaultBinder`."""
    return [DefaultBinder]
