"""CPU time per pod binding and per Event create through the in-process client (the scheduler's writes).

Run with ``python3 benchmarks/apiserver/inprocess_writes.py [N]`` (default 10,000 of each),
ideally pinned (``taskset -c 0``). It starts an ``APIServer`` on ``memory://``, creates
``N`` pods (not timed), then alternates blocks of ``--block`` bindings (the body and path
``Scheduler.bind_through_api`` sends) and ``--block`` Scheduled Event creates (the body
``EventRecorder._write`` sends), both with ``Client.hand_over`` as
the scheduler calls them, yielding to the loop after each request, with the garbage collector off as in
``orchestra bench scheduler``. It prints the process
CPU time per binding and per Event create, and with ``--json`` one JSON line of them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time

from orchestra.apiserver.request import ADMIN, UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.client import Client

NAMESPACE = "default"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
NODES = 100


def pod_body(name: str) -> dict:
    """scheduler_perf's default pod (as ``orchestra.bench.scheduler.pod_manifest`` makes it)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {}},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


def binding_body(name: str, uid: str, node: str) -> dict:
    """The Binding ``Scheduler.bind_through_api`` posts."""
    return {"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def event_body(pod: str, uid: str, node: str) -> dict:
    """The Scheduled Event ``EventRecorder._write`` posts."""
    now = "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{pod}.{time.time_ns():x}", "namespace": NAMESPACE},
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": NAMESPACE, "name": pod, "uid": uid},
        "reason": "Scheduled", "message": f"Successfully assigned {NAMESPACE}/{pod} to {node}",
        "type": "Normal", "action": "Binding",
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-bench",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


async def run(n: int, block: int, warmup: int) -> dict[str, float]:
    """CPU microseconds per binding and per Event create, over ``n`` of each after ``warmup`` of each."""
    server = await APIServer.create("memory://", compaction_interval=0)
    client = Client.in_process(server, UserInfo("system:kube-scheduler", ADMIN, ("system:masters",)))
    total = n + warmup
    pods: list[tuple[str, str]] = []
    try:
        for i in range(total):
            created = await client.request_json("POST", PODS, body=pod_body(f"pod-{i}"))
            pods.append((f"pod-{i}", created["metadata"]["uid"]))
            if i % 256 == 255:
                await asyncio.sleep(0)  # let the watch cache keep up, as the scheduler bench does
        await asyncio.sleep(0.05)
        spent = {"binding": 0.0, "event": 0.0}
        done = {"binding": 0, "event": 0}
        gc.collect()
        gc.disable()  # as the scheduler benchmark runs: no collector pauses inside the blocks
        position = 0
        while position < total:
            count = min(block, total - position)
            measured = position >= warmup
            chunk = pods[position:position + count]
            start = time.process_time()
            for name, uid in chunk:
                node = f"node-{hash(name) % NODES}"
                await client.hand_over("POST", "pods", binding_body(name, uid, node), namespace=NAMESPACE, name=name,
                                       subresource="binding")
                await asyncio.sleep(0)
            bound = time.process_time()
            for name, uid in chunk:
                node = f"node-{hash(name) % NODES}"
                await client.hand_over("POST", "events", event_body(name, uid, node), namespace=NAMESPACE)
                await asyncio.sleep(0)
            end = time.process_time()
            if measured:
                spent["binding"] += bound - start
                spent["event"] += end - bound
                done["binding"] += count
                done["event"] += count
            position += count
        return {what: spent[what] / done[what] * 1e6 for what in spent if done[what]}
    finally:
        gc.enable()
        await client.close()
        await server.close()


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=10_000, help="bindings and events measured (default 10,000)")
    parser.add_argument("--block", type=int, default=500, help="requests per block (default 500)")
    parser.add_argument("--warmup", type=int, default=1000, help="bindings and events before measuring (default 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    if args.n <= 0 or args.block <= 0 or args.warmup < 0:
        parser.error("n and --block must be positive, --warmup not negative")
    result = asyncio.run(run(args.n, args.block, args.warmup))
    if args.json:
        print(json.dumps(result))
        return
    for what, us in result.items():
        print(f"{what}: {us:.1f} us CPU each")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
