"""Fixtures of the cluster command tests: one real API server per module, and a CLI runner."""

from __future__ import annotations

import itertools
from typing import Callable

import attrs
import pytest

from orchestra.apiserver.request import UserInfo
from orchestra.cli.main import main
from orchestra.client import Client
from tests.support.cli_server import ThreadedServer, start_threaded_server

_names = itertools.count()


@attrs.frozen
class Outcome:
    """What one command did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


@pytest.fixture
def api_server_options(monkeypatch) -> list[dict]:
    """Make ``APIServer.create`` record its keyword arguments (one dict a call) and fail with a store error."""
    from orchestra.apiserver.server import APIServer
    from orchestra.store import StoreUnavailableError

    seen: list[dict] = []

    async def create(cls, *args, **kwargs):
        seen.append(kwargs)
        raise StoreUnavailableError("store not opened in this test")

    monkeypatch.setattr(APIServer, "create", classmethod(create))
    return seen


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> ThreadedServer:
    """An API server with TLS on a loopback port; its admin kubeconfig is ``cluster.kubeconfig``."""
    server = start_threaded_server(tmp_path_factory.mktemp("apiserver"))
    yield server
    server.stop()


@pytest.fixture
def orchestra(cluster, capsys, monkeypatch) -> Callable[..., Outcome]:
    """Run ``orchestra ARGS...`` against the cluster: ``orchestra("get", "pods")``."""
    monkeypatch.delenv("KUBECONFIG", raising=False)

    def invoke(*args: str, kubeconfig: bool = True) -> Outcome:
        capsys.readouterr()
        argv = [*args, "--kubeconfig", str(cluster.kubeconfig)] if kubeconfig else list(args)
        code = main(argv)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A fresh object name per call, so tests sharing a module's server never collide."""
    return lambda prefix: f"{prefix}-{next(_names)}"


@pytest.fixture
def create(cluster) -> Callable[[dict], dict]:
    """Create a wire object on the cluster (through the in-process client); returns it as stored."""

    def make(obj: dict) -> dict:
        return cluster.call(lambda server: Client.in_process(server, UserInfo("admin")).create(obj, raw=True))

    return make

