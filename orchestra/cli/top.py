"""``orchestra top nodes`` / ``orchestra top pods [-A]``: CPU and memory use, as ``kubectl top`` shows it.

The figures come straight from each node agent's ``/stats/summary`` endpoint (the API server has
no ``nodes/proxy`` yet): the command lists the Nodes through the API, then asks every agent at
its InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``. It authenticates with a
client certificate of the kubeconfig — the current context's user, or another user of the same
cluster that has one (the ``orchestra-cert`` context of the kubeconfig ``orchestra apiserver``
writes) — and verifies the agents against the kubeconfig's CA. Nodes whose agent cannot be
reached are reported on stderr and left out.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson
import yaml

from orchestra.api.quantity import Quantity, QuantityError
from orchestra.apiserver.podlog import kubelet_port, node_address
from orchestra.cli.common import CommandError, Connection, all_namespaces_option, connection_options, print_table, run
from orchestra.client import ClusterCredentials, load_kubeconfig

__all__ = ["top_command", "agent_credentials", "fetch_summaries", "format_cpu", "format_memory"]

_TIMEOUT = 10.0


def format_cpu(nanocores: int) -> str:
    """``12m``: CPU in millicores, as kubectl top prints it."""
    return f"{nanocores // 1_000_000}m"


def format_memory(size: int) -> str:
    """``34Mi``: memory in mebibytes, as kubectl top prints it."""
    return f"{size // (1024 * 1024)}Mi"


def agent_credentials(path: str, context: str | None) -> ClusterCredentials:
    """Credentials with a client certificate for the context's cluster (see the module docstring)."""
    chosen = load_kubeconfig(path, context=context)
    if chosen.client_cert_data and chosen.client_key_data:
        return chosen
    config = yaml.safe_load(Path(path).read_text()) or {}
    for entry in config.get("contexts") or ():
        name = entry.get("name")
        if not name:
            continue
        other = load_kubeconfig(path, context=name)
        if other.server == chosen.server and other.client_cert_data and other.client_key_data:
            return other
    raise CommandError(f"{path}: no user with a client certificate for {chosen.server}; node agents accept "
                       "only client certificates signed by the cluster CA")


async def fetch_summaries(nodes: list[dict], credentials: ClusterCredentials) -> dict[str, dict]:
    """``/stats/summary`` of every node's agent, by node name (unreachable ones reported on stderr)."""
    context = credentials.ssl_context() or ssl.create_default_context()
    results: dict[str, dict] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT)) as session:

        async def one(node: dict) -> None:
            name = node["metadata"]["name"]
            address, port = node_address(node), kubelet_port(node)
            if address is None or port is None:
                click.echo(f"error: node {name} has no agent endpoint", err=True)
                return
            host = f"[{address}]" if ":" in address else address
            url = f"https://{host}:{port}/stats/summary"
            try:
                async with session.get(url, ssl=context) as response:
                    body = await response.read()
                    if response.status != 200:
                        click.echo(f"error: node {name}: {response.status} {body.decode(errors='replace').strip()}",
                                   err=True)
                        return
                    results[name] = orjson.loads(body)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                click.echo(f"error: cannot reach the agent of node {name} at {url}: {exc}", err=True)

        await asyncio.gather(*(one(n) for n in nodes))
    return results


def _allocatable(node: dict, resource: str) -> float:
    value = ((node.get("status") or {}).get("allocatable") or {}).get(resource)
    try:
        return Quantity.decode(value).as_float() if value is not None else 0.0
    except QuantityError:
        return 0.0


async def _top(conn: Connection, what: str) -> None:
    credentials = agent_credentials(conn.path, conn.context)
    async with conn.client() as client:
        nodes = (await client.list("nodes", raw=True)).items
    summaries = await fetch_summaries(nodes, credentials)
    if what == "nodes":
        rows: list[list[Any]] = []
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            summary = summaries.get(node["metadata"]["name"])
            if summary is None:
                continue
            cpu = summary["node"]["cpu"].get("usageNanoCores") or 0
            memory = summary["node"]["memory"].get("workingSetBytes") or 0
            cpu_total, memory_total = _allocatable(node, "cpu"), _allocatable(node, "memory")
            rows.append([node["metadata"]["name"], format_cpu(cpu),
                         f"{round(100 * cpu / 1e9 / cpu_total) if cpu_total else 0}%", format_memory(memory),
                         f"{round(100 * memory / memory_total) if memory_total else 0}%"])
        print_table(["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], rows)
        return
    pod_rows: list[list[Any]] = []
    for summary in summaries.values():
        for pod in summary.get("pods") or ():
            ref = pod["podRef"]
            if not conn.all_namespaces and ref.get("namespace") != conn.namespace:
                continue
            row = [ref.get("name"), format_cpu(pod["cpu"].get("usageNanoCores") or 0),
                   format_memory(pod["memory"].get("workingSetBytes") or 0)]
            pod_rows.append(([ref.get("namespace")] if conn.all_namespaces else []) + row)
    pod_rows.sort()
    if not pod_rows:
        raise CommandError(f"Metrics not available for pods in namespace {conn.namespace}"
                           if not conn.all_namespaces else "Metrics not available for pods")
    headers = (["NAMESPACE"] if conn.all_namespaces else []) + ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    print_table(headers, pod_rows)


@click.command("top")
@click.argument("what", type=click.Choice(["nodes", "node", "no", "pods", "pod", "po"]))
@all_namespaces_option
@connection_options
def top_command(conn: Connection, what: str) -> None:
    """Show CPU and memory use of nodes or pods, from the node agents."""
    kind = "nodes" if what in ("nodes", "node", "no") else "pods"
    run(lambda: _top(conn, kind))
