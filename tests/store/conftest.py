"""Fixtures that run every store test against every backend.

``backend`` (session-scoped, parametrized over :data:`BACKENDS`) makes fresh store
URLs of one kind; ``store`` opens one for a test and closes it afterwards; ``k``
makes the test's keys under a prefix no other test uses, so the tests also run
against one shared etcd server. A backend whose plugin does not load or does
not serve its scheme yet, and etcd when no binary is installed, are skipped
with the reason.
"""

from __future__ import annotations

import importlib
import itertools
import uuid
from typing import AsyncIterator, Callable, Iterator

import attrs
import pluggy
import pytest

from orchestra.plugin_manager import DEFAULT_PLUGINS, get_plugin_manager
from orchestra.store import Store, open_store, store_schemes
from orchestra.testing.etcd import EtcdServer
from support.etcd import running_etcd

__all__ = ["BACKENDS", "Backend"]

#: Every backend the suite runs against, by URL scheme.
BACKENDS = ("memory", "file", "sqlite", "etcd")


@attrs.define
class Backend:
    """Makes store URLs of one backend and opens stores on them.

    ``shared`` backends (etcd) keep state between stores: tests isolate
    themselves by key prefix and read revisions relative to their own writes.
    """

    name: str
    make_url: Callable[[], str]
    plugin_manager: pluggy.PluginManager
    shared: bool = False

    async def open(self, url: str | None = None) -> Store:
        """Open a store on ``url`` (a fresh one by default)."""
        return await open_store(url or self.make_url(), plugin_manager=self.plugin_manager)


@pytest.fixture(scope="session")
def store_plugin_manager() -> tuple[pluggy.PluginManager, dict[str, str]]:
    """A plugin manager with every built-in that imports, and why the others did not."""
    broken: dict[str, str] = {}
    for name in DEFAULT_PLUGINS:
        try:
            importlib.import_module(f"orchestra.plugins.{name}")
        except Exception as exc:  # a backend still being written must not break the others
            broken[name] = f"{type(exc).__name__}: {exc}"
    pm = get_plugin_manager(block=broken, load_entrypoints=False)
    return pm, broken


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One real etcd for the whole session, or a skip when none is installed."""
    yield from running_etcd()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, store_plugin_manager) -> Backend:
    """One backend; the test is skipped with the reason when it is not available."""
    name: str = request.param
    pm, broken = store_plugin_manager
    if f"stores.{name}" in broken:
        pytest.skip(f"the {name} store plugin does not import: {broken[f'stores.{name}']}")
    if name not in store_schemes(pm):
        pytest.skip(f"no store plugin serves {name}:// yet")
    counter = itertools.count()
    if name == "memory":
        return Backend(name, lambda: "memory://", pm)
    if name == "file":
        return Backend(name, lambda: f"file://{tmp_path_factory.mktemp('file-store')}", pm)
    if name == "sqlite":
        base = tmp_path_factory.mktemp("sqlite-store")
        return Backend(name, lambda: f"sqlite://{base}/state-{next(counter)}.db", pm)
    server: EtcdServer = request.getfixturevalue("etcd_server")
    return Backend(name, lambda: server.url, pm, shared=True)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """A store of the backend, closed after the test."""
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def k() -> Callable[[str], bytes]:
    """``k("a")``: the key ``a`` under this test's own prefix (``k("")`` is the prefix itself)."""
    prefix = f"/test/{uuid.uuid4().hex[:12]}/".encode()
    return lambda name: prefix + name.encode()
