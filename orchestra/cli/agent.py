"""``orchestra agent``: run a node agent (Orchestra's kubelet) until SIGINT or SIGTERM.

    orchestra agent --kubeconfig ~/.orchestra/kubeconfig --name node-1 [--runtime process]
    orchestra agent --server https://10.0.0.1:6443 --name node-1 --cluster-dir /var/lib/orchestra

How it reaches the API: ``--kubeconfig PATH`` uses that kubeconfig's credentials; ``--server URL``
uses ``--token`` when given, else a node client certificate (``CN=system:node:<name>``,
``O=system:nodes``) issued by the cluster CA found in ``--cluster-dir`` (the API server's data
directory, on the same machine or copied), verifying the server with that CA.

The agent's HTTPS endpoint (``--port``, 10250) presents ``--tls-cert-file`` and
``--tls-private-key-file`` when given, else a certificate the cluster CA issues for
``--address``; client certificates (the API server's, for ``pods/log``) are checked against
``--client-ca-file``, by default the cluster directory's ``ca.crt``.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from orchestra.cli.apiserver import default_data_dir

__all__ = ["agent_command", "parse_pairs"]


def parse_pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``("a=1", "b=2")`` → ``{"a": "1", "b": "2"}``; a malformed entry is a usage error naming the option."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        pairs[key] = rest
    return pairs


def _cluster_ca(cluster_dir: str | None):
    from orchestra.apiserver.certs import PKI

    if cluster_dir is None:
        return None, None
    pki = PKI(Path(cluster_dir))
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        return None, (str(pki.ca_cert) if pki.ca_cert.exists() else None)
    return pki.ca(), str(pki.ca_cert)


def _client(kubeconfig: str | None, server: str | None, token: str | None, ca_file: str | None, ca, name: str):
    from orchestra.client import Client, ClusterCredentials, load_kubeconfig
    from orchestra.client.http11 import PooledHTTPTransport

    if kubeconfig:
        return Client(PooledHTTPTransport(load_kubeconfig(kubeconfig)))
    assert server is not None
    ca_data = Path(ca_file).read_bytes() if ca_file else None
    if token:
        return Client(PooledHTTPTransport(ClusterCredentials(server, ca_data=ca_data, token=token)))
    if ca is None:
        raise click.UsageError("--server needs --token, or --cluster-dir with the cluster CA (ca.crt and ca.key) "
                               "to issue the node's client certificate")
    issued = ca.issue(f"system:node:{name}", organizations=("system:nodes",), client=True)
    return Client(PooledHTTPTransport(ClusterCredentials(server, ca_data=ca_data, client_cert_data=issued.cert_pem,
                                                         client_key_data=issued.key_pem)))


async def _run(client, config, ca, ca_file) -> None:
    from orchestra.node.agent import NodeAgent

    agent = NodeAgent(client, config, ca=ca, ca_file=ca_file)
    try:
        await agent.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        where = agent.server.url if agent.server is not None else "no endpoint"
        click.echo(f"orchestra agent: node {config.node_name} ({config.runtime} runtime) ready; endpoint {where}",
                   err=True)
        await stop.wait()
        click.echo("shutting down", err=True)
    finally:
        await agent.stop()
        await client.close()


@click.command("agent")
@click.option("--server", default=None, metavar="URL", help="The API server's URL (with --token or --cluster-dir).")
@click.option("--kubeconfig", default=None, metavar="PATH", help="Kubeconfig with the agent's credentials.")
@click.option("--token", default=None, envvar="ORCHESTRA_TOKEN", help="Bearer token for --server.")
@click.option("--cluster-dir", default=None, metavar="DIR",
              help="The API server's data directory (its CA issues the agent's certificates). "
                   "Default: the apiserver's default data directory when it holds a CA.")
@click.option("--name", required=True, help="The node's name.")
@click.option("--runtime", default="process", show_default=True, help="Container runtime plugin (process, oci, simulated…).")
@click.option("--runtime-config", "runtime_config", multiple=True, metavar="KEY=VALUE",
              help="A runtime setting (repeatable), e.g. pod_cidr=127.2.0.0/16.")
@click.option("--address", default="127.0.0.1", show_default=True, help="The node's InternalIP, where its endpoint listens.")
@click.option("--bind-address", default=None, help="Listen on this address instead of --address (e.g. 0.0.0.0).")
@click.option("--port", default=10250, show_default=True, type=click.IntRange(0, 65535),
              help="The agent's HTTPS port (0: any free port).")
@click.option("--data-dir", default=None, metavar="DIR", help="The agent's own state: pods, logs, volumes (default: temporary).")
@click.option("--tls-cert-file", default=None, metavar="FILE", help="The endpoint's certificate.")
@click.option("--tls-private-key-file", default=None, metavar="FILE", help="The endpoint's private key.")
@click.option("--client-ca-file", default=None, metavar="FILE", help="CA verifying client certificates on the endpoint.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="A node label (repeatable).")
@click.option("--capacity", "capacity", multiple=True, metavar="RESOURCE=QUANTITY",
              help="Report this capacity instead of the host's (repeatable), e.g. cpu=4.")
@click.option("--pod-cidr", default=None, help="The node's pod CIDR (spec.podCIDR; also the runtime's unless set there).")
@click.option("--lease-period", default=10.0, show_default=True, type=float, help="Seconds between Lease renewals.")
@click.option("--status-period", default=60.0, show_default=True, type=float,
              help="Seconds between node status reports when nothing changed.")
def agent_command(server: str | None, kubeconfig: str | None, token: str | None, cluster_dir: str | None, name: str,
                  runtime: str, runtime_config: tuple[str, ...], address: str, bind_address: str | None, port: int,
                  data_dir: str | None, tls_cert_file: str | None, tls_private_key_file: str | None,
                  client_ca_file: str | None, labels: tuple[str, ...], capacity: tuple[str, ...], pod_cidr: str | None,
                  lease_period: float, status_period: float) -> None:
    """Run a node agent: register NODE, run the pods bound to it, serve logs and stats."""
    from orchestra.client import KubeConfigError, TransportError
    from orchestra.node.agent import AgentConfig, AgentConfigError
    from orchestra.node.runtime import RuntimeUnavailableError, UnknownRuntimeError
    from orchestra.client import ApiStatusError

    if bool(server) == bool(kubeconfig):
        raise click.UsageError("give exactly one of --server URL and --kubeconfig PATH")
    if cluster_dir is None and (Path(default_data_dir()) / "ca.key").exists():
        cluster_dir = default_data_dir()
    ca, ca_file = _cluster_ca(cluster_dir)
    settings = parse_pairs(runtime_config, "--runtime-config")
    if pod_cidr and "pod_cidr" not in settings:
        settings["pod_cidr"] = pod_cidr
    config = AgentConfig(
        node_name=name, runtime=runtime, runtime_config=settings, data_dir=data_dir, address=address,
        bind_address=bind_address, port=port, tls_cert_file=tls_cert_file, tls_key_file=tls_private_key_file,
        client_ca_file=client_ca_file or ca_file, capacity=parse_pairs(capacity, "--capacity") or None,
        labels=parse_pairs(labels, "--label"), pod_cidr=pod_cidr, lease_period=lease_period,
        status_report_period=status_period)
    try:
        client = _client(kubeconfig, server, token, ca_file, ca, name)
        asyncio.run(_run(client, config, ca, client_ca_file or ca_file))
    except (AgentConfigError, UnknownRuntimeError, RuntimeUnavailableError, KubeConfigError, TransportError,
            ApiStatusError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
