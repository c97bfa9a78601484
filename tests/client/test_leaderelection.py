"""Leader election through a Lease (shared by the controller manager and the scheduler)."""

from __future__ import annotations

import pytest

from orchestra.apiserver.request import UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.client import Client
from orchestra.client.leaderelection import LeaderElectionConfig, LeaderElector


@pytest.fixture
async def client():
    """An admin client of an in-process API server on a memory store."""
    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("admin", role="admin"))
    yield client
    await client.close()
    await server.close()

FAST = dict(lease_duration=1.0, renew_deadline=0.6, retry_period=0.1)


def test_timing_must_be_ordered():
    with pytest.raises(ValueError, match="lease_duration > renew_deadline > retry_period"):
        LeaderElectionConfig(lease_duration=5, renew_deadline=10, retry_period=2)


def test_kubernetes_defaults():
    config = LeaderElectionConfig()
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15.0, 10.0, 2.0)


async def test_only_one_candidate_holds_the_lease(client):
    a = LeaderElector(client, LeaderElectionConfig(identity="a", **FAST))
    b = LeaderElector(client, LeaderElectionConfig(identity="b", **FAST))
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # renewing keeps it
    lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["spec"]["leaseDurationSeconds"] == 1
    assert lease["spec"]["leaseTransitions"] == 0


async def test_a_released_lease_is_taken_at_once(client):
    a = LeaderElector(client, LeaderElectionConfig(identity="a", **FAST))
    b = LeaderElector(client, LeaderElectionConfig(identity="b", **FAST))
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    await a.release()
    assert await b.try_acquire_or_renew()
    lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
    assert lease["spec"]["holderIdentity"] == "b"


async def test_an_expired_lease_is_taken_over(client):
    a = LeaderElector(client, LeaderElectionConfig(identity="a", **FAST))
    b = LeaderElector(client, LeaderElectionConfig(identity="b", **FAST))
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    b._observed_at -= 5.0  # b has seen the record unchanged for longer than the lease duration
    assert await b.try_acquire_or_renew()
    lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    assert not await a.try_acquire_or_renew()


async def test_leader_notices_a_stolen_lease(client):
    a = LeaderElector(client, LeaderElectionConfig(identity="a", **FAST))
    await a.acquire()
    lease = await client.get("leases", "kube-controller-manager", namespace="kube-system", raw=True)
    lease["spec"]["holderIdentity"] = "intruder"
    await client.update(lease, raw=True)
    await a.renew_until_lost()  # returns: the lease is someone else's
    assert not a.is_leader
