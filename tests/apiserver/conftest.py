"""Fixtures of the API server tests that need a real etcd."""

from __future__ import annotations

from typing import Iterator

import pytest

from orchestra.testing.etcd import ETCD_MISSING_REASON, EtcdServer, etcd_binary


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    """A real etcd for the test module that asks for it, or a skip when none is installed."""
    if etcd_binary() is None:
        pytest.skip(ETCD_MISSING_REASON)
    server = EtcdServer().start()
    try:
        yield server.url
    finally:
        server.stop()
