"""What the node agent tests share: an in-process API server with one agent, pods, and waiting.

``agent_cluster`` starts a real API server (memory store, PKI in a temporary directory) and a
:class:`NodeAgent` on it with short periods, talking to the API through a node-role client.
``wait_for`` polls a condition with a generous deadline: no test asserts on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import attrs

from orchestra.apiserver import APIServer
from orchestra.apiserver.request import NODE, UserInfo
from orchestra.bus import EventBus
from orchestra.client import ApiStatusError, Client
from orchestra.node.agent import AgentConfig, NodeAgent
from tests.support.shared_objects import EventSnapshots, check_untouched

__all__ = ["AgentCluster", "agent_cluster", "wait_for", "pod_manifest", "sh_container", "pod_in_phase",
           "NODE_NAME", "TIMEOUT"]

NODE_NAME = "node-1"
#: Seconds any one condition may take before a test fails (generous: the machine is shared).
TIMEOUT = 60.0


@attrs.define
class AgentCluster:
    """A running API server, an admin client and the agent under test."""

    server: APIServer
    admin: Client
    agent: NodeAgent

    async def create_pod(self, pod: dict) -> dict:
        """Create ``pod`` (a wire dict) as the admin."""
        return await self.admin.create(pod, raw=True)

    async def pod(self, name: str, namespace: str = "default") -> dict | None:
        """The pod as stored, or None once it is gone."""
        try:
            return await self.admin.get("pods", name, namespace=namespace, raw=True)
        except ApiStatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def events(self, name: str, namespace: str = "default") -> list[dict]:
        """The events about pod ``name``."""
        items = (await self.admin.list("events", namespace=namespace, raw=True)).items
        return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]

    async def container_status(self, name: str, container: str | None = None) -> dict | None:
        """One container's status entry (the first container by default)."""
        pod = await self.pod(name)
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
        for status in statuses:
            if container is None or status["name"] == container:
                return status
        return None


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, timeout: float = TIMEOUT,
                   interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def pod_manifest(name: str, containers: list[dict], *, node: str = NODE_NAME, restart_policy: str | None = None,
                 volumes: list[dict] | None = None, init_containers: list[dict] | None = None,
                 grace: int | None = None) -> dict:
    """A pod bound to ``node`` (``spec.nodeName`` set, as Kubernetes allows without a scheduler)."""
    spec: dict[str, Any] = {"nodeName": node, "containers": containers}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if volumes:
        spec["volumes"] = volumes
    if init_containers:
        spec["initContainers"] = init_containers
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@contextlib.asynccontextmanager
async def agent_cluster(tmp_path, **config: Any) -> AsyncIterator[AgentCluster]:
    """An API server on a memory store plus one agent (process runtime unless ``runtime=`` says otherwise)."""
    bus = EventBus()
    server = await APIServer.create("memory://", data_dir=tmp_path / "cluster", bus=bus)
    snapshots = EventSnapshots(bus)  # the agent shares the server's pods: it must not change them
    admin = Client.in_process(server, UserInfo("admin"))
    # a node-role user; see the report: the API refuses POST nodes for system:node:<name> users
    node_client = Client.in_process(server, UserInfo(f"agent-{config.get('node_name', NODE_NAME)}", NODE,
                                                     ("system:nodes",)))
    settings = {"node_name": NODE_NAME, "port": 0, "lease_period": 1.0, "status_check_period": 1.0,
                "volume_check_period": 0.5, "data_dir": str(tmp_path / "agent"),
                "runtime_config": {"data_dir": str(tmp_path / "runtime")}}
    settings.update(config)
    agent = NodeAgent(node_client, AgentConfig(**settings), ca=server.pki.ca(), ca_file=server.pki.ca_cert)
    await agent.start()
    finished = False
    try:
        yield AgentCluster(server, admin, agent)
        finished = True
    finally:
        await agent.stop()
        try:
            if finished:
                await check_untouched(server, snapshots)
        finally:
            await server.close()


def sh_container(name: str, script: str, **extra: Any) -> dict:
    """A container running ``script`` under ``sh -c`` (extra fields as given)."""
    return {"name": name, "image": "sh", "command": ["sh", "-c", script], **extra}


async def pod_in_phase(cluster: AgentCluster, name: str, *phases: str) -> dict | None:
    """Pod ``name`` when its phase is one of ``phases``, else None (for :func:`wait_for`)."""
    pod = await cluster.pod(name)
    return pod if pod and pod["status"].get("phase") in phases else None


async def container_waiting(cluster: AgentCluster, pod: str, reason: str) -> dict | None:
    """The ``waiting`` state of pod ``pod``'s container when its reason is ``reason``, else None
    (for :func:`wait_for`)."""
    status = await cluster.container_status(pod)
    waiting = (status or {}).get("state", {}).get("waiting") or {}
    return waiting if waiting.get("reason") == reason else None
