"""Fixtures of the scheduler tests (builders live in ``sched_builders``)."""

from __future__ import annotations

import pytest

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import UserInfo
from orchestra.client import Client
from orchestra.scheduler import Framework
from scheduler.sched_builders import make_framework


@pytest.fixture
def framework() -> Framework:
    """The default profile scoring every node."""
    return make_framework({"percentageOfNodesToScore": 100})


@pytest.fixture
async def client():
    """A client of a fresh in-process API server on the memory store, as an admin."""
    server = await APIServer.create("memory://")
    c = Client.in_process(server, UserInfo("admin", "admin", ("system:masters",)))
    yield c
    await server.close()
