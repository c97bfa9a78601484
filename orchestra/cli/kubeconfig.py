"""``orchestra kubeconfig``: print the admin kubeconfig of an API server's data directory."""

from __future__ import annotations

from pathlib import Path

import click

from orchestra.apiserver.auth import TokenFileError
from orchestra.apiserver.certs import PKI, PKIError, kubeconfig, kubeconfig_yaml
from orchestra.cli.apiserver import DATA_DIR_ENV, default_data_dir

__all__ = ["kubeconfig_command", "render_kubeconfig"]


def render_kubeconfig(data_dir: str, server: str | None) -> str:
    """The kubeconfig text: the server's own file, or one built for ``server`` from the data dir."""
    pki = PKI(Path(data_dir))
    if server is None:
        try:
            return pki.kubeconfig.read_text()
        except FileNotFoundError:
            raise click.ClickException(
                f"no kubeconfig in {data_dir}: start `orchestra apiserver --data-dir {data_dir}` first, "
                "or pass --server URL"
            ) from None
        except OSError as exc:
            raise click.ClickException(f"cannot read {pki.kubeconfig}: {exc.strerror}") from None
    if not server.startswith(("https://", "http://")):
        raise click.BadParameter(f"expected an http:// or https:// URL, got {server!r}", param_hint="--server")
    try:
        tls = server.startswith("https://")
        config = kubeconfig(
            server,
            ca_pem=pki.ca_cert.read_bytes() if tls else None,
            token=pki.admin_token(),
            client_cert_pem=pki.admin_cert.read_bytes() if tls else None,
            client_key_pem=pki.admin_key.read_bytes() if tls else None,
        )
    except (OSError, PKIError, TokenFileError) as exc:
        raise click.ClickException(f"cannot build a kubeconfig from {data_dir}: {exc}") from None
    return kubeconfig_yaml(config)


@click.command("kubeconfig")
@click.option("--data-dir", default=default_data_dir, show_default=f"${DATA_DIR_ENV} or ~/.orchestra",
              type=click.Path(file_okay=False), help="The API server's data directory.")
@click.option("--server", default=None, help="Build the kubeconfig for this URL instead of printing the saved one.")
def kubeconfig_command(data_dir: str, server: str | None) -> None:
    """Print the admin kubeconfig (use: orchestra kubeconfig > ~/.kube/config)."""
    click.echo(render_kubeconfig(data_dir, server), nl=False)
