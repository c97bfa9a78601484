"""The agent runs real pods on the process runtime: serving, readiness, logs, restarts, liveness."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from node.agent_support import agent_cluster, pod_manifest, wait_for
from support.kubectl import find_kubectl

pytestmark = pytest.mark.timeout(180)

HTTP_SERVER = {
    "name": "web",
    "image": "python:3",
    "command": [sys.executable, "-u", "-m", "http.server", "--bind", "$(POD_IP)", "8080"],
    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    "ports": [{"name": "http", "containerPort": 8080}],
    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
}


def _condition(pod: dict | None, kind: str) -> str | None:
    for condition in ((pod or {}).get("status") or {}).get("conditions") or ():
        if condition["type"] == kind:
            return condition["status"]
    return None


async def _ready(cluster, name: str) -> dict | None:
    pod = await cluster.pod(name)
    return pod if _condition(pod, "Ready") == "True" else None


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, await response.text()


async def _cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_http_server_pod_runs_ready_serves_and_logs(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("web", [HTTP_SERVER]))
        pod = await wait_for(lambda: _ready(cluster, "web"), "pod web Ready")
        status = pod["status"]
        assert status["phase"] == "Running"
        assert _condition(pod, "ContainersReady") == "True"
        assert _condition(pod, "Initialized") == "True"
        assert status["hostIP"] == "127.0.0.1"
        container = status["containerStatuses"][0]
        assert container["ready"] is True and container["started"] is True
        assert "running" in container["state"] and container["restartCount"] == 0
        assert container["containerID"].startswith("process://")
        pod_ip = status["podIP"]
        assert pod_ip.startswith("127.") and status["podIPs"] == [{"ip": pod_ip}]

        code, body = await _get(f"http://{pod_ip}:8080/")
        assert code == 200 and "Directory listing" in body

        http = await cluster.server.serve("127.0.0.1", 0)
        kubeconfig = str(cluster.server.pki.kubeconfig)

        async def logged() -> str | None:
            rc, out, _ = await _cli(sys.executable, "-m", "orchestra", "logs", "web", "--kubeconfig", kubeconfig)
            return out if rc == 0 and '"GET / HTTP/1.1" 200' in out else None

        await wait_for(logged, "the request in orchestra logs")
        rc, out, err = await _cli(sys.executable, "-m", "orchestra", "logs", "web", "--tail", "1", "--timestamps",
                                  "--kubeconfig", kubeconfig)
        assert rc == 0, err
        lines = out.splitlines()
        assert len(lines) == 1 and lines[0][:4].isdigit() and "Z " in lines[0]

        kubectl = find_kubectl()
        if kubectl is not None:
            rc, out, err = await _cli(kubectl, "--kubeconfig", kubeconfig, "logs", "web")
            assert rc == 0, err
            assert '"GET / HTTP/1.1" 200' in out
        assert http.port > 0

        events = {e["reason"] for e in await cluster.events("web")}
        assert {"Pulled", "Created", "Started"} <= events


@pytest.mark.skipif(find_kubectl() is None, reason="kubectl is not installed")
async def test_kubectl_logs_follow_and_previous_errors(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("echo", [{
            "name": "echo", "image": "sh", "command": ["sh", "-c", "echo first; sleep 1000"]}]))
        await wait_for(lambda: _ready(cluster, "echo"), "pod echo Ready")
        await cluster.server.serve("127.0.0.1", 0)
        kubeconfig = str(cluster.server.pki.kubeconfig)
        rc, out, err = await _cli(find_kubectl(), "--kubeconfig", kubeconfig, "logs", "echo", "--previous")
        assert rc != 0 and "previous terminated container" in err


async def test_killing_the_process_restarts_the_container(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("web", [HTTP_SERVER]))
        await wait_for(lambda: _ready(cluster, "web"), "pod web Ready")
        worker = cluster.agent.find_worker("default", "web")
        runner = worker.runners["web"]
        first = await cluster.agent.runtime.inspect_container(runner.container_id)
        os.kill(first.pid, signal.SIGKILL)

        async def restarted() -> dict | None:
            status = await cluster.container_status("web")
            return status if status and status["restartCount"] == 1 and "running" in status["state"] else None

        status = await wait_for(restarted, "restartCount 1 and running again")
        terminated = status["lastState"]["terminated"]
        assert terminated["exitCode"] == 137 and terminated["reason"] == "Error"
        pod = await wait_for(lambda: _ready(cluster, "web"), "pod web Ready again")
        assert pod["status"]["phase"] == "Running"
        code, _ = await _get(f"http://{pod['status']['podIP']}:8080/")
        assert code == 200


async def test_failing_liveness_probe_restarts_the_container(tmp_path):
    container = {
        "name": "app", "image": "sh", "command": ["sleep", "1000"],
        "livenessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]}, "periodSeconds": 1, "failureThreshold": 2},
    }
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("live", [container], grace=1))

        async def restarted() -> dict | None:
            status = await cluster.container_status("live")
            return status if status and status["restartCount"] >= 1 else None

        status = await wait_for(restarted, "a restart after the liveness probe failed")
        assert status["lastState"]["terminated"]["exitCode"] in (137, 143)
        events = await cluster.events("live")
        messages = [e["message"] for e in events]
        assert any(e["reason"] == "Unhealthy" and e["message"].startswith("Liveness probe failed") for e in events)
        assert "Container app failed liveness probe, will be restarted" in messages


async def test_liveness_probe_at_a_closed_port_restarts_and_readiness_keeps_it_unready(tmp_path):
    container = {
        "name": "app", "image": "sh", "command": ["sleep", "1000"],
        "readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"port": 1, "path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 1},
    }
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("closed", [container], grace=0))

        async def restarted() -> dict | None:
            status = await cluster.container_status("closed")
            return status if status and status["restartCount"] >= 1 else None

        status = await wait_for(restarted, "a restart after the liveness probe failed")
        assert status["ready"] is False
        pod = await cluster.pod("closed")
        assert pod["status"]["phase"] == "Running"
        assert _condition(pod, "Ready") == "False"
        unhealthy = [e["message"] for e in await cluster.events("closed") if e["reason"] == "Unhealthy"]
        assert any(m.startswith("Readiness probe failed: dial tcp") and "connection refused" in m for m in unhealthy)
        assert any(m.startswith("Liveness probe failed: Get \"http://") for m in unhealthy)


async def test_log_follow_streams_until_the_container_exits_and_previous_after_restart(tmp_path):
    script = 'for i in 1 2 3; do echo "tick $i"; sleep 0.3; done; exit 1'
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("ticker", [{"name": "main", "image": "sh",
                                                           "command": ["sh", "-c", script]}]))

        async def running() -> dict | None:
            status = await cluster.container_status("ticker")
            return status if status and "running" in status["state"] else None

        await wait_for(running, "an instance running")
        await cluster.server.serve("127.0.0.1", 0)
        lines = []
        path = "/api/v1/namespaces/default/pods/ticker/log"
        async with cluster.admin.transport.stream("GET", path, query={"follow": "true"}) as response:
            assert response.status == 200
            async for line in response.lines():
                lines.append(line.decode())
        assert lines[-1] == "tick 3" and "tick 1" in lines

        async def restarted() -> dict | None:
            status = await cluster.container_status("ticker")
            return status if status and status["restartCount"] >= 1 else None

        await wait_for(restarted, "a restart")
        response = await cluster.admin.transport.request("GET", path, query={"previous": "true"})
        assert response.status == 200
        assert response.body.decode().splitlines() == ["tick 1", "tick 2", "tick 3"]
