"""``orchestra controller-manager``: run the controllers against an API server until SIGINT or SIGTERM.

``--controllers`` picks them as Kubernetes does (``*``, ``name``, ``-name``); with
``--leader-elect`` several instances may run and only the holder of the
``kube-system/kube-controller-manager`` Lease works. ``/healthz`` and ``/metrics`` are served on
``--port`` (10252).
"""

from __future__ import annotations

import asyncio
import signal

import click
import uvloop

from orchestra.client import KubeConfigError

__all__ = ["controller_manager_command"]


async def _run(kubeconfig: str, context: str | None, controllers: list[str], leader_elect: bool,
               lease_duration: float, renew_deadline: float, retry_period: float, bind_address: str,
               port: int) -> None:
    from orchestra.client import Client
    from orchestra.controllers.leaderelection import LeaderElectionConfig
    from orchestra.controllers.manager import ControllerManager

    election = None
    if leader_elect:
        election = LeaderElectionConfig(lease_duration=lease_duration, renew_deadline=renew_deadline,
                                        retry_period=retry_period)
    client = Client.from_kubeconfig(kubeconfig, context=context)
    manager = ControllerManager(client, controllers=controllers, leader_election=election)
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
@click.option("--bind-address", default="0.0.0.0", show_default=True, help="Address of /healthz and /metrics.")
@click.option("--port", type=click.IntRange(0, 65535), default=10252, show_default=True,
              help="Port of /healthz and /metrics (0 picks a free one).")
def controller_manager_command(kubeconfig: str | None, context: str | None, controllers: tuple[str, ...],
                               leader_elect: bool, lease_duration: float, renew_deadline: float,
                               retry_period: float, bind_address: str, port: int) -> None:
    """Run the controllers (ReplicaSet, Deployment, garbage collector, namespace) until SIGINT or SIGTERM."""
    from orchestra.cli.common import kubeconfig_path
    from orchestra.client import TransportError
    from orchestra.controllers.manager import UnknownControllerError, select_controllers

    try:
        select_controllers(list(controllers))
        if leader_elect and not lease_duration > renew_deadline > retry_period > 0:
            raise click.BadParameter("needs lease duration > renew deadline > retry period > 0",
                                     param_hint="--leader-elect-*")
        uvloop.run(_run(kubeconfig_path(kubeconfig), context, list(controllers), leader_elect, lease_duration,
                        renew_deadline, retry_period, bind_address, port))
    except UnknownControllerError as exc:
        raise click.BadParameter(str(exc), param_hint="--controllers") from None
    except (KubeConfigError, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve health and metrics on {bind_address}:{port}: {exc}") from None
    except asyncio.TimeoutError:
        raise click.ClickException("the API server did not answer the controllers' first lists within 60 s") from None
