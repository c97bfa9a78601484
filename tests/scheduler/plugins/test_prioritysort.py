"""PrioritySort: higher priority first, then earlier arrival."""

import attrs

from scheduler.sched_builders import make_framework, make_pod
from orchestra.scheduler import PodInfo


@attrs.define
class Queued:
    pod: PodInfo
    timestamp: float


def test_priority_then_timestamp():
    fw = make_framework()
    high = Queued(PodInfo.from_dict(make_pod("h", priority=100)), 5.0)
    low = Queued(PodInfo.from_dict(make_pod("l", priority=1)), 1.0)
    low_late = Queued(PodInfo.from_dict(make_pod("l2", priority=1)), 2.0)
    assert fw.less(high, low) and not fw.less(low, high)
    assert fw.less(low, low_late) and not fw.less(low_late, low)
    assert fw.less(high.pod, low.pod)
