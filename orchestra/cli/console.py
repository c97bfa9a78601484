"""The rich console the commands print tables with."""

from __future__ import annotations

from rich.console import Console

__all__ = ["table_console"]


def table_console() -> Console:
    """A console for tables: the terminal's width, or unlimited when piped so rows never wrap or crop."""
    console = Console()
    return console if console.is_terminal else Console(width=10_000)
