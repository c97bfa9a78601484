"""The userspace mode with real sockets: balancing, affinity, draining, UDP, flow control, config."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter

import pytest

from orchestra.plugin_manager import get_plugin_manager
from orchestra.plugins.proxies.userspace import UserspaceConfig, UserspaceProxy
from orchestra.proxy import Endpoint, ProxyModeError, ServiceEntry, create_mode
from tests.proxy.conftest import UDPBackend, connect, entry, eventually, fresh_ip, table, who

PORT = 18090


def make_mode(**config) -> UserspaceProxy:
    config.setdefault("nodeport_addresses", ["127.0.0.1"])
    return UserspaceProxy(UserspaceConfig.from_config(config))


@pytest.fixture
async def proxy():
    modes = []

    def build(**config):
        mode = make_mode(**config)
        modes.append(mode)
        return mode

    yield build
    for mode in modes:
        await mode.close()


def test_hook_creates_the_mode_and_config_errors_name_the_key():
    pm = get_plugin_manager(load_entrypoints=False)
    assert "userspace" in [n for names in pm.hook.orchestra_proxy_mode_names() for n in names]
    assert pm.hook.orchestra_proxy_mode_create(name="nosuch", config={}) is None
    with pytest.raises(ProxyModeError, match="algorithm 'fastest'"):
        UserspaceConfig.from_config({"algorithm": "fastest"})
    with pytest.raises(ProxyModeError, match="drain_timeout"):
        UserspaceConfig.from_config({"drain_timeout": -1})
    config = UserspaceConfig.from_config(
        {"algorithm": "least_connections", "nodeport_addresses": "127.0.0.1,127.0.0.2"}
    )
    assert config.algorithm == "least-connections" and config.nodeport_addresses == ("127.0.0.1", "127.0.0.2")


async def test_unknown_mode_names_the_known_ones():
    with pytest.raises(ProxyModeError, match="known modes: .*userspace"):
        await create_mode("ipvs", {})


async def test_round_robin_spreads_evenly(proxy, backends):
    mode = proxy()
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends)))
    counts = Counter([await who(ip, PORT) for _ in range(9)])
    assert counts == {"b0": 3, "b1": 3, "b2": 3}


async def test_least_connections_avoids_busy_endpoint(proxy, backends):
    mode = proxy(algorithm="least-connections")
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends[:2])))
    busy_name, _r, busy = await connect(ip, PORT)
    # While one connection stays open, new short connections all go to the other endpoint.
    others = set()
    for _ in range(4):
        others.add(await who(ip, PORT))
        await eventually(lambda: mode.open_connections == 1)  # the short one is closed through the proxy
    assert busy_name not in others and len(others) == 1
    busy.close()


async def test_random_uses_only_ready_endpoints(proxy, backends):
    mode = proxy(algorithm="random")
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends[:2])))
    reached = {await who(ip, PORT) for _ in range(30)}
    assert reached <= {"b0", "b1"} and reached


async def test_client_ip_affinity_sticks_per_client(proxy, backends):
    mode = proxy()
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends, affinity=60)))
    client_a, client_b = fresh_ip(113), fresh_ip(113)
    first_a = await who(ip, PORT, local_ip=client_a)
    first_b = await who(ip, PORT, local_ip=client_b)
    assert {await who(ip, PORT, local_ip=client_a) for _ in range(6)} == {first_a}
    assert {await who(ip, PORT, local_ip=client_b) for _ in range(6)} == {first_b}
    assert first_a != first_b  # round-robin picked the second client a different endpoint


async def test_affinity_moves_when_endpoint_leaves(proxy, backends):
    mode = proxy()
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends, affinity=60)))
    client = fresh_ip(113)
    first = await who(ip, PORT, local_ip=client)
    remaining = [b for b in backends if b.name != first]
    await mode.sync(table(entry("default/web:", ip, PORT, remaining, affinity=60)))
    second = await who(ip, PORT, local_ip=client)
    assert second != first
    assert {await who(ip, PORT, local_ip=client) for _ in range(4)} == {second}


async def test_removed_endpoint_is_drained(proxy, backends):
    mode = proxy(drain_timeout=0.3)
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends[:1])))
    name, reader, writer = await connect(ip, PORT)
    assert name == "b0"
    await mode.sync(table(entry("default/web:", ip, PORT, backends[1:2])))
    # The open connection still works for now; new connections go to the remaining endpoint.
    writer.write(b"still here\n")
    assert await reader.readline() == b"still here\n"
    assert {await who(ip, PORT) for _ in range(3)} == {"b1"}
    # After the drain timeout the old connection is closed by the proxy.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    await eventually(lambda: backends[0].open == 0)


async def test_unreachable_endpoint_is_skipped(proxy, backends):
    mode = proxy()
    ip = fresh_ip()
    nothing_listens = Endpoint(fresh_ip(114), 9)
    await mode.sync(table(ServiceEntry("default/web:", "TCP", ip, PORT,
                                       endpoints=(backends[0].endpoint, nothing_listens))))
    assert {await who(ip, PORT) for _ in range(4)} == {"b0"}


async def test_half_close_and_large_transfer(proxy, backends):
    mode = proxy()
    ip = fresh_ip()
    await mode.sync(table(entry("default/web:", ip, PORT, backends[:1])))
    payload = os.urandom(8 * 1024 * 1024)
    _name, reader, writer = await connect(ip, PORT)

    async def send():
        writer.write(payload)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    echoed = await asyncio.wait_for(reader.read(), 60)  # the backend echoes, then closes after our EOF
    await sender
    writer.close()
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()


async def test_udp_forwarding_and_balancing(proxy):
    servers = [await UDPBackend(f"u{i}", fresh_ip(111)).start() for i in range(2)]
    mode = proxy()
    ip = fresh_ip()
    try:
        await mode.sync(table(entry("default/dns:dns", ip, 18053, servers, protocol="UDP")))
        loop = asyncio.get_running_loop()
        answers = []
        for i in range(4):
            received = loop.create_future()

            class Client(asyncio.DatagramProtocol):
                def datagram_received(self, data, addr, received=received):
                    if not received.done():
                        received.set_result(data)

            transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(ip, 18053))
            transport.sendto(b"q%d" % i)
            answers.append(await asyncio.wait_for(received, 10))
            transport.close()
        assert {a.split(b":")[0] for a in answers} == {b"u0", b"u1"}
        assert all(a.endswith(b"q%d" % i) for i, a in enumerate(answers))
    finally:
        for server in servers:
            await server.stop()


async def test_listen_failure_names_the_entry(proxy, backends):
    ip = fresh_ip()
    first = proxy()
    await first.sync(table(entry("default/web:", ip, PORT, backends)))
    second = proxy()
    with pytest.raises(ProxyModeError, match="default/web: on TCP"):
        await second.sync(table(entry("default/web:", ip, PORT, backends)))
