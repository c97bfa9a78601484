"""The controller manager: controller selection, leader election with two instances, health and metrics."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from orchestra.client.leaderelection import LeaderElectionConfig
from orchestra.controllers.manager import ControllerManager, UnknownControllerError, select_controllers
from tests.controllers.conftest import eventually
from tests.controllers.test_replicaset import replica_set

FAST = dict(lease_duration=1.0, renew_deadline=0.6, retry_period=0.1)


def test_select_controllers_follows_kubernetes_flags():
    every = ["replicaset", "deployment", "garbagecollector", "namespace", "job", "cronjob", "nodelifecycle",
             "endpoints"]
    assert select_controllers(None) == every
    assert select_controllers(["*,-namespace"]) == [name for name in every if name != "namespace"]
    assert select_controllers(["replicaset", "deployment"]) == ["replicaset", "deployment"]
    with pytest.raises(UnknownControllerError, match="'nope'"):
        select_controllers(["nope"])


async def pods_of(client, app):
    return (await client.list("pods", namespace="default", label_selector=f"app={app}", raw=True)).items


async def test_two_managers_one_works_and_the_other_takes_over(client):
    first = ControllerManager(client, controllers=["replicaset"],
                              leader_election=LeaderElectionConfig(identity="first", **FAST))
    second = ControllerManager(client, controllers=["replicaset"],
                               leader_election=LeaderElectionConfig(identity="second", **FAST))
    await first.start()
    await eventually(lambda: _value(first.leading))
    await second.start()
    try:
        await client.create(replica_set("one", 2))
        await eventually(lambda: _len_is(pods_of(client, "one"), 2))
        assert first.leading and not second.leading
        assert first.controllers["replicaset"].metrics.syncs > 0
        await first.stop()
        await eventually(lambda: _value(second.leading))
        await client.create(replica_set("two", 1))
        await eventually(lambda: _len_is(pods_of(client, "two"), 1))
        lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
        assert lease["spec"]["holderIdentity"] == "second"
    finally:
        await first.stop()
        await second.stop()


async def test_a_manager_that_loses_the_lease_stops_working(client):
    manager = ControllerManager(client, controllers=["replicaset"],
                                leader_election=LeaderElectionConfig(identity="m", **FAST))
    await manager.start()
    try:
        await eventually(lambda: _value(manager.leading))
        lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
        lease["spec"]["holderIdentity"] = "other"
        lease["spec"]["leaseDurationSeconds"] = 3600
        await client.update(lease, raw=True)
        await eventually(lambda: _value(not manager.leading))
        await client.create(replica_set("idle", 1))
        # the other holder never renews, but its lease lasts an hour: nobody creates pods
        assert not manager.leading
        assert await pods_of(client, "idle") == []
    finally:
        await manager.stop()


async def test_stop_while_stepping_down_after_losing_the_lease_returns(client):
    """A stop that lands while the manager steps down (a worker still finishing its key) ends the campaign.

    Stepping down waits for the workers; the stop's cancellation arrives during that wait and
    must not be taken for the workers' own cancellation, or the campaign goes on and stop hangs.
    """
    manager = ControllerManager(client, controllers=["replicaset"],
                                leader_election=LeaderElectionConfig(identity="m", **FAST))
    in_sync = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow_to_cancel(key):
        in_sync.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            await asyncio.sleep(0.3)  # finishing the key's work before the worker ends
            raise

    await manager.start()
    try:
        await eventually(lambda: _value(manager.leading))
        manager.controllers["replicaset"].sync_handler = slow_to_cancel
        await client.create(replica_set("busy", 1))
        await asyncio.wait_for(in_sync.wait(), 10)
        lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
        lease["spec"]["holderIdentity"] = "other"
        lease["spec"]["leaseDurationSeconds"] = 3600
        await client.update(lease, raw=True)
        await asyncio.wait_for(cancelled.wait(), 10)
    finally:
        stopping = asyncio.ensure_future(manager.stop())
        done, _ = await asyncio.wait({stopping}, timeout=10)  # not wait_for: its cancel could be swallowed too
    assert stopping in done, "stop() hung: the campaign took its cancellation for a worker's"
    stopping.result()
    assert manager._task is None and not manager.leading
    assert all(task.done() for task in asyncio.all_tasks() if task.get_name().startswith("replicaset-worker"))


async def test_health_and_metrics_endpoints(client):
    manager = ControllerManager(client, controllers=["replicaset"])
    await manager.start()
    http = await manager.serve("127.0.0.1", 0)
    try:
        await client.create(replica_set("m", 1))
        await eventually(lambda: _len_is(pods_of(client, "m"), 1))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{http.url}/healthz") as response:
                assert response.status == 200 and await response.text() == "ok"
            async with session.get(f"{http.url}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = await response.text()
            async with session.get(f"{http.url}/nothing") as response:
                assert response.status == 404
        assert "# TYPE orchestra_controller_syncs_total counter" in text
        syncs = [line for line in text.splitlines() if line.startswith('orchestra_controller_syncs_total{controller="replicaset"}')]
        assert len(syncs) == 1 and int(syncs[0].split()[-1]) > 0
        assert 'workqueue_depth{name="replicaset"}' in text
        assert "# TYPE orchestra_controller_sync_duration_seconds summary" in text
        assert 'orchestra_controller_sync_duration_seconds_count{controller="replicaset"}' in text
    finally:
        await manager.stop()


async def _value(value):
    return value


async def _len_is(coro, n):
    return len(await coro) == n
