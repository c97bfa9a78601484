"""A real etcd for the tests that need one."""

from __future__ import annotations

from typing import Iterator

import pytest

from orchestra.testing.etcd import ETCD_MISSING_REASON, EtcdServer, etcd_binary


def running_etcd() -> Iterator[EtcdServer]:
    """Yield a started etcd and stop it afterwards (a fixture's body); skip when none is installed."""
    if etcd_binary() is None:
        pytest.skip(ETCD_MISSING_REASON)
    with EtcdServer() as server:
        yield server
