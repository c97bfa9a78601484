"""CPU time per v1 Event create through the in-process API (the scheduler's event writes).

Run with ``python3 benchmarks/api/event_creates.py [N]`` (default 20,000 events). It
creates an ``APIServer`` on ``memory://``, POSTs ``N`` Events one by one (the body
``EventRecorder._write`` sends) through :meth:`Client.in_process`, yielding to the loop
between them, and prints the process CPU time per event for each codec walk: blocks of
``--block`` events alternate between the compiled walks and the pure-Python reference
in the same process and store, so both see the same conditions. ``--only python`` or
``--only compiled`` measures one of them alone.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from orchestra.api import codec
from orchestra.apiserver.request import ADMIN, UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.client import Client

PATH = "/api/v1/namespaces/default/events"


def event_body(i: int) -> dict:
    """The Event ``EventRecorder._write`` posts for the ``i``-th scheduled pod."""
    ns, pod = "default", f"pod-{i}"
    now = "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{pod}.{time.time_ns():x}", "namespace": ns},
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": ns, "name": pod, "uid": f"uid-{i}"},
        "reason": "Scheduled", "message": f"Successfully assigned {ns}/{pod} to node-{i % 100}",
        "type": "Normal", "action": "Binding",
        "source": {"component": "default-scheduler"},
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-bench",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


async def run(n: int, walks: list[str], block: int) -> dict[str, float]:
    """CPU microseconds per Event create for each of ``walks``, over ``n`` creates in all."""
    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("x", ADMIN, ("system:masters",)))
    spent = dict.fromkeys(walks, 0.0)
    done = dict.fromkeys(walks, 0)
    try:
        for name in walks:  # warm up each walk's tables and the server's caches
            codec._use_implementation(name)
            for i in range(300):
                await client.request_status("POST", PATH, body=event_body(-1 - i))
        i = 0
        while i < n:
            name = walks[(i // block) % len(walks)]
            codec._use_implementation(name)
            count = min(block, n - i)
            start = time.process_time()
            for j in range(i, i + count):
                await client.request_status("POST", PATH, body=event_body(j))
                await asyncio.sleep(0)
            spent[name] += time.process_time() - start
            done[name] += count
            i += count
        return {name: spent[name] / done[name] * 1e6 for name in walks if done[name]}
    finally:
        await client.close()
        await server.close()


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=20_000)
    parser.add_argument("--block", type=int, default=1000, help="events per block (default 1000)")
    parser.add_argument("--only", choices=["python", "compiled"], help="measure one walk alone")
    args = parser.parse_args()
    walks = [args.only] if args.only else ["python", "compiled"] if codec._COMPILED else ["python"]
    result = asyncio.run(run(args.n, walks, args.block))
    for name, us in result.items():
        print(f"{name}: {us:.1f} us CPU per event create")
    if len(result) == 2:
        print(f"compiled / python: {result['compiled'] / result['python']:.3f}")


if __name__ == "__main__":
    main()
