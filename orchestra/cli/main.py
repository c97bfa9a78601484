"""The command group, its global options, and the guard that keeps tracebacks from users."""

from __future__ import annotations

import importlib
import logging
import os

import click

from orchestra._version import __version__

__all__ = ["main", "cli", "COMMANDS"]

#: Set to show Python tracebacks for unexpected errors (for bug reports).
DEBUG_ENV = "ORCHESTRA_DEBUG"

#: Every subcommand: its name and where its click command lives, imported only when used,
#: so that ``orchestra get`` does not pay for importing the scheduler or the node agent.
COMMANDS: dict[str, str] = {
    "agent": "orchestra.cli.agent:agent_command",
    "apiserver": "orchestra.cli.apiserver:apiserver_command",
    "apply": "orchestra.cli.apply:apply_command",
    "bench": "orchestra.cli.bench:bench_command",
    "controller-manager": "orchestra.cli.controller_manager:controller_manager_command",
    "delete": "orchestra.cli.delete:delete_command",
    "describe": "orchestra.cli.describe:describe_command",
    "get": "orchestra.cli.get:get_command",
    "image": "orchestra.cli.image:image_command",
    "kubeconfig": "orchestra.cli.kubeconfig:kubeconfig_command",
    "logs": "orchestra.cli.logs:logs_command",
    "plugins": "orchestra.cli.plugins:plugins_command",
    "proxy": "orchestra.cli.proxy:proxy_command",
    "rollout": "orchestra.cli.rollout:rollout_command",
    "scale": "orchestra.cli.scale:scale_command",
    "scheduler": "orchestra.cli.scheduler:scheduler_command",
    "top": "orchestra.cli.top:top_command",
    "up": "orchestra.cli.up:up_command",
    "validate": "orchestra.cli.validate:validate_command",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when the subcommand is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="orchestra", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Orchestra: a Kubernetes-compatible container orchestrator as a Python SDK."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


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

