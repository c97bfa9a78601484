"""The ``orchestra`` command. Each subcommand lives in its own module of this package."""

from orchestra.cli.main import main

__all__ = ["main"]
