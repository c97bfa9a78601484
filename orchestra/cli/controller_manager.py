"""``orchestra controller-manager``: run the controllers against an API server until SIGINT or SIGTERM.

``--controllers`` picks them as Kubernetes does (``*``, ``name``, ``-name``); with
``--leader-elect`` several instances may run and only the holder of the
``kube-system/kube-controller-manager`` Lease works. ``/healthz`` and ``/metrics`` are served on
``--port`` (10252). ``--node-monitor-grace-period`` and ``--concurrent-syncs NAME=N`` set the
controllers' :class:`~orchestra.controllers.settings.ControllerSettings`.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click
import uvloop

from orchestra.client import KubeConfigError

__all__ = ["controller_manager_command", "controller_settings"]


async def _run(kubeconfig: str, context: str | None, controllers: list[str], leader_elect: bool,
               lease_duration: float, renew_deadline: float, retry_period: float, bind_address: str,
               port: int, settings: Any) -> None:
    from orchestra.client import Client
    from orchestra.client.leaderelection import LeaderElectionConfig
    from orchestra.controllers.manager import ControllerManager

    election = None
    if leader_elect:
        election = LeaderElectionConfig(lease_duration=lease_duration, renew_deadline=renew_deadline,
                                        retry_period=retry_period)
    client = Client.from_kubeconfig(kubeconfig, context=context)
    manager = ControllerManager(client, controllers=controllers, leader_election=election, settings=settings)
    try:
        http = await manager.serve(bind_address, port)
        await manager.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo(f"orchestra controller-manager running: {', '.join(manager.enabled)}; "
                   f"health and metrics on {http.url}"
                   + (f"; leader election as {election.identity}" if election else ""), err=True)
        await stop.wait()
        click.echo("shutting down", err=True)
    finally:
        await manager.stop()
        await client.close()


def controller_settings(grace_period: float, concurrent: tuple[str, ...] = ()) -> Any:
    """ControllerSettings from the command-line options; a bad value is a BadParameter naming its option."""
    from orchestra.controllers.settings import ControllerSettings, ControllerSettingsError

    workers: dict[str, int] = {}
    for item in concurrent:
        name, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise click.BadParameter(f"expected CONTROLLER=N, got {item!r}", param_hint="--concurrent-syncs")
        workers[name.strip()] = int(count)
    try:
        return ControllerSettings(node_monitor_grace_period=grace_period, workers=workers)
    except ControllerSettingsError as exc:
        hint = "--node-monitor-grace-period" if "grace_period" in str(exc) else "--concurrent-syncs"
        raise click.BadParameter(str(exc), param_hint=hint) from None


@click.command("controller-manager")
@click.option("--kubeconfig", default=None, help="Kubeconfig of the API server (default: as the other commands).")
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option("--controllers", "controllers", multiple=True, default=("*",), show_default=True,
              help="Controllers to run: '*' for all, 'name' to enable, '-name' to disable (comma-separated).")
@click.option("--leader-elect/--no-leader-elect", default=False, show_default=True,
              help="Work only while holding the kube-system/kube-controller-manager Lease.")
@click.option("--leader-elect-lease-duration", "lease_duration", type=float, default=15.0, show_default=True,
              help="Seconds a lease lasts without renewal.")
@click.option("--leader-elect-renew-deadline", "renew_deadline", type=float, default=10.0, show_default=True,
              help="Seconds the leader keeps trying to renew before it stops working.")
@click.option("--leader-elect-retry-period", "retry_period", type=float, default=2.0, show_default=True,
              help="Seconds between attempts to acquire or renew.")
@click.option("--node-monitor-grace-period", "grace_period", type=float, default=50.0, show_default=True,
              help="Seconds without a node heartbeat before the node's conditions turn Unknown.")
@click.option("--concurrent-syncs", "concurrent", multiple=True, metavar="CONTROLLER=N",
              help="Keys CONTROLLER syncs concurrently (repeatable), e.g. deployment=10.")
@click.option("--bind-address", default="0.0.0.0", show_default=True, help="Address of /healthz and /metrics.")
@click.option("--port", type=click.IntRange(0, 65535), default=10252, show_default=True,
              help="Port of /healthz and /metrics (0 picks a free one).")
def controller_manager_command(kubeconfig: str | None, context: str | None, controllers: tuple[str, ...],
                               leader_elect: bool, lease_duration: float, renew_deadline: float,
                               retry_period: float, grace_period: float, concurrent: tuple[str, ...],
                               bind_address: str, port: int) -> None:
    """Run the controllers (ReplicaSet, Deployment, Job, CronJob, nodes, Endpoints…) until SIGINT or SIGTERM."""
    from orchestra.cli.common import kubeconfig_path
    from orchestra.client import TransportError
    from orchestra.controllers.manager import UnknownControllerError, select_controllers

    try:
        select_controllers(list(controllers))
        if leader_elect and not lease_duration > renew_deadline > retry_period > 0:
            raise click.BadParameter("needs lease duration > renew deadline > retry period > 0",
                                     param_hint="--leader-elect-*")
        settings = controller_settings(grace_period, concurrent)
        uvloop.run(_run(kubeconfig_path(kubeconfig), context, list(controllers), leader_elect, lease_duration,
                        renew_deadline, retry_period, bind_address, port, settings))
    except UnknownControllerError as exc:
        raise click.BadParameter(str(exc), param_hint="--controllers") from None
    except (KubeConfigError, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve health and metrics on {bind_address}:{port}: {exc}") from None
    except asyncio.TimeoutError:
        raise click.ClickException("the API server did not answer the controllers' first lists within 60 s") from None
