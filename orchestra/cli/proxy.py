"""``orchestra proxy``: run the service proxy against an API server until SIGINT or SIGTERM.

The proxy watches Services and Endpoints and programs a proxy mode (``--mode``, default
``userspace``: forwarding on each ClusterIP and on the node ports of ``--nodeport-addresses``).
``--bind-address`` and ``--healthz-port`` say where ``/healthz`` is served.
"""

from __future__ import annotations

import asyncio
import signal

import click
import uvloop

from orchestra.client import KubeConfigError

__all__ = ["proxy_command"]


async def _run(kubeconfig: str, context: str | None, mode_name: str, config: dict, bind_address: str,
               healthz_port: int) -> None:
    from orchestra.client import Client
    from orchestra.proxy import ServiceProxy, create_mode
    from orchestra.proxy.health import HealthServer

    mode = await create_mode(mode_name, config)
    client = Client.from_kubeconfig(kubeconfig, context=context)
    proxy = ServiceProxy(client, mode)
    health = HealthServer(lambda: proxy.syncs > 0)
    try:
        try:
            await health.start(bind_address, healthz_port)
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve /healthz on {bind_address}:{healthz_port}: {exc.strerror or exc}"
            ) from None
        await proxy.start(timeout=60)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo(f"orchestra proxy running: mode {mode_name}, {len(proxy.table)} service ports; "
                   f"health on http://{bind_address}:{health.port}/healthz", err=True)
        await stop.wait()
        click.echo("shutting down", err=True)
    finally:
        await health.close()
        await proxy.stop()
        await client.close()


@click.command("proxy")
@click.option("--kubeconfig", default=None, help="Kubeconfig of the API server (default: as the other commands).")
@click.option("--context", default=None, help="Kubeconfig context to use.")
@click.option("--mode", "mode_name", default="userspace", show_default=True,
              help="Proxy mode (a plugin; `orchestra plugins` lists them).")
@click.option("--algorithm", default="round-robin", show_default=True,
              type=click.Choice(["round-robin", "least-connections", "random"]),
              help="How the userspace mode balances new connections.")
@click.option("--nodeport-addresses", default="127.0.0.1", show_default=True,
              help="Comma-separated node addresses NodePorts listen on.")
@click.option("--bind-address", default="127.0.0.1", show_default=True, help="Address /healthz listens on.")
@click.option("--healthz-port", default=10256, show_default=True, type=click.IntRange(0, 65535),
              help="Port of /healthz.")
@click.option("--drain-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds connections to a removed endpoint may go on before they are closed.")
def proxy_command(kubeconfig: str | None, context: str | None, mode_name: str, algorithm: str,
                  nodeport_addresses: str, bind_address: str, healthz_port: int, drain_timeout: float) -> None:
    """Run the service proxy: make ClusterIPs and NodePorts reach ready endpoints."""
    from orchestra.cli.common import kubeconfig_path
    from orchestra.client import TransportError
    from orchestra.proxy import ProxyModeError

    config = {
        "algorithm": algorithm,
        "nodeport_addresses": [a.strip() for a in nodeport_addresses.split(",") if a.strip()],
        "drain_timeout": drain_timeout,
    }
    try:
        uvloop.run(_run(kubeconfig_path(kubeconfig), context, mode_name, config, bind_address, healthz_port))
    except (ProxyModeError, KubeConfigError, TransportError) as exc:
        raise click.ClickException(str(exc)) from None
    except asyncio.TimeoutError:
        raise click.ClickException("the API server did not answer the proxy's first lists within 60 s") from None
