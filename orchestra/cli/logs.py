"""``orchestra logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps] [--since SECONDS]``.

Reads a container's output through the API's ``pods/log`` subresource, which the API server
proxies to the agent of the pod's node — the same path ``kubectl logs`` takes. Without ``-c``
the container is the one named by the ``kubectl.kubernetes.io/default-container`` annotation,
else the first, with kubectl's "Defaulted container" notice when the pod has several.
"""

from __future__ import annotations

import sys

import click

from orchestra.cli.common import Connection, connection_options, run
from orchestra.client import Client, raise_for_status, resource_path, resolve_kind
from orchestra.client.transport import RawResponse

__all__ = ["logs_command", "stream_logs", "default_container"]

_DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def default_container(pod: dict) -> tuple[str | None, list[str]]:
    """The container ``kubectl logs`` picks without ``-c``, and every container name of the pod."""
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or ()]
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(_DEFAULT_CONTAINER_ANNOTATION)
    if annotated in names:
        return annotated, names
    return (names[0] if names else None), names


async def stream_logs(client: Client, namespace: str, name: str, container: str | None, *, follow: bool = False,
                      tail: int | None = None, previous: bool = False, timestamps: bool = False,
                      since_seconds: int | None = None, out=None) -> None:
    """Write the container's log to ``out`` (stdout by default) as it arrives."""
    out = out or sys.stdout.buffer
    if container is None:
        pod = await client.get("pods", name, namespace=namespace, raw=True)
        container, names = default_container(pod)
        if len(names) > 1:
            others = ", ".join(names)
            click.echo(f'Defaulted container "{container}" out of: {others}', err=True)
    query = {"container": container, "follow": "true" if follow else None, "tailLines": tail,
             "previous": "true" if previous else None, "timestamps": "true" if timestamps else None,
             "sinceSeconds": since_seconds}
    path = resource_path(resolve_kind("pods"), namespace, name, "log")
    async with client.transport.stream("GET", path, query=query, headers={"Accept": "*/*"}) as response:
        if response.status >= 400:
            raise_for_status(RawResponse(response.status, response.headers, await response.read()))
        async for line in response.lines():
            out.write(line + b"\n")
            out.flush()


@click.command("logs")
@click.argument("pod")
@click.option("-c", "--container", default=None, help="The container (default: the pod's default or first one).")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new output until the container stops.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all).")
@click.option("-p", "--previous", is_flag=True, help="The previous instance of the container (before its restart).")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC 3339 time.")
@click.option("--since", "since_seconds", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="Only lines newer than this many seconds.")
@connection_options
def logs_command(conn: Connection, pod: str, container: str | None, follow: bool, tail: int, previous: bool,
                 timestamps: bool, since_seconds: int | None) -> None:
    """Print the output of a container of a pod."""
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod

    async def go() -> None:
        async with conn.client() as client:
            await stream_logs(client, conn.namespace, name, container, follow=follow,
                              tail=tail if tail >= 0 else None, previous=previous, timestamps=timestamps,
                              since_seconds=since_seconds)

    run(go)
