"""Fixtures of the controller tests: an in-process API server, an admin client, a fake kubelet."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.bus import EventBus
from orchestra.client import Client
from orchestra.api.timestamps import now_rfc3339
from orchestra.controllers.base import InformerFactory
from tests.support.shared_objects import EventSnapshots, check_untouched

#: How long a test waits for the controllers to reach a state before failing (a deadlock guard).
SETTLE_TIMEOUT = 20.0


@pytest.fixture
async def server():
    """An in-process API server on a memory store; at the end, no watched object may have been changed.

    The controllers' informers share the server's objects (see :class:`InformerFactory`): every
    controller test is also a guard against a controller changing one in place.
    """
    bus = EventBus()
    server = await APIServer.create("memory://", bus=bus)
    snapshots = EventSnapshots(bus)
    yield server
    try:
        await check_untouched(server, snapshots)
    finally:
        await server.close()


@pytest.fixture
async def client(server):
    """A client as the controller manager."""
    client = Client.in_process(server, UserInfo("system:kube-controller-manager", role="admin"))
    yield client
    await client.close()


@pytest.fixture
async def factory(client):
    """A shared informer factory, stopped after the test."""
    factory = InformerFactory(client)
    yield factory
    await factory.stop()


async def run_controllers(factory: InformerFactory, *controllers: Any) -> None:
    """Start the informers and the controllers' workers, and wait for the first lists."""
    factory.start()
    await factory.wait_synced(SETTLE_TIMEOUT)
    for controller in controllers:
        await controller.start()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = SETTLE_TIMEOUT, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns a truthy value (returned) or raises no AssertionError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            failure: BaseException = AssertionError("condition stayed false")
        except AssertionError as exc:
            failure = exc
        if asyncio.get_running_loop().time() > deadline:
            raise failure
        await asyncio.sleep(interval)


class FakeKubelet:
    """The test's driver for pod state: marks pods Running and Ready through ``pods/status``."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def pods(self, namespace: str = "default", selector: str | None = None) -> list[dict]:
        """The pods of a namespace (optionally by label selector), not being deleted."""
        listing = await self.client.list("pods", namespace=namespace, label_selector=selector, raw=True)
        return [p for p in listing.items if not p["metadata"].get("deletionTimestamp")]

    async def set_ready(self, pod: dict, ready: bool = True, *, since: str | None = None) -> dict:
        """Make ``pod`` Running with Ready=``ready`` (transitioned at ``since``, default now)."""
        current = await self.client.get("pods", pod["metadata"]["name"], namespace=pod["metadata"]["namespace"], raw=True)
        stamp = since or now_rfc3339()
        status = current.setdefault("status", {})
        status["phase"] = "Running"
        value = "True" if ready else "False"
        status["conditions"] = [{"type": "Ready", "status": value, "lastTransitionTime": stamp},
                                {"type": "ContainersReady", "status": value, "lastTransitionTime": stamp}]
        return await self.client.update_status(current, raw=True)

    async def ready_all(self, namespace: str = "default", selector: str | None = None) -> int:
        """Make every not-ready pod Ready; how many were changed."""
        changed = 0
        for pod in await self.pods(namespace, selector):
            conds = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or ()}
            if conds.get("Ready") != "True":
                await self.set_ready(pod)
                changed += 1
        return changed


@pytest.fixture
def kubelet(client) -> FakeKubelet:
    """The fake kubelet."""
    return FakeKubelet(client)
