"""What ``orchestra up --demo`` checks once the manifests are applied, and how it reports it.

- every Deployment reaches its replicas Ready (``status.readyReplicas``, as ``kubectl rollout
  status`` reads it) and every Job turns Complete (or Failed: a failure);
- every Service answers: requests go to its ClusterIP through the service proxy when the proxy
  and the endpoints controller run, else straight to its ready pods (saying so), and the
  answers are counted per pod.

A kind whose controller does not run in the cluster is reported as not checked, never waited
for in vain.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import attrs
import click

from orchestra.aio import wait_for
from orchestra.cli.common import format_columns
from orchestra.client import ApiStatusError, Client

__all__ = ["DemoResult", "run_demo", "http_get", "REQUESTS_PER_SERVICE"]

#: How many requests ``--demo`` sends to each Service.
REQUESTS_PER_SERVICE = 12
_POLL = 0.1
_CONTROLLER_OF = {"Deployment": "deployment", "Job": "job"}
_LABEL_OF = {"Deployment": "deployment.apps", "Job": "job.batch"}


@attrs.define
class DemoResult:
    """What the demo saw: one line per check, and whether all of them passed."""

    lines: list[str] = attrs.field(factory=list)
    failed: bool = False

    def ok(self, line: str) -> None:
        """Record a passed check."""
        self.lines.append(line)
        click.echo(line)

    def fail(self, line: str) -> None:
        """Record a failed check."""
        self.failed = True
        self.lines.append(line)
        click.echo(f"FAILED: {line}")


async def http_get(host: str, port: int, path: str = "/", *, timeout: float = 2.0) -> tuple[int, str]:
    """``GET http://host:port/path`` (HTTP/1.0): the status code and the body text."""
    async def fetch() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)
        return int(status[1]) if len(status) > 1 and status[1].isdigit() else 0, body.decode(errors="replace")

    return await wait_for(fetch(), timeout)


def _complete(job: dict) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return None


async def _wait_deployment(client: Client, name: str, namespace: str, timeout: float, result: DemoResult) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    status: dict[str, Any] = {}
    while loop.time() - began < timeout:
        deployment = await client.get("deployments", name, namespace=namespace, raw=True)
        wanted = (deployment.get("spec") or {}).get("replicas", 1)
        status = deployment.get("status") or {}
        if status.get("readyReplicas", 0) == wanted and status.get("updatedReplicas", 0) == wanted:
            result.ok(f"deployment.apps/{name}: {wanted}/{wanted} pods ready after {loop.time() - began:.1f} s")
            return
        await asyncio.sleep(_POLL)
    result.fail(f"deployment.apps/{name}: {status.get('readyReplicas', 0)} pods ready after {timeout:g} s")


async def _wait_job(client: Client, name: str, namespace: str, timeout: float, result: DemoResult) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    job: dict[str, Any] = {}
    while loop.time() - began < timeout:
        job = await client.get("jobs", name, namespace=namespace, raw=True)
        outcome = _complete(job)
        if outcome is not None:
            succeeded = (job.get("status") or {}).get("succeeded", 0)
            line = f"job.batch/{name}: {outcome} ({succeeded} succeeded) after {loop.time() - began:.1f} s"
            result.ok(line) if outcome == "Complete" else result.fail(line)
            return
        await asyncio.sleep(_POLL)
    result.fail(f"job.batch/{name}: not finished after {timeout:g} s (status {job.get('status')})")


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _target_port(pod: dict, target: Any) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == target:
                return port.get("containerPort")
    return None


async def _service_targets(client: Client, service: dict, via_proxy: bool) -> tuple[str, list[tuple[str, int]]]:
    """How to reach a Service: ``("ClusterIP a.b.c.d:80", [(a.b.c.d, 80)])`` or its ready pods."""
    spec = service.get("spec") or {}
    port = (spec.get("ports") or [{}])[0]
    cluster_ip = spec.get("clusterIP")
    if via_proxy and cluster_ip and cluster_ip != "None":
        return f"ClusterIP {cluster_ip}:{port.get('port')}", [(cluster_ip, port.get("port"))]
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    pods = await client.list("pods", namespace=service["metadata"]["namespace"], label_selector=selector, raw=True)
    targets = []
    for pod in pods.items:
        number = _target_port(pod, port.get("targetPort", port.get("port")))
        ip = (pod.get("status") or {}).get("podIP")
        if _ready(pod) and ip and number:
            targets.append((ip, number))
    return "its ready pods directly (no service proxy and endpoints controller here)", targets


async def _probe_service(client: Client, name: str, namespace: str, via_proxy: bool, timeout: float,
                         result: DemoResult) -> None:
    service = await client.get("services", name, namespace=namespace, raw=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    answers: collections.Counter[str] = collections.Counter()
    how, targets = await _service_targets(client, service, via_proxy)
    failures = 0
    sent = 0
    while sent < REQUESTS_PER_SERVICE and loop.time() < deadline:
        if not targets:
            await asyncio.sleep(_POLL)
            how, targets = await _service_targets(client, service, via_proxy)
            continue
        host, port = targets[sent % len(targets)]
        try:
            status, body = await http_get(host, port)
        except (OSError, asyncio.TimeoutError):
            status, body = 0, ""
        if status != 200:
            if not answers:  # the proxy may not have programmed the Service yet
                await asyncio.sleep(_POLL)
                continue
            failures += 1
        else:
            answers[body.strip()] += 1
        sent += 1
    if not answers or failures:
        result.fail(f"service/{name} via {how}: {sum(answers.values())} answers, {failures} failed requests")
        return
    result.ok(f"service/{name} via {how}: {sum(answers.values())} requests answered")
    for answer, count in sorted(answers.items()):
        result.ok(f"  {count:>3} × {answer}")


async def _pods_table(client: Client, namespace: str) -> list[str]:
    pods = await client.list("pods", namespace=namespace, raw=True)
    rows = [(p["metadata"]["name"], "1/1" if _ready(p) else "0/1", (p.get("status") or {}).get("phase"),
             (p.get("status") or {}).get("podIP"), (p.get("spec") or {}).get("nodeName"))
            for p in sorted(pods.items, key=lambda p: p["metadata"]["name"])]
    return format_columns(("NAME", "READY", "STATUS", "IP", "NODE"), rows)


async def run_demo(client: Client, objects: list[dict], *, controllers: list[str], via_proxy: bool,
                   timeout: float) -> DemoResult:
    """Wait for the applied ``objects`` to be up, show the pods, probe the Services."""
    result = DemoResult()
    waits = []
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace") or "default"
        needed = _CONTROLLER_OF.get(kind or "")
        if needed is None:
            continue
        if needed not in controllers:
            result.ok(f"{_LABEL_OF[kind]}/{name}: not checked (no {needed} controller runs in this cluster)")
        elif kind == "Deployment":
            waits.append(_wait_deployment(client, name, namespace, timeout, result))
        else:
            waits.append(_wait_job(client, name, namespace, timeout, result))
    try:
        await asyncio.gather(*waits)
    except ApiStatusError as exc:
        result.fail(f"reading the workloads: {exc.message}")
    namespaces = sorted({(o.get("metadata") or {}).get("namespace") or "default" for o in objects})
    for namespace in namespaces:
        click.echo("")
        for line in await _pods_table(client, namespace):
            click.echo(line)
    click.echo("")
    for obj in objects:
        if obj.get("kind") == "Service":
            meta = obj.get("metadata") or {}
            await _probe_service(client, meta["name"], meta.get("namespace") or "default", via_proxy,
                                 timeout, result)
    return result
