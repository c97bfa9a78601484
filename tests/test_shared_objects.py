"""Shared watches: after a workload through a whole in-process cluster, no watched object was changed.

The scheduler, controllers, proxy and node agents read the API server's own objects
(``Informer(..., shared=True)``). This runs deployments (scaled, rolled out, their pods
evicted from a failed node), a Service with endpoints behind the proxy, Jobs that succeed and
fail, and a namespace deletion, then checks that every object any watcher was handed still
encodes as it did when it entered the watch cache, and that every watch cache equals the store.
"""

from __future__ import annotations

import pytest

from orchestra import Cluster
from orchestra.cluster import node_ready
from tests.support.shared_objects import EventSnapshots, cache_mismatches

NS = "default"
#: Pods leave a node without heartbeats at once (the node lifecycle grace period is 1 s).
TOLERATE_BRIEFLY = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
                    for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]


def _deployment(name: str, replicas: int) -> dict:
    container = {
        "name": "app", "image": "sim", "command": ["serve", "$(POD_NAME)"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "VERSION", "value": "1"}],
        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "10m"}, "limits": {"memory": "64Mi"}},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "revisionHistoryLimit": 1, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [container], "tolerations": TOLERATE_BRIEFLY,
                                       "terminationGracePeriodSeconds": 1}}},
    }


def _job(name: str, *, completions: int, exit_code: int, backoff_limit: int, indexed: bool = False) -> dict:
    env = [{"name": "SIMULATED_RUN_SECONDS", "value": "0.1"}, {"name": "SIMULATED_EXIT_CODE", "value": str(exit_code)}]
    spec = {"completions": completions, "parallelism": 2, "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "work", "image": "sim", "env": env}]}}}
    if indexed:
        spec["completionMode"] = "Indexed"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def _condition(obj: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or ())


def _rolled_out(replicas: int):
    def check(d: dict) -> bool:
        status = d.get("status") or {}
        return (status.get("observedGeneration") == d["metadata"].get("generation")
                and status.get("replicas") == status.get("updatedReplicas") == replicas
                and status.get("readyReplicas") == status.get("availableReplicas") == replicas)
    return check


@pytest.mark.timeout(180)
async def test_no_component_changes_an_object_it_watches():
    cluster = Cluster(nodes=3, runtime="simulated", node_settings={"lease_period": 0.2},
                      controller_settings={"nodelifecycle": {"grace_period": 1.0}})
    snapshots = EventSnapshots(cluster.bus)
    async with cluster:
        client = cluster.client
        await client.create(_deployment("web", 3), raw=True)
        service = await client.create({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        }, raw=True)
        await cluster.wait_for("deployments", "web", namespace=NS, condition=_rolled_out(3), timeout=60)
        endpoints = await cluster.wait_for("endpoints", "web", namespace=NS, timeout=60, condition=lambda e: sum(
            len(s.get("addresses") or ()) for s in e.get("subsets") or ()) == 3)
        if cluster.proxy is not None:
            # simulated nodes may give pods the same address: the proxy serves each address once
            addresses = {a["ip"] for s in endpoints["subsets"] for a in s["addresses"]}
            await cluster.proxy.wait_for(lambda table: any(
                e.cluster_ip == service["spec"]["clusterIP"] and {ep.ip for ep in e.endpoints} == addresses
                for e in table), 60)

        # scale up, roll out a new template, scale down
        await client.patch("deployments", "web", {"spec": {"replicas": 5}}, namespace=NS)
        await cluster.wait_for("deployments", "web", namespace=NS, condition=_rolled_out(5), timeout=60)
        await client.patch("deployments", "web", [{"op": "replace", "path": "/spec/template/spec/containers/0/env/1",
                                                   "value": {"name": "VERSION", "value": "2"}}],
                           namespace=NS, patch_type="json")
        await cluster.wait_for("deployments", "web", namespace=NS, condition=_rolled_out(5), timeout=60)
        await client.patch("deployments", "web", {"spec": {"replicas": 2}}, namespace=NS)
        await cluster.wait_for("deployments", "web", namespace=NS, condition=_rolled_out(2), timeout=60)

        # Jobs: one completing (indexed), one failing
        await client.create(_job("done", completions=3, exit_code=0, backoff_limit=2, indexed=True), raw=True)
        await client.create(_job("broken", completions=1, exit_code=1, backoff_limit=0), raw=True)
        await cluster.wait_for("jobs", "done", namespace=NS, condition=lambda j: _condition(j, "Complete"), timeout=60)
        await cluster.wait_for("jobs", "broken", namespace=NS, condition=lambda j: _condition(j, "Failed"), timeout=60)

        # a node fails: it is marked, tainted, and its pods come back on the others
        async def web_pods() -> list[dict]:
            listed = await client.list("pods", namespace=NS, label_selector="app=web", raw=True)
            return [p for p in listed.items if not p["metadata"].get("deletionTimestamp")]

        victim = (await web_pods())[0]["spec"]["nodeName"]
        await cluster.stop_node(victim)
        await cluster.wait_for("nodes", victim, timeout=60, condition=lambda n: not node_ready(n))

        async def back_elsewhere() -> bool:
            pods = await web_pods()
            return len(pods) == 2 and all(p["spec"].get("nodeName") not in (None, victim)
                                          and p["status"].get("phase") == "Running" for p in pods)

        await cluster.wait_until(back_elsewhere, timeout=60, what=f"2 web pods running away from {victim}")

        # a namespace with content is deleted; the deployment goes, its ReplicaSets and pods with it
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}}, raw=True)
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "scratch"},
                             "data": {"k": "v"}}, raw=True)
        await client.delete("namespaces", "scratch")
        await client.delete("deployments", "web", namespace=NS)

        async def all_gone() -> bool:
            namespaces = await client.list("namespaces", raw=True)
            return not (await web_pods()) and "scratch" not in {n["metadata"]["name"] for n in namespaces.items}

        await cluster.wait_until(all_gone, timeout=60, what="the web pods and the scratch namespace gone")

        snapshots.close()
        assert len(snapshots.seen) > 100  # the workload went through the watch caches
        assert snapshots.changed() == []
        assert await cache_mismatches(cluster.server) == []
