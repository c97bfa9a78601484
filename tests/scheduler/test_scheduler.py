"""The scheduler service end to end against an in-process API server."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from orchestra.client import Client
from orchestra.scheduler.config import SchedulerConfig
from orchestra.scheduler.framework import Code, Plugin, Status
from orchestra.scheduler.podinfo import PodInfo
from orchestra.scheduler.scheduler import Scheduler
from scheduler.sched_builders import builtin_registry, make_node, make_pod

FAST = {"pod_initial_backoff": 0.01, "pod_max_backoff": 0.05, "preemption_grace_seconds": 0}


def node(name: str, **kw: Any) -> dict:
    """A Node manifest for the API."""
    return {"apiVersion": "v1", "kind": "Node", **make_node(name, **kw)}


def pod(name: str, **kw: Any) -> dict:
    """A Pod manifest for the API (no uid: the server assigns it)."""
    p = {"apiVersion": "v1", "kind": "Pod", **make_pod(name, **kw)}
    del p["metadata"]["uid"]
    return p


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll an async ``check`` until it returns a truthy value (a generous bound, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s: last value {value!r}")
        await asyncio.sleep(0.01)


async def node_of(client: Client, name: str, ns: str = "default") -> str | None:
    """The node pod ``name`` is bound to."""
    return (await client.get("pods", name, namespace=ns, raw=True))["spec"].get("nodeName")


async def events_of(client: Client, name: str, reason: str | None = None) -> list[dict]:
    """Events about pod ``name``."""
    items = (await client.list("events", namespace="default", raw=True)).items
    return [e for e in items if e["involvedObject"]["name"] == name and (reason is None or e["reason"] == reason)]


def make_scheduler(client: Client, profiles: tuple | None = None, plugins: dict | None = None, **kw: Any) -> Scheduler:
    registry = builtin_registry()
    registry.update(plugins or {})
    cfg = SchedulerConfig(**({"profiles": profiles} if profiles else {}), **{**FAST, **kw})
    return Scheduler.create(client, cfg, plugins=registry)


async def test_pods_are_bound_spread_and_reported(client):
    for i in range(3):
        await client.create(node(f"n{i}", cpu="2", memory="4Gi"))
    async with make_scheduler(client) as sched:
        for i in range(6):
            await client.create(pod(f"p{i}", cpu="500m"))
        nodes = [await eventually(lambda i=i: node_of(client, f"p{i}")) for i in range(6)]
        await sched.wait_idle()
        # LeastAllocated + BalancedAllocation spread equal pods evenly
        assert sorted(nodes.count(n) for n in {"n0", "n1", "n2"}) == [2, 2, 2]
        got = await client.get("pods", "p0", namespace="default", raw=True)
        assert {"type": "PodScheduled", "status": "True"}.items() <= got["status"]["conditions"][0].items()
        scheduled = await events_of(client, "p0", "Scheduled")
        assert scheduled[0]["message"] == f"Successfully assigned default/p0 to {nodes[0]}"
        assert scheduled[0]["type"] == "Normal" and scheduled[0]["source"]["component"] == "default-scheduler"


async def test_unschedulable_pod_reported_then_bound_when_a_node_arrives(client):
    for i in range(3):
        await client.create(node(f"n{i}", cpu="1"))
    async with make_scheduler(client) as sched:
        await client.create(pod("big", cpu="2"))

        async def condition():
            p = await client.get("pods", "big", namespace="default", raw=True)
            return next((c for c in (p.get("status") or {}).get("conditions") or () if c["type"] == "PodScheduled"), None)

        cond = await eventually(condition)
        # Kubernetes' exact wording, double full stop included (the nested FitError ends with one)
        expected = ("0/3 nodes are available: 3 Insufficient cpu. "
                    "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert cond["message"] == expected
        await sched.wait_idle()
        failed = await events_of(client, "big", "FailedScheduling")
        assert failed and failed[0]["message"] == expected and failed[0]["type"] == "Warning"
        assert await node_of(client, "big") is None
        await eventually(lambda: _async(sched.queue.where("default/big") == "unschedulable"))
        await sched.wait_idle()
        for _ in range(20):  # let the condition write's own watch event arrive
            await asyncio.sleep(0.01)
        assert sched.attempts == 1, "a status-only update must not retry an unschedulable pod"
        await client.create(node("large", cpu="4"))
        assert await eventually(lambda: node_of(client, "big")) == "large"


async def _async(value: Any) -> Any:
    return value


async def test_pods_for_other_schedulers_are_ignored_and_profiles_pick_by_name(client):
    await client.create(node("n0"))
    await client.create(node("n1"))
    profiles = ({"schedulerName": "default-scheduler"},
                {"schedulerName": "only-n1", "plugins": {"filter": {"enabled": [{"name": "OnlyN1"}]}}})
    async with make_scheduler(client, profiles, plugins={"OnlyN1": OnlyN1}) as sched:
        for i in range(4):
            await client.create(pod(f"special{i}", schedulerName="only-n1"))
        await client.create(pod("foreign", schedulerName="someone-else"))
        for i in range(4):
            assert await eventually(lambda i=i: node_of(client, f"special{i}")) == "n1"
        await sched.wait_idle()
        assert await node_of(client, "foreign") is None
        assert "default/foreign" not in sched.queue
        assert await events_of(client, "foreign") == []


class OnlyN1(Plugin):
    """A Python per-node filter: only node n1."""

    NAME = "OnlyN1"

    def filter(self, state, pod, node):
        return Status() if node.name == "n1" else Status.unschedulable("not n1")


class Exploding(Plugin):
    """A score plugin that raises."""

    NAME = "Exploding"

    def score(self, state, pod, node):
        raise RuntimeError("boom")


async def test_a_raising_plugin_is_reported_and_does_not_stop_the_scheduler(client):
    await client.create(node("n0"))
    await client.create(node("n1"))
    profiles = ({"schedulerName": "default-scheduler"},
                {"schedulerName": "broken", "plugins": {"score": {"enabled": [{"name": "Exploding"}]}}})
    async with make_scheduler(client, profiles, plugins={"Exploding": Exploding}) as sched:
        await client.create(pod("victim", schedulerName="broken"))

        async def failed():
            return await events_of(client, "victim", "FailedScheduling")

        events = await eventually(failed)
        assert "plugin Exploding failed at score" in events[0]["message"]
        assert "boom" in events[0]["message"]
        await client.create(pod("fine"))
        assert await eventually(lambda: node_of(client, "fine")) in ("n0", "n1")
        assert await node_of(client, "victim") is None
        await sched.wait_idle()


async def test_preemption_evicts_a_lower_priority_pod(client):
    await client.create(node("n0", cpu="1"))
    async with make_scheduler(client) as sched:
        await client.create(pod("low", cpu="800m", priority=0))
        assert await eventually(lambda: node_of(client, "low")) == "n0"
        await client.create(pod("high", cpu="800m", priority=1000))
        assert await eventually(lambda: node_of(client, "high")) == "n0"

        async def low_gone():
            return not [p for p in (await client.list("pods", namespace="default", raw=True)).items
                        if p["metadata"]["name"] == "low"]

        assert await eventually(low_gone)
        await sched.wait_idle()
        preempted = await events_of(client, "low", "Preempted")
        assert preempted and preempted[0]["message"].endswith("on node n0")


async def test_a_preemptor_waits_for_its_victims_then_skips_its_backoff(client):
    """The preemptor stays parked while its victim terminates; its deletion retries it at once.

    The queue's clock never moves, so the preemptor's 10-minute backoff never ends: it can
    only be bound because an empty activeQ pops it from backoffQ (SchedulerPopFromBackoffQ).
    """
    await client.create(node("n0", cpu="1"))
    config = SchedulerConfig(pod_initial_backoff=600, pod_max_backoff=600, preemption_grace_seconds=30)
    sched = Scheduler.create(client, config, plugins=builtin_registry(), clock=lambda: 1000.0)
    async with sched:
        await client.create(pod("low", cpu="800m", priority=0))
        assert await eventually(lambda: node_of(client, "low")) == "n0"
        await client.create(pod("high", cpu="800m", priority=1000))

        async def terminating():
            low = await client.get("pods", "low", namespace="default", raw=True)
            return low["metadata"].get("deletionTimestamp")

        assert await eventually(terminating)
        pods_informer = sched.informers[2]

        async def seen_terminating():
            return (pods_informer.get("default/low") or {}).get("metadata", {}).get("deletionTimestamp")

        assert await eventually(seen_terminating)
        # the victim's updates (DisruptionTarget, deletion) do not count it on n0 again: only the preemptor's hold
        assert sched.cache.snapshot.pod("default/low") is None
        assert sched.cache.snapshot.pod("default/high") is not None
        low = await client.get("pods", "low", namespace="default", raw=True)
        [target] = [c for c in low["status"]["conditions"] if c["type"] == "DisruptionTarget"]
        assert (target["status"], target["reason"]) == ("True", "PreemptionByScheduler")
        assert target["message"] == "default-scheduler: preempting to accommodate a higher priority pod"
        await sched.wait_idle()
        assert sched.queue.where("default/high") == "unschedulable" and sched.queue.is_held("default/high")
        assert await node_of(client, "high") is None
        high = await client.get("pods", "high", namespace="default", raw=True)
        assert high["status"]["nominatedNodeName"] == "n0"
        await client.delete("pods", "low", namespace="default", grace_period_seconds=0)
        assert await eventually(lambda: node_of(client, "high")) == "n0"
        await sched.wait_idle()


class HoldLowPriority(Plugin):
    """Permit: holds pods of priority 0 until the test allows them."""

    NAME = "HoldLowPriority"

    def permit(self, state, pod, node_name):
        return (Status(Code.WAIT), 30.0) if pod.priority == 0 else Status()


async def test_a_victim_waiting_at_permit_is_rejected_not_deleted(client):
    await client.create(node("n0", cpu="1"))
    profile = {"schedulerName": "default-scheduler",
               "plugins": {"permit": {"enabled": [{"name": "HoldLowPriority"}]}}}
    async with make_scheduler(client, (profile,), {"HoldLowPriority": HoldLowPriority}) as sched:
        await client.create(pod("low", cpu="800m", priority=0))
        fw = sched.frameworks["default-scheduler"]

        async def held():
            return bool(fw.waiting_pods)

        await eventually(held)
        await client.create(pod("high", cpu="800m", priority=1000))
        assert await eventually(lambda: node_of(client, "high")) == "n0"
        await sched.wait_idle()
        low = await client.get("pods", "low", namespace="default", raw=True)  # still there, unbound
        assert low["spec"].get("nodeName") is None and not low["metadata"].get("deletionTimestamp")
        assert sched.queue.where("default/low") in ("backoff", "unschedulable", "active")
        failed = await events_of(client, "low", "FailedScheduling")
        assert failed and failed[0]["message"] == "preempted"


async def test_failed_binding_is_retried_with_backoff(client):
    await client.create(node("n0"))
    sched = make_scheduler(client)
    real = sched.bind_through_api
    calls = []

    async def flaky(p, n):
        calls.append(n)
        if len(calls) == 1:
            return Status.error("binding rejected: simulated conflict")
        return await real(p, n)

    sched.bind_through_api = flaky  # type: ignore[method-assign]
    async with sched:
        await client.create(pod("p"))
        assert await eventually(lambda: node_of(client, "p")) == "n0"
        await sched.wait_idle()
        assert len(calls) == 2
        failed = await events_of(client, "p", "FailedScheduling")
        assert failed[0]["message"] == "binding rejected: simulated conflict"
        assert not sched.cache.is_assumed("default/p")


class GatedPreBind(Plugin):
    """PreBind: suspends every binding cycle until the test opens the gate, counting those in flight."""

    NAME = "GatedPreBind"

    def __init__(self, args, handle):
        super().__init__(args, handle)
        self.gate = asyncio.Event()
        self.in_flight = self.most = self.passed = 0

    async def pre_bind(self, state, pod, node_name):
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.passed += 1
        return Status()


async def test_bindings_that_suspend_run_at_most_bind_concurrency_at_once(client):
    await client.create(node("n0", cpu="100"))
    profile = {"schedulerName": "default-scheduler", "plugins": {"preBind": {"enabled": [{"name": "GatedPreBind"}]}}}
    async with make_scheduler(client, (profile,), {"GatedPreBind": GatedPreBind}, bind_concurrency=4) as sched:
        gated = sched.frameworks["default-scheduler"].plugins("preBind")[0]
        for i in range(10):
            await client.create(pod(f"p{i}"))

        async def all_binders_busy():
            return gated.in_flight == 4

        await eventually(all_binders_busy)
        await asyncio.sleep(0.05)  # the 6 cycles left wait for a binder instead of starting
        assert gated.in_flight == 4 and gated.passed == 0
        gated.gate.set()

        async def all_bound():
            pods = (await client.list("pods", namespace="default", raw=True)).items
            return all(p["spec"].get("nodeName") == "n0" for p in pods) and len(pods) == 10

        await eventually(all_bound)
        await sched.wait_idle()
        assert gated.most == 4 and gated.passed == 10 and sched.bound == 10


async def test_a_binding_cycle_that_raises_is_retried_and_does_not_hold_up_the_others(client):
    await client.create(node("n0"))
    sched = make_scheduler(client)
    real = sched._bind
    raised = []

    async def buggy(fw, result, qpi, node_name, waiting):
        if qpi.pod.name == "p0" and not raised:
            raised.append(qpi.pod.name)
            raise RuntimeError("a bug")
        return await real(fw, result, qpi, node_name, waiting)

    sched._bind = buggy  # type: ignore[method-assign]
    async with sched:
        for i in range(3):
            await client.create(pod(f"p{i}"))
        for i in range(3):
            assert await eventually(lambda: node_of(client, f"p{i}")) == "n0"
        await sched.wait_idle()
        assert raised == ["p0"]
        failed = await events_of(client, "p0", "FailedScheduling")
        assert failed[0]["message"] == "binding failed: RuntimeError('a bug')"


async def test_repeated_failures_update_one_event(client):
    await client.create(node("n0", cpu="1"))
    async with make_scheduler(client) as sched:
        await client.create(pod("big", cpu="4"))
        await eventually(lambda: events_of(client, "big", "FailedScheduling"))
        await client.create(node("n1", cpu="1"))  # an event that retries it, still without a fit

        async def counted():
            events = await events_of(client, "big", "FailedScheduling")
            return [e for e in events if e["message"].startswith("0/2 nodes")]

        await eventually(counted)
        await sched.wait_idle()
        assert sched.attempts >= 2


def test_requeue_plugins_are_the_rejecting_plugins_when_their_events_are_known():
    from orchestra.scheduler.framework import CycleState, FitError, ScheduleResult, Status
    from orchestra.scheduler.scheduler import requeue_plugins

    pod = PodInfo.from_dict(make_pod("p"))
    known = FitError(pod, 3, {"Insufficient cpu": 3}, plugins=frozenset({"NodeResourcesFit", "TaintToleration"}))
    result = ScheduleResult(None, CycleState(), Status.unschedulable(known.message()), fit_error=known)
    assert result.rejecting_plugins == {"NodeResourcesFit", "TaintToleration"}
    assert requeue_plugins(result) == {"NodeResourcesFit", "TaintToleration"}
    custom = FitError(pod, 3, {"x": 3}, plugins=frozenset({"NodeResourcesFit", "MyPlugin"}))
    result = ScheduleResult(None, CycleState(), Status.unschedulable(custom.message()), fit_error=custom)
    assert result.rejecting_plugins == {"NodeResourcesFit", "MyPlugin"}
    assert requeue_plugins(result) == frozenset()  # MyPlugin's events are unknown: any event retries the pod
    rejected = ScheduleResult(None, CycleState(), Status.unschedulable("no", plugin="Gate"))
    assert rejected.rejecting_plugins == {"Gate"}
    assert ScheduleResult("n1", CycleState()).rejecting_plugins == frozenset()


async def test_pod_affinity_waits_for_its_peer_then_binds_next_to_it(client):
    for i in range(3):
        await client.create(node(f"n{i}"))
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    async with make_scheduler(client) as sched:
        await client.create(pod("web", affinity=affinity))
        await eventually(lambda: events_of(client, "web", "FailedScheduling"))
        await client.create(pod("db", labels={"app": "db"}))
        db_node = await eventually(lambda: node_of(client, "db"))
        assert await eventually(lambda: node_of(client, "web")) == db_node
        await sched.wait_idle()


def elected(client: Client, identity: str) -> Scheduler:
    """A scheduler campaigning for kube-system/kube-scheduler as ``identity``, with short lease timings."""
    from orchestra.client.leaderelection import LeaderElectionConfig

    election = LeaderElectionConfig(name="kube-scheduler", identity=identity, lease_duration=1.0,
                                    renew_deadline=0.6, retry_period=0.1)
    return Scheduler.create(client, SchedulerConfig(**FAST, leader_election=election), plugins=builtin_registry())


async def lease_holder(client: Client) -> str | None:
    """The holder of kube-system/kube-scheduler (None before the lease exists)."""
    from orchestra.client import ApiStatusError

    try:
        lease = await client.get("leases", "kube-scheduler", namespace="kube-system", raw=True)
    except ApiStatusError as exc:
        if exc.code == 404:
            return None
        raise
    return lease["spec"].get("holderIdentity")


async def test_of_two_schedulers_one_schedules_and_the_other_takes_over_when_it_stops(client):
    await client.create(node("n0"))
    a, b = elected(client, "a"), elected(client, "b")
    await a.start()
    await eventually(lambda: lease_holder(client))
    await b.start()
    try:
        leader, standby = (a, b) if await lease_holder(client) == "a" else (b, a)
        assert leader.is_leader and not standby.is_leader
        await client.create(pod("p1"))
        assert await eventually(lambda: node_of(client, "p1")) == "n0"
        await leader.wait_idle()
        assert (leader.bound, standby.bound) == (1, 0) and standby.attempts == 0
        assert standby.queue.where("default/p1") is None  # its informers saw the binding
        await leader.stop()  # gives the lease up
        assert await eventually(lambda: lease_holder(client)) == ("b" if leader is a else "a")
        await eventually(lambda: _true(standby.is_leader))
        await client.create(pod("p2"))
        assert await eventually(lambda: node_of(client, "p2")) == "n0"
        await standby.wait_idle()
        assert standby.bound == 1
    finally:
        await a.stop()
        await b.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_scheduler_that_loses_the_lease_stops_scheduling(client):
    await client.create(node("n0"))
    sched = elected(client, "a")
    async with sched:
        await eventually(lambda: _true(sched.is_leader))
        lease = await client.get("leases", "kube-scheduler", namespace="kube-system", raw=True)
        lease["spec"]["holderIdentity"] = "usurper"  # another instance took the lease
        await client.update(lease, raw=True)
        await asyncio.wait_for(sched.lost_lease.wait(), 20)
        assert not sched.is_leader
        await client.create(pod("p"))
        await eventually(lambda: _true(sched.queue.where("default/p") == "active"))
        await sched.wait_idle()
        assert sched.attempts == 0 and await node_of(client, "p") is None
        assert await lease_holder(client) == "usurper"
