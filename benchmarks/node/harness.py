"""The node agent benchmarks: pod start latency (process runtime) and heartbeat cost (simulated nodes).

Both run everything in one process: an API server on ``memory://`` and the agents, talking
through the in-process client (the same code path as HTTP, minus the sockets).

* :func:`pod_start_latency` binds pods one at a time to one agent on the ``process`` runtime
  (``spec.nodeName`` set at creation: bound from the start) and times creation → the first
  watch event showing phase ``Running``. The program's own start time — spawning the same
  command directly with ``asyncio.create_subprocess_exec`` — is measured separately and its
  median subtracted.
* :func:`heartbeat_cost` registers N agents on the ``simulated`` runtime (no endpoint, no host
  probing, each with its pod informer), lets them settle, then measures the process's CPU time
  and resident memory over a window while they renew their Leases (every 10 s: one PUT per
  node per period), watch their Node and pods, and report status (checked every 10 s, written
  every minute). By default the API server runs in its own process, reached over HTTP, and its
  CPU and memory are reported separately (``apiserver_cpu_share``, ``apiserver_rss_mb``);
  ``in-process`` puts everything in one process (the figure then includes serving). After
  start the objects the agents hold are frozen out of the garbage collector's scans
  (``gc.freeze()``) and young objects are collected less often, as the API server's serving
  process does (:func:`~orchestra.cli.apiserver.tune_gc_for_serving`).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from typing import Any

import attrs

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import NODE, UserInfo
from orchestra.cli.apiserver import tune_gc_for_serving
from orchestra.client import Client
from orchestra.node.agent import AgentConfig, NodeAgent

__all__ = ["LatencyResult", "HeartbeatResult", "pod_start_latency", "heartbeat_cost", "percentile"]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


@attrs.frozen
class LatencyResult:
    """Pod start latencies in milliseconds."""

    pods: int
    p50_ms: float
    p99_ms: float
    program_start_p50_ms: float
    net_p50_ms: float
    net_p99_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The figures as a dict."""
        return attrs.asdict(self)


@attrs.frozen
class HeartbeatResult:
    """CPU share of one core and memory of N heartbeating simulated nodes.

    ``cpu_share_of_one_core`` and ``rss_mb`` are the agents' process; with the API server in
    its own process (``apiserver_cpu_share``, ``apiserver_rss_mb`` set) that excludes serving
    them, in-process it includes it.
    """

    nodes: int
    apiserver: str
    http_client: str
    window_s: float
    cpu_share_of_one_core: float
    rss_mb: float
    rss_growth_mb: float
    lease_renewals: int
    apiserver_cpu_share: float | None = None
    apiserver_rss_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The figures as a dict."""
        return attrs.asdict(self)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


async def _program_start(command: list[str], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        times.append((time.perf_counter() - began) * 1000)
        process.kill()
        await process.wait()
    return times


async def pod_start_latency(pods: int = 100, command: tuple[str, ...] = ("sleep", "1000")) -> LatencyResult:
    """Create ``pods`` pods one after another on one process-runtime agent; see the module docstring."""
    with tempfile.TemporaryDirectory() as tmp:
        server = await APIServer.create("memory://", data_dir=f"{tmp}/cluster")
        admin = Client.in_process(server, UserInfo("admin"))
        node = Client.in_process(server, UserInfo("bench-agent", NODE, ("system:nodes",)))
        agent = NodeAgent(node, AgentConfig("bench-node", port=0, data_dir=f"{tmp}/agent"), ca=server.pki.ca(),
                          ca_file=server.pki.ca_cert)
        await agent.start()
        running: dict[str, float] = {}
        arrived: dict[str, asyncio.Event] = {}

        async def watch() -> None:
            async for event in admin.watch("pods", namespace="default", raw=True):
                obj = event.object
                name = (obj.get("metadata") or {}).get("name")
                if (obj.get("status") or {}).get("phase") == "Running" and name not in running:
                    running[name] = time.perf_counter()
                    if name in arrived:
                        arrived[name].set()

        watcher = asyncio.get_running_loop().create_task(watch())
        latencies = []
        try:
            await asyncio.sleep(0.2)
            for i in range(pods):
                name = f"p{i}"
                arrived[name] = asyncio.Event()
                began = time.perf_counter()
                await admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                    "spec": {"nodeName": "bench-node",
                                             "containers": [{"name": "c", "image": "x", "command": list(command)}]}},
                                   namespace="default", raw=True)
                await asyncio.wait_for(arrived[name].wait(), 30)
                latencies.append((running[name] - began) * 1000)
            program = await _program_start(list(command), min(pods, 50))
        finally:
            watcher.cancel()
            await agent.stop()
            await server.close()
    base = statistics.median(program)
    net = [max(0.0, v - base) for v in latencies]
    return LatencyResult(pods, percentile(latencies, 0.5), percentile(latencies, 0.99), base,
                         percentile(net, 0.5), percentile(net, 0.99))


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def _spawn_apiserver(data_dir: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestra", "apiserver", "--store", "memory://", "--insecure-http", "--anonymous-admin",
        "--port", "0", "--data-dir", data_dir, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        if not line:
            raise RuntimeError("the API server exited before listening")
        if "listening on" in line:
            return process, line.rsplit(" ", 1)[1].strip()


async def heartbeat_cost(nodes: int = 5000, window: float = 60.0, settle: float = 15.0,
                         start_concurrency: int = 200, apiserver: str = "subprocess",
                         http_client: str = "pool", status_check_period: float = 10.0) -> HeartbeatResult:
    """Run ``nodes`` simulated agents and measure CPU and memory over ``window`` seconds.

    ``apiserver`` is ``subprocess`` (its own process, reached over HTTP: the agents' cost alone)
    or ``in-process`` (one process for everything). Over HTTP, ``http_client`` is ``pool``
    (:class:`~orchestra.client.http11.PooledHTTPTransport`, what ``orchestra agent`` uses) or
    ``aiohttp`` (the plain :class:`~orchestra.client.HTTPTransport`), for comparison.
    ``status_check_period`` is how often each agent reads its Node and checks its status (the
    kubelet's 10 s); a huge value leaves only the Lease renewals, to see their share.
    """
    if http_client not in ("pool", "aiohttp"):
        raise ValueError(f"http_client must be pool or aiohttp, got {http_client!r}")
    with tempfile.TemporaryDirectory() as tmp:
        server = process = None
        if apiserver == "in-process":
            server = await APIServer.create("memory://", data_dir=f"{tmp}/cluster")
            client = Client.in_process(server, UserInfo("bench-agents", NODE, ("system:nodes",)))
        else:
            from orchestra.client import ClusterCredentials, HTTPTransport
            from orchestra.client.http11 import PooledHTTPTransport

            process, url = await _spawn_apiserver(f"{tmp}/cluster")
            transport = PooledHTTPTransport if http_client == "pool" else HTTPTransport
            client = Client(transport(ClusterCredentials(url)))
        agents = [NodeAgent(client, AgentConfig(f"sim-{i:05d}", runtime="simulated", serve=False,
                                                host_pressure=False, data_dir=f"{tmp}/agents",
                                                capacity={"cpu": "32", "memory": "128Gi", "pods": "110"},
                                                status_check_period=status_check_period,
                                                runtime_config={"log_root": f"{tmp}/logs"}))
                  for i in range(nodes)]
        semaphore = asyncio.Semaphore(start_concurrency)

        async def start(agent: NodeAgent) -> None:
            async with semaphore:
                await agent.start()

        gc_thresholds = gc.get_threshold()
        try:
            await asyncio.gather(*(start(a) for a in agents))
            await asyncio.sleep(settle)
            # what the agents hold after starting stays: keep the collector from rescanning it, and
            # collect young objects less often, as the API server's serving process does
            # (tune_gc_for_serving); see docs/agent.md for what the collector costs here
            tune_gc_for_serving()
            rss_before = _rss_mb()
            leases_before = [a.registration.lease.get("metadata", {}).get("resourceVersion") for a in agents]
            server_cpu_before = _proc_cpu_seconds(process.pid) if process is not None else 0.0
            cpu_before = time.process_time()
            wall_before = time.monotonic()
            # tells a profiler attached from outside (py-spy --pid) when the measured window starts
            print(f"heartbeat: measuring {window:.0f}s in pid {os.getpid()}", file=sys.stderr, flush=True)
            await asyncio.sleep(window)
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            server_cpu = _proc_cpu_seconds(process.pid) - server_cpu_before if process is not None else None
            server_rss = _proc_rss_mb(process.pid) if process is not None else None
            renewed = sum(1 for a, rv in zip(agents, leases_before)
                          if a.registration.lease.get("metadata", {}).get("resourceVersion") != rv)
            rss = _rss_mb()
        finally:
            gc.unfreeze()
            gc.set_threshold(*gc_thresholds)
            await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
            await client.close()
            if server is not None:
                await server.close()
            if process is not None:
                process.terminate()
                await process.wait()
    return HeartbeatResult(nodes, apiserver, http_client if apiserver != "in-process" else "in-process", round(wall, 1), round(cpu / wall, 4), round(rss, 1),
                           round(rss - rss_before, 1), renewed,
                           round(server_cpu / wall, 4) if server_cpu is not None else None,
                           round(server_rss, 1) if server_rss is not None else None)


def main(argv: list[str]) -> None:
    """``python benchmarks/node/harness.py latency [PODS] | heartbeat [NODES] [WINDOW] [subprocess|in-process]
    [pool|aiohttp] [STATUS_CHECK_PERIOD]``."""
    import uvloop

    what = argv[1] if len(argv) > 1 else "latency"
    if what == "latency":
        result = uvloop.run(pod_start_latency(int(argv[2]) if len(argv) > 2 else 100))
    else:
        result = uvloop.run(heartbeat_cost(int(argv[2]) if len(argv) > 2 else 5000,
                                           float(argv[3]) if len(argv) > 3 else 60.0,
                                           apiserver=argv[4] if len(argv) > 4 else "subprocess",
                                           http_client=argv[5] if len(argv) > 5 else "pool",
                                           status_check_period=float(argv[6]) if len(argv) > 6 else 10.0))
    print(result.to_dict())


if __name__ == "__main__":
    main(sys.argv)
