"""The service proxy: the table built from Services and Endpoints, and the watch → mode loop."""

from __future__ import annotations

import pytest

from orchestra.apiserver import APIServer, UserInfo
from orchestra.bus import EventBus
from orchestra.client import Client
from orchestra.proxy import Endpoint, ProxyMode, ProxyModeError, ProxyTable, ServiceProxy, build_table, create_mode
from tests.proxy.conftest import eventually, refused, who
from tests.support.shared_objects import EventSnapshots, check_untouched

ADMIN = UserInfo("admin", groups=("system:masters",))


def svc(name, ports, *, cluster_ip="127.96.0.10", type_="ClusterIP", affinity=None, namespace="default"):
    spec = {"type": type_, "clusterIP": cluster_ip, "ports": ports, "selector": {"app": name}}
    if affinity is not None:
        spec["sessionAffinity"] = "ClientIP"
        if affinity:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def eps(name, subsets, namespace="default"):
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace},
            "subsets": subsets}


def subset(ips, ports, not_ready=()):
    return {
        "addresses": [{"ip": ip} for ip in ips],
        "notReadyAddresses": [{"ip": ip} for ip in not_ready],
        "ports": ports,
    }


# --------------------------------------------------------------------------- build_table


def test_named_ports_match_endpoint_ports_by_name_and_protocol():
    services = [svc("web", [{"name": "http", "port": 80, "protocol": "TCP"},
                            {"name": "dns", "port": 53, "protocol": "UDP"}])]
    endpoints = {"default/web": eps("web", [subset(["127.1.0.2", "127.1.0.1"], [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "dns", "port": 5353, "protocol": "UDP"},
        {"name": "http", "port": 9999, "protocol": "UDP"},
    ], not_ready=["127.1.0.3"])])}
    table = build_table(services, endpoints)
    http, dns = table.get("default/web:http"), table.get("default/web:dns")
    assert http.endpoints == (Endpoint("127.1.0.1", 8080), Endpoint("127.1.0.2", 8080))
    assert http.cluster_ip == "127.96.0.10" and http.port == 80 and http.protocol == "TCP"
    assert dns.endpoints == (Endpoint("127.1.0.1", 5353), Endpoint("127.1.0.2", 5353)) and dns.protocol == "UDP"


def test_unnamed_single_port_and_missing_endpoints():
    table = build_table([svc("a", [{"port": 80}]), svc("b", [{"port": 81}], cluster_ip="127.96.0.11")],
                        {"default/a": eps("a", [subset(["127.1.0.1"], [{"port": 8080}])])})
    assert table.get("default/a:").endpoints == (Endpoint("127.1.0.1", 8080),)
    assert table.get("default/b:").endpoints == ()


def test_headless_external_name_and_node_ports():
    services = [
        svc("headless", [{"port": 80}], cluster_ip="None"),
        {"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName", "externalName": "x"}},
        svc("np", [{"port": 80, "nodePort": 30080}], type_="NodePort"),
        svc("cip", [{"port": 80, "nodePort": 30081}], cluster_ip="127.96.0.12"),
    ]
    table = build_table(services, {})
    assert [e.name for e in table] == ["default/cip:", "default/np:"]
    assert table.get("default/np:").node_port == 30080
    assert table.get("default/cip:").node_port is None


def test_session_affinity_timeout():
    table = build_table([svc("a", [{"port": 80}], affinity=30), svc("b", [{"port": 80}], affinity=0,
                                                                     cluster_ip="127.96.0.11")], {})
    assert table.get("default/a:").affinity_seconds == 30
    assert table.get("default/b:").affinity_seconds == 10800


# --------------------------------------------------------------------------- ServiceProxy


class RecordingMode(ProxyMode):
    """A mode that keeps every table it is given."""

    name = "recording"

    def __init__(self):
        self.tables: list[ProxyTable] = []
        self.closed = False

    async def sync(self, table):
        self.tables.append(table)

    async def close(self):
        self.closed = True


@pytest.fixture
async def server():
    bus = EventBus()
    srv = await APIServer.create("memory://", service_cidr="127.97.0.0/16", bus=bus)
    snapshots = EventSnapshots(bus)  # the proxy shares the server's objects: it must not change them
    yield srv
    try:
        await check_untouched(srv, snapshots)
    finally:
        await srv.close()


async def test_proxy_follows_services_and_endpoints(server):
    client = Client.in_process(server, ADMIN)
    mode = RecordingMode()
    proxy = ServiceProxy(client, mode)
    await proxy.start()
    try:
        assert len(proxy.table) == 0
        created = await client.create(svc("web", [{"name": "http", "port": 80}], cluster_ip=None), raw=True)
        ip = created["spec"]["clusterIP"]
        table = await proxy.wait_for(lambda t: t.get("default/web:http") is not None)
        assert table.get("default/web:http").cluster_ip == ip and table.get("default/web:http").endpoints == ()
        await client.create(eps("web", [subset(["127.1.0.1"], [{"name": "http", "port": 8080}],
                                               not_ready=["127.1.0.2"])]))
        table = await proxy.wait_for(lambda t: bool(t.get("default/web:http").endpoints))
        assert table.get("default/web:http").endpoints == (Endpoint("127.1.0.1", 8080),)
        await client.delete("services", "web", namespace="default")
        await proxy.wait_for(lambda t: t.get("default/web:http") is None)
    finally:
        await proxy.stop()
    assert mode.closed


async def test_end_to_end_through_userspace_mode(server, backends):
    client = Client.in_process(server, ADMIN)
    mode = await create_mode("userspace", {"nodeport_addresses": ["127.0.0.1"]})
    proxy = ServiceProxy(client, mode)
    await proxy.start()
    try:
        service = await client.create(svc("web", [{"name": "http", "port": 18100}], cluster_ip=None), raw=True)
        ip = service["spec"]["clusterIP"]
        addresses = [{"ip": b.ip} for b in backends]
        # The backends listen on different ports; one subset per backend, as after port-name resolution.
        await client.create(eps("web", [
            {"addresses": [a], "ports": [{"name": "http", "port": b.port}]} for a, b in zip(addresses, backends)
        ]))
        await proxy.wait_for(lambda t: t.get("default/web:http") is not None
                             and len(t.get("default/web:http").endpoints) == 3)
        assert {await who(ip, 18100) for _ in range(9)} == {"b0", "b1", "b2"}
        await client.delete("endpoints", "web", namespace="default")
        await proxy.wait_for(lambda t: not t.get("default/web:http").endpoints)
        assert await refused(ip, 18100)
    finally:
        await proxy.stop()


class PartlyFailingMode(RecordingMode):
    """Applies every table but reports one entry it cannot serve."""

    async def sync(self, table):
        await super().sync(table)
        if table.get("default/busy:") is not None:
            raise ProxyModeError("cannot listen for default/busy:")


async def test_partial_failure_counts_as_applied_and_is_retried(server):
    client = Client.in_process(server, ADMIN)
    mode = PartlyFailingMode()
    proxy = ServiceProxy(client, mode, retry_delay=0.01)
    await proxy.start()
    try:
        await client.create(svc("busy", [{"port": 80}], cluster_ip=None))
        await proxy.wait_for(lambda t: t.get("default/busy:") is not None)
        assert proxy.last_error == "cannot listen for default/busy:"
        tries = len(mode.tables)
        await eventually(lambda: len(mode.tables) > tries)  # tried again without any change
        await client.delete("services", "busy", namespace="default")
        await proxy.wait_for(lambda t: t.get("default/busy:") is None)
        assert proxy.last_error is None
    finally:
        await proxy.stop()
