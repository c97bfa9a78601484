"""``orchestra plugins``: the loaded plugins and the hooks each implements."""

from __future__ import annotations

import click
from rich.table import Table

from orchestra.cli.console import table_console

from orchestra.plugin_manager import get_plugin_manager, plugin_hooks

__all__ = ["plugins_command"]


@click.command("plugins")
@click.option("--block", "block", multiple=True, metavar="NAME", help="Do not load this plugin (repeatable).")
@click.option("--no-entrypoints", is_flag=True, help="Skip plugins installed through entry points.")
def plugins_command(block: tuple[str, ...], no_entrypoints: bool) -> None:
    """List the loaded plugins, where each comes from, and the hooks it implements."""
    pm = get_plugin_manager(block=block, load_entrypoints=False if no_entrypoints else None)
    table = Table(box=None, pad_edge=False)
    table.add_column("PLUGIN", no_wrap=True)
    table.add_column("ORIGIN", no_wrap=True)
    table.add_column("HOOKS")
    for name, origin, hooks in plugin_hooks(pm):
        table.add_row(name, origin, ", ".join(hooks) or "-")
    table_console().print(table)
