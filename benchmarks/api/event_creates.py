"""CPU time per v1 Event create through the in-process API (the scheduler's event writes).

Run with ``python3 benchmarks/api/event_creates.py [N]`` (default 20,000 events). It
creates an ``APIServer`` on ``memory://``, POSTs ``N`` Events one by one (the body
``EventRecorder._write`` sends) through :meth:`Client.in_process`, yielding to the loop
between them, and prints the process CPU time per event: with the codec's compiled walks
when they are built, or with ``--pure`` with the pure-Python reference walks.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from orchestra.api import codec
from orchestra.apiserver.request import ADMIN, UserInfo
from orchestra.apiserver.server import APIServer
from orchestra.client import Client


def _body(i: int) -> dict:
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


async def run(n: int) -> float:
    """CPU microseconds per Event create, over ``n`` creates (after 500 warm-up creates)."""
    server = await APIServer.create("memory://")
    client = Client.in_process(server, UserInfo("x", ADMIN, ("system:masters",)))
    try:
        for i in range(500):
            await client.request_status("POST", "/api/v1/namespaces/default/events", body=_body(-i - 1))
        start = time.process_time()
        for i in range(n):
            await client.request_status("POST", "/api/v1/namespaces/default/events", body=_body(i))
            await asyncio.sleep(0)
        return (time.process_time() - start) / n * 1e6
    finally:
        await client.close()
        await server.close()


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=20_000)
    parser.add_argument("--pure", action="store_true", help="force the pure-Python codec")
    args = parser.parse_args()
    if args.pure:
        codec._use_implementation("python")
    print(f"{codec._implementation()}: {asyncio.run(run(args.n)):.1f} us CPU per event create")


if __name__ == "__main__":
    main()
