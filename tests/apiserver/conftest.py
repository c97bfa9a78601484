"""Fixtures of the API server tests that need a real etcd."""

from __future__ import annotations

from typing import Iterator

import pytest

from support.etcd import running_etcd


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    """A real etcd for the test module that asks for it, or a skip when none is installed."""
    for server in running_etcd():
        yield server.url
