"""``orchestra scheduler``: run the scheduler against an API server until SIGINT or SIGTERM.

The configuration file (``--config``) is a ``KubeSchedulerConfiguration``
(see :mod:`orchestra.scheduler.config`); it is checked before connecting, and a mistake is
reported with the file and field, never a traceback. With leader election (``--leader-elect``
or ``leaderElection.leaderElect: true``) several instances may run: the holder of the Lease
``kube-system/kube-scheduler`` schedules, the others wait; one that loses the lease exits with
status 1, as kube-scheduler does, for its supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import attrs
import click
import uvloop

from orchestra.client import KubeConfigError

__all__ = ["scheduler_command"]


class LeaseLostError(Exception):
    """This instance led and lost the lease."""


def _with_election(config: Any, overrides: dict[str, Any]) -> Any:
    """``config`` with the ``--leader-elect*`` flags applied (a flag given wins over the file)."""
    from orchestra.client.leaderelection import LeaderElectionConfig
    from orchestra.scheduler.config import ConfigError

    elect = overrides.pop("leader_elect")
    given = {k: v for k, v in overrides.items() if v is not None}
    if elect is False:
        return attrs.evolve(config, leader_election=None)
    if elect is None and config.leader_election is None:
        if given:
            raise ConfigError("--leader-elect-* options need --leader-elect (or leaderElection.leaderElect: true)")
        return config
    base = config.leader_election or LeaderElectionConfig(name="kube-scheduler")
    try:
        return attrs.evolve(config, leader_election=attrs.evolve(base, **given))
    except ValueError as exc:
        raise ConfigError(f"--leader-elect-*: {exc}") from None


async def _run(kubeconfig: str, context: str | None, config: Any) -> None:
    from orchestra.client import Client
    from orchestra.scheduler.scheduler import Scheduler

    client = Client.from_kubeconfig(kubeconfig, context=context)
    scheduler = Scheduler.create(client, config)
    try:
        await scheduler.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        election = config.leader_election
        click.echo(f"orchestra scheduler running: profiles {', '.join(scheduler.frameworks)}"
                   + (f"; leader election for {election.namespace}/{election.name} as {election.identity}"
                      if election else ""), err=True)
        stopping = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(scheduler.lost_lease.wait())
        await asyncio.wait({stopping, lost}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, lost):
            waiter.cancel()
        if scheduler.lost_lease.is_set():
            raise LeaseLostError(f"lost the lease {election.namespace}/{election.name}; exiting")
        click.echo("shutting down", err=True)
    finally:
        await scheduler.stop()
        await client.close()


@click.command("scheduler")
@click.option("--kubeconfig", default=None, help="Kubeconfig of the API server (default: as the other commands).")
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="KubeSchedulerConfiguration file (profiles, plugins, weights, backoff, leader election).")
@click.option("--leader-elect/--no-leader-elect", "leader_elect", default=None,
              help="Campaign for the lease and schedule only while holding it (default: the file's "
                   "leaderElection.leaderElect, else off).")
@click.option("--leader-elect-lease-duration", "lease_duration", type=float, default=None,
              help="Seconds a lease lasts without renewal before another instance may take it [15].")
@click.option("--leader-elect-renew-deadline", "renew_deadline", type=float, default=None,
              help="Seconds the leader keeps trying to renew before it gives up [10].")
@click.option("--leader-elect-retry-period", "retry_period", type=float, default=None,
              help="Seconds between attempts to take or renew the lease [2].")
@click.option("--leader-elect-resource-name", "name", default=None, help="Name of the Lease [kube-scheduler].")
@click.option("--leader-elect-resource-namespace", "namespace", default=None, help="Namespace of the Lease [kube-system].")
def scheduler_command(kubeconfig: str | None, context: str | None, config_path: str | None, **election: Any) -> None:
    """Run the scheduler: bind pending pods to nodes until SIGINT or SIGTERM."""
    from orchestra.cli.common import kubeconfig_path
    from orchestra.client import TransportError
    from orchestra.plugin_manager import get_plugin_manager
    from orchestra.scheduler.config import ConfigError, SchedulerConfig, build_frameworks, load_config

    try:
        config = _with_election(load_config(config_path) if config_path else SchedulerConfig(), election)
        build_frameworks(config, get_plugin_manager())  # plugin names, weights, arguments: before connecting
        uvloop.run(_run(kubeconfig_path(kubeconfig), context, config))
    except (ConfigError, KubeConfigError, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    except LeaseLostError as exc:
        raise click.ClickException(str(exc)) from None
    except asyncio.TimeoutError:
        raise click.ClickException("the API server did not answer the scheduler's first lists within 60 s") from None
