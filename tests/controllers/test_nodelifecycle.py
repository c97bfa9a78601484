"""The node lifecycle controller against an in-process API server, with the scheduler and a test kubelet."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given
from hypothesis import strategies as st

from orchestra.client import ApiStatusError
from orchestra.api.timestamps import now_rfc3339
from orchestra.controllers.nodelifecycle import (
    LEASE_NAMESPACE,
    NodeLifecycleController,
    desired_taints,
    eviction_delay,
    tolerates,
)
from orchestra.controllers.replicaset import ReplicaSetController
from orchestra.node.registration import micro_time
from orchestra.scheduler.config import SchedulerConfig
from orchestra.scheduler.scheduler import Scheduler
from tests.controllers.conftest import eventually, run_controllers

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
#: Short enough for a test, long enough that a live heartbeat (every 0.05 s) never misses it.
GRACE = 2.0


def ready_conditions(status: str = "True") -> list[dict]:
    stamp = now_rfc3339()
    return [{"type": "Ready", "status": status, "reason": "KubeletReady", "lastHeartbeatTime": stamp,
             "lastTransitionTime": stamp}]


class HeartbeatKubelet:
    """Registers nodes, renews their Leases while alive and runs the pods bound to them."""

    def __init__(self, client, names: list[str]) -> None:
        self.client = client
        self.alive = set(names)
        self.names = names
        self._task: asyncio.Task | None = None

    async def register(self) -> None:
        for name in self.names:
            await self.client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
            await self.post_status(name, "True")
            await self.client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                      "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
                                      "spec": {"holderIdentity": name, "renewTime": micro_time()}})

    async def post_status(self, name: str, ready: str) -> None:
        node = await self.client.get("nodes", name, raw=True)
        node["status"] = {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                          "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                          "conditions": ready_conditions(ready)}
        await self.client.update_status(node, raw=True)

    async def _beat(self) -> None:
        while True:
            for name in list(self.alive):
                lease = await self.client.get("leases", name, namespace=LEASE_NAMESPACE, raw=True)
                lease["spec"]["renewTime"] = micro_time()
                with contextlib.suppress(Exception):
                    await self.client.update(lease, raw=True)
            listing = await self.client.list("pods", namespace="default", raw=True)
            for pod in listing.items:
                if pod["spec"].get("nodeName") in self.alive and not pod["metadata"].get("deletionTimestamp") \
                        and (pod.get("status") or {}).get("phase") != "Running":
                    pod["status"] = {**(pod.get("status") or {}), "phase": "Running",
                                     "conditions": ready_conditions()}
                    with contextlib.suppress(Exception):
                        await self.client.update_status(pod, raw=True)
            await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def web_rs(replicas: int, toleration_seconds: int) -> dict:
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": toleration_seconds}
                   for key in (UNREACHABLE, NOT_READY)]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"tolerations": tolerations,
                                           "containers": [{"name": "c", "image": "busybox"}]}}}}


def test_desired_taints_follow_the_ready_status():
    assert desired_taints("True") == []
    assert desired_taints("Unknown") == [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    assert desired_taints("False") == [(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")]


def test_toleration_matching():
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    assert tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, taint)
    assert tolerates({"operator": "Exists"}, taint)
    assert not tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, taint)
    assert not tolerates({"key": NOT_READY, "operator": "Exists"}, taint)
    assert tolerates({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"})
    assert not tolerates({"key": "k", "value": "v"}, {"key": "k", "value": "w", "effect": "NoExecute"})


@given(st.lists(st.one_of(st.none(), st.integers(min_value=-5, max_value=600)), min_size=1, max_size=4))
def test_eviction_delay_is_the_shortest_bounded_toleration(seconds):
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    tolerations = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                    **({} if s is None else {"tolerationSeconds": s})} for s in seconds]
    delay = eviction_delay({"spec": {"tolerations": tolerations}}, [taint])
    if None in seconds:
        assert delay is None
    else:
        assert delay == max(min(seconds), 0)


def test_an_untolerated_noexecute_taint_evicts_at_once():
    assert eviction_delay({"spec": {}}, [{"key": UNREACHABLE, "effect": "NoExecute"}]) == 0.0


async def test_silent_node_turns_unknown_is_tainted_and_its_pods_move(client, factory):
    kubelet = HeartbeatKubelet(client, ["n1", "n2", "n3"])
    await kubelet.register()
    kubelet.start()
    lifecycle = NodeLifecycleController(client, factory, grace_period=GRACE)
    replicasets = ReplicaSetController(client, factory)
    scheduler = Scheduler.create(client, SchedulerConfig(pod_initial_backoff=0.01, pod_max_backoff=0.05))
    await scheduler.start()
    await run_controllers(factory, lifecycle, replicasets)
    try:
        await client.create(web_rs(6, toleration_seconds=1))

        async def placed():
            pods = (await client.list("pods", namespace="default", raw=True)).items
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            return running if len(running) == 6 else None

        pods = await eventually(placed)
        victim = pods[0]["spec"]["nodeName"]
        on_victim = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}
        healthy = await client.get("nodes", "n1" if victim != "n1" else "n2", raw=True)
        assert not (healthy.get("spec") or {}).get("taints")

        kubelet.alive.discard(victim)

        async def unknown():
            node = await client.get("nodes", victim, raw=True)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            taints = {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}
            if ready["status"] == "Unknown" and taints == {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}:
                return ready
            return None

        ready = await eventually(unknown)
        assert ready["reason"] == "NodeStatusUnknown"

        async def moved():
            pods = (await client.list("pods", namespace="default", raw=True)).items
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            running = [p for p in live if (p.get("status") or {}).get("phase") == "Running"
                       and (p["spec"].get("nodeName") or victim) != victim]
            return pods if len(running) == 6 and len(live) == 6 else None

        pods = await eventually(moved)
        evicted = {p["metadata"]["name"]: p for p in pods if p["metadata"]["name"] in on_victim}
        assert evicted and all(p["metadata"].get("deletionTimestamp") for p in evicted.values())
        # the evicted pods were first marked not ready
        assert all(next(c for c in p["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"
                   for p in evicted.values())
        others = {p["spec"]["nodeName"] for p in pods if not p["metadata"].get("deletionTimestamp")}
        assert victim not in others

        # the node comes back: the taints go
        kubelet.alive.add(victim)
        await kubelet.post_status(victim, "True")

        async def untainted():
            node = await client.get("nodes", victim, raw=True)
            return not (node.get("spec") or {}).get("taints")

        await eventually(untainted)
    finally:
        await kubelet.stop()
        await scheduler.stop()
        await lifecycle.stop()
        await replicasets.stop()


async def test_not_ready_node_gets_not_ready_taints(client, factory):
    kubelet = HeartbeatKubelet(client, ["n1"])
    await kubelet.register()
    kubelet.start()
    lifecycle = NodeLifecycleController(client, factory, grace_period=30)
    await run_controllers(factory, lifecycle)
    try:
        await kubelet.post_status("n1", "False")

        async def tainted():
            node = await client.get("nodes", "n1", raw=True)
            return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()} == {
                (NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")}

        await eventually(tainted)
        await kubelet.post_status("n1", "True")

        async def untainted():
            node = await client.get("nodes", "n1", raw=True)
            return not (node.get("spec") or {}).get("taints")

        await eventually(untainted)
    finally:
        await kubelet.stop()
        await lifecycle.stop()


async def test_keeps_other_taints_and_pods_without_bounded_tolerations(client, factory):
    kubelet = HeartbeatKubelet(client, ["n1"])
    await kubelet.register()
    node = await client.get("nodes", "n1", raw=True)
    node["spec"] = {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}
    await client.update(node, raw=True)
    await client.create({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "stay", "namespace": "default"},
                         "spec": {"nodeName": "n1", "tolerations": [{"operator": "Exists"}],
                                  "containers": [{"name": "c", "image": "busybox"}]}})
    lifecycle = NodeLifecycleController(client, factory, grace_period=GRACE)
    await run_controllers(factory, lifecycle)
    try:
        async def unknown():
            node = await client.get("nodes", "n1", raw=True)
            return {t["key"] for t in (node.get("spec") or {}).get("taints") or ()} == {"dedicated", UNREACHABLE}

        await eventually(unknown)

        async def synced():
            # a sync of the tainted node as the controller sees it (a write racing a worker's may conflict)
            cached = lifecycle.nodes.get("n1") or {}
            if not lifecycle.pods_on("n1") or len((cached.get("spec") or {}).get("taints") or ()) != 3:
                return False
            try:
                await lifecycle.sync("n1")
            except ApiStatusError:
                return False
            return True

        await eventually(synced)
        pod = await client.get("pods", "stay", namespace="default", raw=True)
        assert not pod["metadata"].get("deletionTimestamp")
    finally:
        await lifecycle.stop()
