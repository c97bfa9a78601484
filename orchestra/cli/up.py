"""``orchestra up``: the whole cluster in one process, served for kubectl, until SIGINT or SIGTERM.

    orchestra up                                   # API server on https://127.0.0.1:6443, one node
    orchestra up --nodes 3 -f examples/web/        # three nodes, with the example application
    orchestra up --demo                            # the examples: deploy, check, print, exit

It starts the API server on the embedded store (``file://<data-dir>/store``, durable, unless
``--store`` says otherwise), the scheduler, the controller manager, the service proxy and
``--nodes`` node agents, writes ``<data-dir>/kubeconfig`` (``orchestra kubeconfig --data-dir
DIR`` prints it), applies the ``-f`` manifests and runs until SIGINT or SIGTERM; then every
component stops and the pods' processes with them.

``--demo`` applies ``-f`` (default: the repository's ``examples/web/`` and ``examples/job/``),
waits for the Deployments to be ready and the Jobs to complete, prints the pods and the answers
of each Service, shuts down and exits 0 — 1 when a check fails. Without ``--data-dir`` it keeps
its state in a temporary directory and listens on a free port, so it never touches a running
cluster's.

``--node-monitor-grace-period`` and ``--node-lease-period`` shorten how long a dead node takes to
be noticed (50 s and 10 s by default, as in Kubernetes), e.g. for tests that stop a node.

On the process runtime, a container without ``workingDir`` runs in the directory ``orchestra
up`` was started in: the examples name ``examples/web/app.py`` relative to the repository root.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

import click
import uvloop

from orchestra.cli.apiserver import DATA_DIR_ENV, Duration, default_data_dir
from orchestra.cli.common import (
    EXPECTED_ERRORS,
    CommandError,
    document_label,
    error_line,
    load_manifests,
    resource_label,
)

__all__ = ["up_command", "DEFAULT_PORT", "DEMO_MANIFESTS", "READY_MESSAGE"]

#: The API server's port unless ``--port`` (or ``--demo``) says otherwise.
DEFAULT_PORT = 6443
#: What ``--demo`` applies without ``-f``, relative to the current directory.
DEMO_MANIFESTS = ("examples/web", "examples/job")
#: The start of the line printed once the cluster is ready (scripts and tests wait for it).
READY_MESSAGE = "orchestra up: ready in"


def _summary(cluster) -> list[str]:
    controllers = cluster.controller_manager.enabled if cluster.controller_manager is not None else []
    nodes = ", ".join(cluster.agents) or "none"
    lines = [
        f"{READY_MESSAGE} {cluster.startup_seconds:.2f} s",
        f"  API server          {cluster.url}  (store {cluster.store_url})",
        "  scheduler           default-scheduler",
        f"  controller-manager  {', '.join(controllers)}",
        f"  proxy               "
        f"{f'running ({cluster.proxy_mode} mode)' if cluster.proxy is not None else 'not in this installation'}",
        f"  nodes               {nodes} ({cluster.runtime} runtime)",
        f"  kubeconfig          {cluster.kubeconfig}",
    ]
    return lines


async def _apply(client, documents) -> tuple[list[dict], int]:
    """Apply every manifest; returns the objects applied and how many failed (each failure printed)."""
    from orchestra.client.apply import apply_object

    applied, failures = [], 0
    for doc in documents:
        try:
            result = await apply_object(client, doc.data)
        except (ValueError, *EXPECTED_ERRORS) as exc:
            failures += 1
            line = f"error: {exc}" if isinstance(exc, ValueError) else error_line(exc)
            click.echo(f"{line} (applying {document_label(doc)})", err=True)
            continue
        name = result.object.get("metadata", {}).get("name") or doc.data["metadata"]["name"]
        click.echo(f"{resource_label(result.rtype)}/{name} {result.action}")
        applied.append(result.object | {"kind": result.rtype.kind})
    return applied, failures


async def _run(cluster, documents, demo: bool, demo_timeout: float) -> int:
    from orchestra.cli.demo import run_demo

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await cluster.start()
        for line in _summary(cluster):
            click.echo(line)
        applied, failures = await _apply(cluster.client, documents)
        if demo:
            enabled = cluster.controller_manager.enabled
            demo_task = asyncio.ensure_future(run_demo(cluster.client, applied, controllers=enabled,
                                                       via_proxy=cluster.proxy is not None and "endpoints" in enabled,
                                                       timeout=demo_timeout))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({demo_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not demo_task.done():
                demo_task.cancel()
                click.echo("interrupted", err=True)
                return 130
            result = demo_task.result()
            click.echo("demo " + ("FAILED" if result.failed or failures else "passed") + "; shutting down")
            return 1 if result.failed or failures else 0
        click.echo("")
        click.echo(f"Use it:  export KUBECONFIG={cluster.kubeconfig}; kubectl get nodes,pods")
        click.echo("Stop it: Ctrl-C (the pods stop with it)")
        await stop.wait()
        click.echo("shutting down", err=True)
        return 0
    finally:
        await cluster.stop()


@click.command("up")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help=f"The API server's HTTPS port (default {DEFAULT_PORT}; with --demo any free port; 0: any).")
@click.option("--bind", "host", default="127.0.0.1", show_default=True, help="Address the API server listens on.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help=f"Store, certificates, kubeconfig and node state (default: ${DATA_DIR_ENV} or ~/.orchestra; "
                   "with --demo a temporary directory).")
@click.option("--store", default=None, help="Store URL (default: file://<data-dir>/store; memory:// with --demo).")
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(0, 1000), help="How many nodes to run.")
@click.option("--runtime", default="process", show_default=True, help="The nodes' container runtime plugin.")
@click.option("--proxy-mode", default="userspace", show_default=True, help="The service proxy's mode plugin.")
@click.option("--node-monitor-grace-period", "grace_period", type=float, default=50.0, show_default=True,
              help="Seconds without a node heartbeat before its conditions turn Unknown and its pods are evicted "
                   "(as their tolerations allow).")
@click.option("--node-lease-period", "lease_period", type=float, default=10.0, show_default=True,
              help="Seconds between the nodes' heartbeats (Lease renewals); keep it well under the grace period.")
@click.option("--etcd-compaction-interval", "compaction_interval", default="5m", show_default=True,
              type=Duration(),
              help="How often the API server compacts the store to the revision of one interval earlier (0: never).")
@click.option("--event-ttl", "event_ttl", default="1h", show_default=True, type=Duration(),
              help="How long an Event is kept after its last change (0: until deleted).")
@click.option("-f", "--filename", "filenames", multiple=True, metavar="FILE|DIR",
              help="Manifests to apply once the cluster is ready (repeatable).")
@click.option("-R", "--recursive", is_flag=True, help="Descend into subdirectories of a -f DIR.")
@click.option("--demo", is_flag=True,
              help="Apply the manifests (default: examples/web and examples/job), check they run, print "
                   "the results and exit (0: every check passed).")
@click.option("--demo-timeout", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds --demo waits for each check.")
def up_command(port: int | None, host: str, data_dir: str | None, store: str | None, nodes: int, runtime: str,
               proxy_mode: str, grace_period: float, lease_period: float, filenames: tuple[str, ...], recursive: bool,
               demo: bool, demo_timeout: float, compaction_interval: float, event_ttl: float) -> None:
    """Run a whole cluster in this process (API server, scheduler, controllers, proxy, nodes)."""
    from orchestra.cli.controller_manager import controller_settings
    from orchestra.apiserver.auth import TokenFileError
    from orchestra.apiserver.certs import PKIError
    from orchestra.apiserver.server import ServeError
    from orchestra.cluster import Cluster
    from orchestra.node.agent import AgentConfigError
    from orchestra.node.runtime import RuntimeUnavailableError, UnknownRuntimeError
    from orchestra.proxy import ProxyModeError
    from orchestra.store import StoreError

    settings = controller_settings(grace_period)
    if not lease_period > 0:
        raise click.BadParameter(f"must be greater than 0, got {lease_period}", param_hint="--node-lease-period")
    if demo and not filenames:
        missing = [path for path in DEMO_MANIFESTS if not Path(path).is_dir()]
        if missing:
            raise click.UsageError(f"--demo without -f applies {' and '.join(DEMO_MANIFESTS)}, but {missing[0]} "
                                   "is not here: run it from the repository root, or pass -f")
        filenames = DEMO_MANIFESTS
    try:
        documents = load_manifests(filenames, recursive)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    temporary = None
    if data_dir is None:
        if demo:
            temporary = tempfile.TemporaryDirectory(prefix="orchestra-up-")
            data_dir = temporary.name
        else:
            data_dir = default_data_dir()
    if store is None and demo and temporary is not None:
        store = "memory://"
    if port is None:
        port = 0 if demo else DEFAULT_PORT
    cluster = Cluster(store, nodes=nodes, runtime=runtime, data_dir=data_dir, port=port, host=host,
                      proxy_mode=proxy_mode, controller_settings=settings, node_settings={"lease_period": lease_period},
                      compaction_interval=compaction_interval, event_ttl=event_ttl)
    try:
        code = uvloop.run(_run(cluster, documents, demo, demo_timeout))
    except (StoreError, ServeError, PKIError, TokenFileError, AgentConfigError, UnknownRuntimeError,
            RuntimeUnavailableError, ProxyModeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if temporary is not None:
            temporary.cleanup()
    if code:
        raise click.exceptions.Exit(code)
