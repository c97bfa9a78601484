"""The scheduler's core: the framework, the columnar cluster snapshot and the profiles.

The scheduling service, :class:`~orchestra.scheduler.scheduler.Scheduler` (queue, informers,
binding, leader election), is built around
:class:`~orchestra.scheduler.framework.Framework` and
:class:`~orchestra.scheduler.snapshot.ClusterSnapshot`; see ``docs/scheduler.md``.
"""

from orchestra.scheduler.framework import (
    SKIP, SUCCESS, Code, CycleState, FitError, Framework, NodeBatch, NodeView, Plugin, PostFilterResult,
    PreFilterResult, ProfileError, ScheduleResult, Status,
)
from orchestra.scheduler.podinfo import NodeInfo, PodInfo, PodInfoError
from orchestra.scheduler.profiles import default_profile
from orchestra.scheduler.scheduler import Scheduler
from orchestra.scheduler.snapshot import ClusterSnapshot, SnapshotError

__all__ = [
    "SKIP", "SUCCESS", "ClusterSnapshot", "Code", "CycleState", "FitError", "Framework", "NodeBatch", "NodeInfo",
    "NodeView", "Plugin", "PodInfo", "PodInfoError", "PostFilterResult", "PreFilterResult",
    "ProfileError", "ScheduleResult", "Scheduler", "SnapshotError", "Status", "default_profile",
]
