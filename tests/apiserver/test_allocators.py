"""ClusterIP and NodePort allocation: the allocator alone, and through a running API server."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.apiserver import APIServer, UserInfo
from orchestra.apiserver.allocators import (
    AllocatorConfigError,
    IPRange,
    PortRange,
    ServiceAllocator,
)
from orchestra.apiserver.errors import Invalid
from orchestra.client import Client
from orchestra.client.client import ApiStatusError

ADMIN = UserInfo("admin", groups=("system:masters",))


def service(name="web", *, cluster_ip=None, type_="ClusterIP", ports=((80, None),)):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": type_,
            "selector": {"app": name},
            **({"clusterIP": cluster_ip} if cluster_ip else {}),
            "ports": [
                {"name": f"p{port}", "port": port, "targetPort": port,
                 **({"nodePort": node_port} if node_port else {})}
                for port, node_port in ports
            ],
        },
    }


# --------------------------------------------------------------------------- ranges


def test_ranges_parse_and_reject():
    ips = IPRange.parse("127.96.0.0/30")
    assert ips.size == 2 and "127.96.0.1" in ips and "127.96.0.0" not in ips and "127.96.0.3" not in ips
    assert PortRange.parse("30000-30002").size == 3
    for bad in ("nonsense", "::1/120", "127.0.0.1/32"):
        with pytest.raises(AllocatorConfigError, match="service-cluster-ip-range"):
            IPRange.parse(bad)
    for bad in ("a-b", "5-1", "0-10"):
        with pytest.raises(AllocatorConfigError, match="service-node-port-range"):
            PortRange.parse(bad)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def allocator(cidr="127.96.0.0/29", ports="30000-30003", clock=None):
    return ServiceAllocator(IPRange.parse(cidr), PortRange.parse(ports), pending_seconds=10, clock=clock or Clock())


def test_pending_allocation_expires_when_never_stored():
    clock = Clock()
    alloc = allocator(clock=clock)
    ip = alloc.allocate_cluster_ip("default/a", None)
    assert alloc.holder(("ip", ip)) == "default/a"
    with pytest.raises(Invalid, match="provided IP is already allocated"):
        alloc.allocate_cluster_ip("default/b", ip)
    clock.now = 11
    assert alloc.holder(("ip", ip)) is None
    assert alloc.allocate_cluster_ip("default/b", ip) == ip


def test_observed_service_keeps_its_values_and_frees_them_on_delete():
    clock = Clock()
    alloc = allocator(clock=clock)
    ip = alloc.allocate_cluster_ip("default/a", None)
    stored = service("a", cluster_ip=ip, type_="NodePort", ports=((80, 30001),))
    alloc.observe("default/a", stored)
    clock.now = 100  # stored values do not expire
    assert alloc.holder(("ip", ip)) == "default/a" and alloc.holder(("nodePort", 30001)) == "default/a"
    alloc.observe("default/a", None)
    assert alloc.holder(("ip", ip)) is None and alloc.used("nodePort") == 0


def test_full_range_is_an_error():
    alloc = allocator(cidr="127.96.0.0/30")
    alloc.allocate_cluster_ip("default/a", None)
    alloc.allocate_cluster_ip("default/b", None)
    with pytest.raises(Invalid, match="range is full"):
        alloc.allocate_cluster_ip("default/c", None)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["alloc", "free"]), max_size=40))
def test_allocations_never_collide(ops):
    alloc = allocator(cidr="127.96.0.0/28", ports="30000-30013")
    held: dict[str, str] = {}
    for n, op in enumerate(ops):
        if op == "alloc" and len(held) < 14:
            key = f"default/s{n}"
            ip = alloc.allocate_cluster_ip(key, None)
            assert ip not in held.values()
            held[key] = ip
            alloc.observe(key, {"metadata": {}, "spec": {"clusterIP": ip}})
        elif op == "free" and held:
            key = sorted(held)[0]
            alloc.observe(key, None)
            del held[key]
    assert alloc.used("ip") == len(held)


# --------------------------------------------------------------------------- through the API server


@pytest.fixture
async def server():
    srv = await APIServer.create("memory://", service_cidr="127.96.0.0/28", node_port_range="30000-30009")
    yield srv
    await srv.close()


async def settle(server, key, present=True):
    """Wait until the allocation follower has seen Service ``key`` (stored or deleted)."""
    allocator = server.service_allocation.allocator
    for _ in range(500):
        if bool(allocator.held_by(key)) == present:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"allocation never saw {key}")


async def test_create_allocates_cluster_ip_and_node_ports(server):
    client = Client.in_process(server, ADMIN)
    created = await client.create(service("web", type_="NodePort", ports=((80, None), (81, 30005))), raw=True)
    spec = created["spec"]
    assert spec["clusterIP"] in IPRange.parse("127.96.0.0/28")
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert 30000 <= spec["ports"][0]["nodePort"] <= 30009
    assert spec["ports"][1]["nodePort"] == 30005
    headless = await client.create(service("db", cluster_ip="None"), raw=True)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["clusterIPs"] == ["None"]


async def test_requested_values_taken_or_out_of_range_are_422(server):
    client = Client.in_process(server, ADMIN)
    await client.create(service("a", cluster_ip="127.96.0.5", type_="NodePort", ports=((80, 30001),)))
    with pytest.raises(ApiStatusError) as taken:
        await client.create(service("b", cluster_ip="127.96.0.5"))
    assert taken.value.code == 422
    assert "spec.clusterIPs: Invalid value" in taken.value.message
    assert "provided IP is already allocated" in taken.value.message
    with pytest.raises(ApiStatusError) as outside:
        await client.create(service("c", cluster_ip="127.1.0.5"))
    assert outside.value.code == 422 and "not in the valid range" in outside.value.message
    with pytest.raises(ApiStatusError) as port_taken:
        await client.create(service("d", type_="NodePort", ports=((80, 30001),)))
    assert port_taken.value.code == 422 and "spec.ports[0].nodePort" in port_taken.value.message


async def test_cluster_ip_is_immutable_and_kept_on_update(server):
    client = Client.in_process(server, ADMIN)
    created = await client.create(service("a", type_="NodePort"), raw=True)
    ip, node_port = created["spec"]["clusterIP"], created["spec"]["ports"][0]["nodePort"]
    body = service("a", type_="NodePort")  # no clusterIP, no nodePort: both kept
    body["metadata"]["labels"] = {"changed": "yes"}
    updated = await client.update(body, raw=True)
    assert updated["spec"]["clusterIP"] == ip and updated["spec"]["ports"][0]["nodePort"] == node_port
    other = "127.96.0.9" if ip != "127.96.0.9" else "127.96.0.10"
    with pytest.raises(ApiStatusError) as changed:
        await client.update(service("a", cluster_ip=other, type_="NodePort"))
    assert changed.value.code == 422


async def test_delete_releases_and_restart_repairs():
    from orchestra.store import open_store

    store = await open_store("memory://")
    first = await APIServer.create(store, service_cidr="127.96.0.0/30", node_port_range="30000-30000")
    client = Client.in_process(first, ADMIN)
    a = await client.create(service("a", type_="NodePort"), raw=True)
    await client.create(service("b"))
    await settle(first, "default/b")
    with pytest.raises(ApiStatusError, match="range is full"):
        await client.create(service("c"))
    await first.close()

    # A new API server over the same store rebuilds the maps from the stored Services.
    second = await APIServer.create(store, service_cidr="127.96.0.0/29", node_port_range="30000-30000")
    try:
        client = Client.in_process(second, ADMIN)
        with pytest.raises(ApiStatusError, match="provided IP is already allocated"):
            await client.create(service("c", cluster_ip=a["spec"]["clusterIP"]))
        with pytest.raises(ApiStatusError, match="provided port is already allocated"):
            await client.create(service("d", type_="NodePort", ports=((80, 30000),)))
        await client.delete("services", "a", namespace="default")
        await settle(second, "default/a", present=False)
        c = await client.create(service("c", cluster_ip=a["spec"]["clusterIP"], type_="NodePort"), raw=True)
        assert c["spec"]["clusterIP"] == a["spec"]["clusterIP"]
        assert c["spec"]["ports"][0]["nodePort"] == 30000
    finally:
        await second.close()
        await store.close()


async def test_dry_run_reserves_nothing(server):
    client = Client.in_process(server, ADMIN)
    preview = await client.create(service("a", type_="NodePort"), dry_run=True, raw=True)
    ip, node_port = preview["spec"]["clusterIP"], preview["spec"]["ports"][0]["nodePort"]
    created = await client.create(service("b", cluster_ip=ip, type_="NodePort", ports=((80, node_port),)), raw=True)
    assert created["spec"]["clusterIP"] == ip and created["spec"]["ports"][0]["nodePort"] == node_port


async def test_type_change_to_cluster_ip_frees_node_ports(server):
    client = Client.in_process(server, ADMIN)
    await client.create(service("a", type_="NodePort", ports=((80, 30003),)))
    await settle(server, "default/a")
    updated = await client.update(service("a"), raw=True)
    assert "nodePort" not in updated["spec"]["ports"][0]
    allocator = server.service_allocation.allocator
    for _ in range(500):
        if allocator.holder(("nodePort", 30003)) is None:
            break
        await asyncio.sleep(0.01)
    other = await client.create(service("b", type_="NodePort", ports=((80, 30003),)), raw=True)
    assert other["spec"]["ports"][0]["nodePort"] == 30003


async def test_servers_sharing_a_plugin_manager_keep_separate_allocators():
    from orchestra.plugin_manager import get_plugin_manager

    pm = get_plugin_manager(load_entrypoints=False)
    first = await APIServer.create("memory://", plugin_manager=pm, service_cidr="127.96.0.0/30")
    second = await APIServer.create("memory://", plugin_manager=pm, service_cidr="127.96.0.0/30")
    try:
        a = await Client.in_process(first, ADMIN).create(service("a", cluster_ip="127.96.0.1"), raw=True)
        b = await Client.in_process(second, ADMIN).create(service("a", cluster_ip="127.96.0.1"), raw=True)
        assert a["spec"]["clusterIP"] == b["spec"]["clusterIP"] == "127.96.0.1"
    finally:
        await first.close()
        await second.close()
