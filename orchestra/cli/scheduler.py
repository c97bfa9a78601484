"""``orchestra scheduler``: run the scheduler against an API server until SIGINT or SIGTERM.

The configuration file (``--config``) is a ``KubeSchedulerConfiguration``
(see :mod:`orchestra.scheduler.config`); it is checked before connecting, and a mistake is
reported with the file and field, never a traceback.
"""

from __future__ import annotations

import asyncio
import signal

import click
import uvloop

from orchestra.client import KubeConfigError

__all__ = ["scheduler_command"]


async def _run(kubeconfig: str, context: str | None, config_path: str | None) -> None:
    from orchestra.client import Client
    from orchestra.scheduler.config import SchedulerConfig, load_config
    from orchestra.scheduler.scheduler import Scheduler

    config = load_config(config_path) if config_path else SchedulerConfig()
    client = Client.from_kubeconfig(kubeconfig, context=context)
    scheduler = Scheduler.create(client, config)
    try:
        await scheduler.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo(f"orchestra scheduler running: profiles {', '.join(scheduler.frameworks)}", err=True)
        await stop.wait()
        click.echo("shutting down", err=True)
    finally:
        await scheduler.stop()
        await client.close()


@click.command("scheduler")
@click.option("--kubeconfig", default=None, help="Kubeconfig of the API server (default: as the other commands).")
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="KubeSchedulerConfiguration file (profiles, plugins, weights, backoff).")
def scheduler_command(kubeconfig: str | None, context: str | None, config_path: str | None) -> None:
    """Run the scheduler: bind pending pods to nodes until SIGINT or SIGTERM."""
    from orchestra.cli.common import kubeconfig_path
    from orchestra.client import TransportError
    from orchestra.scheduler.config import ConfigError

    try:
        uvloop.run(_run(kubeconfig_path(kubeconfig), context, config_path))
    except (ConfigError, KubeConfigError, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    except asyncio.TimeoutError:
        raise click.ClickException("the API server did not answer the scheduler's first lists within 60 s") from None
