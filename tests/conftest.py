"""Suite-wide settings: every async test runs under the default asyncio loop and under uvloop.

Under CI (``CI`` set), hypothesis runs derandomized and without deadlines, so that a shared,
loaded machine neither changes which examples run nor fails a test for being slow; locally
every run explores new examples.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import uvloop
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

LOOP_FACTORIES = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loops",
        default="asyncio,uvloop",
        help="comma-separated event loops to run async tests under (default: asyncio,uvloop)",
    )


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item):
    """Parametrize async tests over the chosen event loops (pytest-asyncio hook)."""
    names = [n.strip() for n in config.getoption("--loops").split(",") if n.strip()]
    unknown = set(names) - set(LOOP_FACTORIES)
    if unknown or not names:
        raise pytest.UsageError(f"--loops takes names from {sorted(LOOP_FACTORIES)}, got {sorted(unknown) or 'none'}")
    return {name: LOOP_FACTORIES[name] for name in names}
