"""The command group, its global options, and the guard that keeps tracebacks from users."""

from __future__ import annotations

import logging
import os

import click

from orchestra._version import __version__
from orchestra.cli.apiserver import apiserver_command
from orchestra.cli.apply import apply_command
from orchestra.cli.bench import bench_command
from orchestra.cli.delete import delete_command
from orchestra.cli.describe import describe_command
from orchestra.cli.get import get_command
from orchestra.cli.image import image_command
from orchestra.cli.kubeconfig import kubeconfig_command
from orchestra.cli.plugins import plugins_command
from orchestra.cli.scale import scale_command
from orchestra.cli.validate import validate_command

__all__ = ["main", "cli"]

#: Set to show Python tracebacks for unexpected errors (for bug reports).
DEBUG_ENV = "ORCHESTRA_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="orchestra", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Orchestra: a Kubernetes-compatible container orchestrator as a Python SDK."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(apiserver_command)
cli.add_command(apply_command)
cli.add_command(bench_command)
cli.add_command(delete_command)
cli.add_command(describe_command)
cli.add_command(get_command)
cli.add_command(image_command)
cli.add_command(kubeconfig_command)
cli.add_command(plugins_command)
cli.add_command(scale_command)
cli.add_command(validate_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; unexpected errors print one line (the traceback only with ORCHESTRA_DEBUG=1)."""
    try:
        # without standalone mode click returns ctx.exit()'s code instead of exiting
        code = cli.main(args=argv, prog_name="orchestra", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        if os.environ.get(DEBUG_ENV):
            raise
        click.echo(f"error: {exc.__class__.__name__}: {exc}", err=True)
        click.echo(f"(set {DEBUG_ENV}=1 to see the traceback)", err=True)
        return 2
    return code if isinstance(code, int) else 0

