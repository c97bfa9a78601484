"""The agent's Node, heartbeat Lease and HTTPS endpoint (logs, stats, health, authentication)."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import sys

import aiohttp
import orjson
import pytest

from orchestra.node.agent import AgentConfig, AgentConfigError, NodeAgent
from orchestra.node.runtime import UnknownRuntimeError
from node.agent_support import NODE_NAME, agent_cluster, pod_manifest, wait_for

pytestmark = pytest.mark.timeout(120)


def _client_context(cluster, with_cert: bool = True) -> ssl.SSLContext:
    pki = cluster.server.pki
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if with_cert:
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return context


async def _get(cluster, path: str, with_cert: bool = True) -> tuple[int, bytes]:
    url = f"https://127.0.0.1:{cluster.agent.port}{path}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=_client_context(cluster, with_cert)) as response:
            return response.status, await response.read()


async def test_node_is_registered_with_capacity_labels_conditions_and_endpoint(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        node = await cluster.admin.get("nodes", NODE_NAME, raw=True)
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == NODE_NAME
        assert labels["kubernetes.io/os"] == "linux"
        status = node["status"]
        assert status["capacity"]["cpu"] == str(os.cpu_count())
        assert status["capacity"]["pods"] == "110"
        assert status["capacity"]["memory"].endswith("Ki")
        assert status["allocatable"] == status["capacity"]
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "KubeletReady"
        assert {"MemoryPressure", "DiskPressure", "PIDPressure"} <= set(conditions)
        assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
        assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == cluster.agent.port
        assert status["nodeInfo"]["operatingSystem"] == "linux"


async def test_configured_capacity_and_labels(tmp_path):
    async with agent_cluster(tmp_path, capacity={"cpu": "64", "memory": "256Gi"}, labels={"zone": "a"}) as cluster:
        node = await cluster.admin.get("nodes", NODE_NAME, raw=True)
        assert node["status"]["capacity"] == {"cpu": "64", "memory": "256Gi", "pods": "110"}
        assert node["metadata"]["labels"]["zone"] == "a"


async def _node_lease(cluster) -> dict | None:
    """The agent's node Lease, None until it exists."""
    try:
        return await cluster.admin.get("leases", NODE_NAME, namespace="kube-node-lease", raw=True)
    except Exception:
        return None


async def test_lease_is_renewed(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        lease = functools.partial(_node_lease, cluster)

        first = await wait_for(lease, "the node lease")
        assert first["spec"]["holderIdentity"] == NODE_NAME
        assert first["spec"]["leaseDurationSeconds"] == 40
        assert first["metadata"]["ownerReferences"][0]["kind"] == "Node"

        async def renewed() -> dict | None:
            current = await lease()
            return current if current and current["spec"]["renewTime"] != first["spec"]["renewTime"] else None

        await wait_for(renewed, "a renewal")


async def test_lease_renewal_recovers_from_a_conflicting_write_and_a_deletion(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        lease = functools.partial(_node_lease, cluster)

        current = await wait_for(lease, "the node lease")
        current["spec"]["holderIdentity"] = "someone-else"
        await cluster.admin.update(current, raw=True)  # the agent's next PUT is stale: 409

        async def held_again() -> dict | None:
            found = await lease()
            return found if found and found["spec"]["holderIdentity"] == NODE_NAME else None

        await wait_for(held_again, "the agent renewing over the conflict")
        await cluster.admin.delete("leases", NODE_NAME, namespace="kube-node-lease")
        recreated = await wait_for(held_again, "the lease created again")
        assert recreated["metadata"]["uid"] != current["metadata"]["uid"]


async def test_ready_is_reposted_at_the_next_check_when_the_stored_node_says_unknown(tmp_path):
    # The report period is far longer than the test: only comparing with the stored Node at each
    # status check (every second here, 10 s by default) can bring Ready back.
    async with agent_cluster(tmp_path, status_check_period=1.0, status_report_period=3600.0) as cluster:
        async def ready() -> dict | None:
            node = await cluster.admin.get("nodes", NODE_NAME, raw=True)
            return next((c for c in node["status"]["conditions"] if c["type"] == "Ready"), None)

        assert (await ready())["status"] == "True"
        node = await cluster.admin.get("nodes", NODE_NAME, raw=True)
        # what the node lifecycle controller writes after missed heartbeats
        conditions = [dict(c, status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting "
                           "node status.", lastTransitionTime="2020-01-01T00:00:00Z")
                      for c in node["status"]["conditions"]]
        await cluster.admin.patch("nodes", NODE_NAME, {"status": {"conditions": conditions}}, subresource="status",
                                  raw=True)

        async def ready_again() -> dict | None:
            condition = await ready()
            return condition if condition and condition["status"] == "True" else None

        condition = await wait_for(ready_again, "Ready=True posted again")
        assert condition["reason"] == "KubeletReady"
        assert condition["lastTransitionTime"] > "2020-01-01T00:00:00Z"
        node = await cluster.admin.get("nodes", NODE_NAME, raw=True)
        assert all(c["status"] in ("True", "False") for c in node["status"]["conditions"])
        # nothing differs any more: the next checks do not write
        assert await cluster.agent.registration.update_status() is False


async def test_endpoint_health_stats_and_authentication(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        assert await _get(cluster, "/healthz", with_cert=False) == (200, b"ok\n")
        code, _ = await _get(cluster, "/stats/summary", with_cert=False)
        assert code == 401
        await cluster.create_pod(pod_manifest("busy", [{"name": "main", "image": "sh", "command": [
            sys.executable, "-c", "import time\nx = bytearray(20_000_000)\nwhile True: time.sleep(0.05)"]}]))

        async def measured() -> dict | None:
            code, body = await _get(cluster, "/stats/summary")
            summary = orjson.loads(body) if code == 200 else {}
            pods = [p for p in summary.get("pods") or () if p["podRef"]["name"] == "busy"]
            return summary if pods and pods[0]["memory"]["workingSetBytes"] > 20_000_000 else None

        summary = await wait_for(measured, "stats for the pod")
        assert summary["node"]["nodeName"] == NODE_NAME
        assert summary["node"]["memory"]["workingSetBytes"] > 0
        pod = next(p for p in summary["pods"] if p["podRef"]["name"] == "busy")
        assert pod["containers"][0]["name"] == "main"
        assert pod["cpu"]["usageCoreNanoSeconds"] >= 0


async def test_logs_endpoint_errors(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        code, body = await _get(cluster, "/containerLogs/default/nope/main")
        assert code == 404 and b"nope" in body
        await cluster.create_pod(pod_manifest("one", [{"name": "main", "image": "sh", "command": ["sleep", "100"]}]))

        async def running() -> dict | None:
            status = await cluster.container_status("one")
            return status if status and "running" in status["state"] else None

        await wait_for(running, "the container running")
        code, body = await _get(cluster, "/containerLogs/default/one/main?previous=true")
        assert code == 400 and b"previous terminated container" in body
        code, body = await _get(cluster, "/containerLogs/default/one/main?tailLines=x")
        assert code == 400
        code, body = await _get(cluster, "/containerLogs/default/one/other")
        assert code == 404


async def test_unknown_runtime_is_a_clear_error(tmp_path):
    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import UserInfo
    from orchestra.client import Client

    server = await APIServer.create("memory://", data_dir=tmp_path / "c")
    try:
        agent = NodeAgent(Client.in_process(server, UserInfo("admin")), AgentConfig("n", runtime="docker", port=0),
                          ca=server.pki.ca())
        with pytest.raises(UnknownRuntimeError, match="unknown container runtime 'docker'; known runtimes: .*process"):
            await agent.start()
        bare = NodeAgent(Client.in_process(server, UserInfo("admin")), AgentConfig("n", port=0))
        with pytest.raises(AgentConfigError, match="needs a certificate"):
            await bare.start()
    finally:
        await server.close()


async def test_top_and_agent_cli(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("toppy", [{"name": "main", "image": "sh", "command": ["sleep", "100"]}]))

        async def running() -> dict | None:
            status = await cluster.container_status("toppy")
            return status if status and "running" in status["state"] else None

        await wait_for(running, "the container running")
        await cluster.server.serve("127.0.0.1", 0)
        kubeconfig = str(cluster.server.pki.kubeconfig)

        async def cli(*args: str) -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(sys.executable, "-m", "orchestra", *args,
                                                           "--kubeconfig", kubeconfig, stdout=asyncio.subprocess.PIPE,
                                                           stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return process.returncode, out.decode(), err.decode()

        rc, out, err = await cli("top", "nodes")
        assert rc == 0, err
        header, row = out.splitlines()[:2]
        assert header.split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
        assert row.split()[0] == NODE_NAME and row.split()[1].endswith("m")
        rc, out, err = await cli("top", "pods")
        assert rc == 0, err
        assert out.splitlines()[1].split()[0] == "toppy"


async def test_agent_command_runs_a_node_until_sigterm(tmp_path):
    import signal

    from orchestra.apiserver import APIServer
    from orchestra.apiserver.request import UserInfo
    from orchestra.client import ApiStatusError, Client

    server = await APIServer.create("memory://", data_dir=tmp_path / "cluster")
    await server.serve("127.0.0.1", 0)
    admin = Client.in_process(server, UserInfo("admin"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestra", "agent", "--kubeconfig", str(server.pki.kubeconfig), "--name", "cli-node",
        "--port", "0", "--cluster-dir", str(tmp_path / "cluster"), "--data-dir", str(tmp_path / "agent"),
        "--runtime-config", "pod_cidr=127.3.0.0/16", "--lease-period", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async def ready_node() -> dict | None:
            try:
                node = await admin.get("nodes", "cli-node", raw=True)
            except ApiStatusError:
                return None
            return node if any(c["type"] == "Ready" and c["status"] == "True"
                               for c in node["status"].get("conditions") or ()) else None

        await wait_for(ready_node, "the node registered by orchestra agent")
        await admin.create(pod_manifest("cli-pod", [{"name": "main", "image": "sh", "command": ["sleep", "100"]}],
                                        node="cli-node"), raw=True)

        async def running() -> dict | None:
            pod = await admin.get("pods", "cli-pod", namespace="default", raw=True)
            return pod if pod["status"].get("phase") == "Running" else None

        pod = await wait_for(running, "the pod running on the CLI agent")
        assert pod["status"]["podIP"].startswith("127.3.")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
        await server.close()
    assert process.returncode == 0, err.decode()
    assert b"node cli-node (process runtime) ready" in err


def test_agent_command_needs_exactly_one_of_server_and_kubeconfig():
    from click.testing import CliRunner

    from orchestra.cli.main import cli

    result = CliRunner().invoke(cli, ["agent", "--name", "x"])
    assert result.exit_code == 2
    assert "give exactly one of --server URL and --kubeconfig PATH" in result.output
