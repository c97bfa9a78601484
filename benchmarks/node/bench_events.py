"""The node agent's events: new Events written by :class:`EventRecorder` to an in-process API server.

Run with ``pytest benchmarks/node/bench_events.py --benchmark-enable``. The recorder hands its
bodies over (``Client.hand_over``: no encode, no decode, no answer); the
peer creates the same Events with ``Client.create`` (encoded, decoded and answered), as the
recorder did before. Compare the two ``us_per_event`` figures of one run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from orchestra.apiserver import APIServer, UserInfo
from orchestra.client import Client
from orchestra.node.events import EventRecorder, pod_reference

EVENTS = 2000


async def _write_events(handed_over: bool) -> float:
    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("admin", role="admin"))
    recorder = EventRecorder(client, "node-1")
    try:
        started = time.process_time()
        for i in range(EVENTS):
            pod = {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"u{i}", "resourceVersion": "5"}}
            ref = pod_reference(pod, "spec.containers{app}")
            when = dt.datetime.now(dt.timezone.utc)
            if handed_over:
                await recorder._write(ref, "Normal", "Started", "Started container app", when)
            else:
                stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                await client.create({
                    "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"p{i}.e", "namespace": "default"},
                    "involvedObject": ref, "reason": "Started", "message": "Started container app",
                    "type": "Normal", "source": {"component": "orchestra-agent", "host": "node-1"},
                    "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                    "reportingComponent": "orchestra-agent", "reportingInstance": "node-1"}, raw=True)
        return (time.process_time() - started) / EVENTS * 1e6
    finally:
        await client.close()
        await server.close()


def test_recorder_writes_events(benchmark):
    us = benchmark.pedantic(lambda: asyncio.run(_write_events(True)), rounds=3, iterations=1)
    benchmark.extra_info["us_per_event"] = round(us, 1)


def test_peer_client_create(benchmark):
    us = benchmark.pedantic(lambda: asyncio.run(_write_events(False)), rounds=3, iterations=1)
    benchmark.extra_info["us_per_event"] = round(us, 1)
