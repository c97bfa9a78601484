"""Fixtures of the scheduler tests (builders live in ``sched_builders``)."""

from __future__ import annotations

import pytest

from orchestra.scheduler import Framework
from scheduler.sched_builders import make_framework


@pytest.fixture
def framework() -> Framework:
    """The default profile scoring every node."""
    return make_framework({"percentageOfNodesToScore": 100})
