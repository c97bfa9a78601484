"""DefaultBinder: bind the pod through the binder the scheduler service injects."""

from __future__ import annotations

import inspect
from typing import Any

from orchestra.hookspecs import hookimpl
from orchestra.scheduler.framework import SUCCESS, CycleState, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo

__all__ = ["DefaultBinder", "orchestra_scheduler_plugins"]


class DefaultBinder(Plugin):
    """Bind: call ``handle.binder(pod, node_name)`` (the API's binding subresource in the service)."""

    NAME = "DefaultBinder"

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Bind, awaiting the binder if it is asynchronous; its Status (if any) is returned."""
        binder = self.handle.binder
        if binder is None:
            return Status.error("DefaultBinder: the scheduler has no binder configured", plugin=self.NAME)
        result: Any = binder(pod, node_name)
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, Status) else SUCCESS


@hookimpl
def orchestra_scheduler_plugins() -> list[type]:
    """Provide :class:`DefaultBinder`."""
    return [DefaultBinder]
