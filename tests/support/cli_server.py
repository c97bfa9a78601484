"""A real API server on a loopback port, run on its own event loop in a background thread.

The cluster commands (``orchestra get`` …) run their own ``asyncio.run`` loop, so tests call
them synchronously while this server keeps serving from another thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

import attrs

from orchestra.apiserver.server import APIServer

__all__ = ["ThreadedServer", "start_threaded_server", "deployment"]


@attrs.define
class ThreadedServer:
    """A started server: its kubeconfig path, and a way to run coroutines on its loop."""

    server: APIServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    kubeconfig: Path

    def call(self, fn: Callable[[APIServer], Awaitable[Any]], timeout: float = 30.0) -> Any:
        """Run ``fn(server)`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(self.server), self.loop).result(timeout)

    def stop(self) -> None:
        """Close the server, stop the loop and join the thread."""
        self.call(lambda server: server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def start_threaded_server(data_dir: Path, *, tls: bool = True) -> ThreadedServer:
    """An APIServer over a memory store on 127.0.0.1 (free port); its kubeconfig is in ``data_dir``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="apiserver", daemon=True)
    thread.start()

    async def start() -> APIServer:
        server = await APIServer.create("memory://", data_dir=data_dir)
        await server.serve("127.0.0.1", 0, tls=tls)
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    return ThreadedServer(server, loop, thread, data_dir / "kubeconfig")


def deployment(name: str, *, replicas: int = 1, labels: dict | None = None, namespace: str = "default") -> dict:
    """A small Deployment wire object."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
    }
